"""Module 07: training, the loop that ties model, loss, optimizer and data together.

``Trainer`` runs epochs and records a history. Its companions live one concept per file and
are re-exported here: ``clip_grad_norm`` (``clip_grad.py``), ``CosineSchedule``
(``schedules.py``) and ``save_checkpoint`` / ``load_checkpoint`` (``checkpoint.py``).
"""

import time

import numpy as np

from tinytorch.core.autograd import no_grad
from tinytorch.core.checkpoint import load_checkpoint, save_checkpoint
from tinytorch.core.clip_grad import clip_grad_norm
from tinytorch.core.schedules import CosineSchedule

__all__ = ["Trainer", "CosineSchedule", "clip_grad_norm", "save_checkpoint", "load_checkpoint", "format_epoch"]


def _as_array(x):
    """The ndarray behind a Tensor (or an array-like)."""
    return x.data if hasattr(x, "data") and not isinstance(x, np.ndarray) else np.asarray(x)


def _count_correct(logits, targets):
    """Number of correct argmax predictions, or None when the batch is not classification."""
    out, y = _as_array(logits), _as_array(targets)
    if out.ndim != 2 or y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        return None
    return int(np.count_nonzero(out.argmax(axis=1) == y))


class Trainer:
    """Runs training epochs and evaluation, and records a history of losses and accuracies.

    Each batch from the loader is ``(inputs, targets)``. Per batch: zero grads, forward,
    loss, backward, optional gradient clipping, optimizer step, optional scheduler step.
    Accuracy is measured when the outputs are 2-D logits and targets are integer labels;
    otherwise it is None.

    Args:
        model: a Module (called as ``model(inputs)``).
        optimizer: an Optimizer over the model's parameters.
        loss_fn: callable ``loss_fn(outputs, targets) -> scalar Tensor``.
        scheduler: optional learning-rate schedule, stepped after every optimizer step.
        grad_clip: optional max global gradient norm (see :func:`clip_grad_norm`).

    Example::

        >>> import numpy as np
        >>> from tinytorch.core.dataloader import DataLoader, TensorDataset
        >>> from tinytorch.core.layers import Linear
        >>> from tinytorch.core.losses import CrossEntropyLoss
        >>> from tinytorch.core.optimizers import Adam
        >>> from tinytorch.core.training import Trainer
        >>> x = np.array([[0.0, 1.0], [1.0, 0.0]] * 8, dtype=np.float32)
        >>> y = np.array([0, 1] * 8)
        >>> model = Linear(2, 2)
        >>> trainer = Trainer(model, Adam(model.parameters(), lr=0.1), CrossEntropyLoss())
        >>> history = trainer.fit(DataLoader(TensorDataset(x, y), batch_size=4), epochs=20, verbose=False)
        >>> history["train_acc"][-1]
        1.0
    """

    def __init__(self, model, optimizer, loss_fn, scheduler=None, grad_clip=None):
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.scheduler = scheduler
        self.grad_clip = grad_clip
        self.history = _empty_history()

    def _train_batch(self, inputs, targets):
        """One optimization step; returns the loss value and the number of correct predictions."""
        self.optimizer.zero_grad()
        outputs = self.model(inputs)
        loss = self.loss_fn(outputs, targets)
        loss.backward()
        if self.grad_clip is not None:
            clip_grad_norm(self.optimizer.params, self.grad_clip)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return loss.item(), _count_correct(outputs, targets)

    def _run(self, loader, batch_fn):
        """Apply ``batch_fn`` over a loader; return sample-weighted mean loss and accuracy."""
        total_loss, total_correct, total_n = 0.0, 0, 0
        classification = True
        for inputs, targets, *_ in loader:
            loss, correct = batch_fn(inputs, targets)
            n = len(_as_array(targets))
            total_loss += loss * n
            total_n += n
            if correct is None:
                classification = False
            else:
                total_correct += correct
        if total_n == 0:
            raise ValueError("the loader yielded no batches")
        accuracy = total_correct / total_n if classification else None
        return total_loss / total_n, accuracy

    def train_epoch(self, loader):
        """Train one pass over ``loader``; return (mean loss, accuracy or None)."""
        self.model.train()
        return self._run(loader, self._train_batch)

    def _eval_batch(self, inputs, targets):
        """Loss and correct count for one batch, without updating anything."""
        outputs = self.model(inputs)
        return self.loss_fn(outputs, targets).item(), _count_correct(outputs, targets)

    def evaluate(self, loader):
        """Mean loss and accuracy over ``loader`` in eval mode, without recording a graph."""
        was_training = self.model.training
        self.model.eval()
        try:
            with no_grad():
                return self._run(loader, self._eval_batch)
        finally:
            if was_training:
                self.model.train()

    def fit(self, train_loader, epochs, val_loader=None, log_every=1, verbose=True, callback=None):
        """Train for ``epochs`` epochs; return the history dict (one entry per epoch in each list).

        ``history`` has lists ``train_loss, train_acc, val_loss, val_acc, lr, seconds``;
        ``lr`` is the learning rate the epoch started with, accuracies are fractions (None
        when not classification), val entries are None without ``val_loader``. With
        ``verbose`` one line is printed for the first, every ``log_every``-th and the last
        epoch. ``callback(epoch, history)`` runs after each epoch; returning True stops early.
        """
        if epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {epochs}")
        history = self.history = _empty_history()
        for epoch in range(1, epochs + 1):
            start, lr = time.perf_counter(), self.optimizer.lr
            train_loss, train_acc = self.train_epoch(train_loader)
            val_loss, val_acc = self.evaluate(val_loader) if val_loader is not None else (None, None)
            row = dict(train_loss=train_loss, train_acc=train_acc, val_loss=val_loss,
                       val_acc=val_acc, lr=lr, seconds=time.perf_counter() - start)
            for key, value in row.items():
                history[key].append(value)
            if verbose and (epoch == 1 or epoch % log_every == 0 or epoch == epochs):
                print(format_epoch(epoch, epochs, row), flush=True)
            if callback is not None and callback(epoch, history):
                break
        return history


def _empty_history():
    """A history dict with one empty list per recorded quantity."""
    return {k: [] for k in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")}


def format_epoch(epoch, epochs, row):
    """One log line, e.g. ``epoch  3/20  train loss 0.412 acc 88.1%  val loss 0.455 acc 86.0%  0.21s``."""
    width = len(str(epochs))
    parts = [f"epoch {epoch:>{width}}/{epochs}", _format_split("train", row["train_loss"], row["train_acc"])]
    if row["val_loss"] is not None:
        parts.append(_format_split("val", row["val_loss"], row["val_acc"]))
    parts.append(f"{row['seconds']:.2f}s")
    return "  ".join(parts)


def _format_split(name, loss, acc):
    """``train loss 0.412 acc 88.1%`` (accuracy omitted when None)."""
    text = f"{name} loss {loss:.3f}"
    return text if acc is None else f"{text} acc {100 * acc:.1f}%"
