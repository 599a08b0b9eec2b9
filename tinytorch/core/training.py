"""Training: the loop that ties model, loss, optimizer and data together (module 07).

``Trainer`` runs epochs and records a history; ``CosineSchedule`` sets the learning rate;
``clip_grad_norm`` bounds the gradient; ``save_checkpoint`` / ``load_checkpoint`` store a
run in a plain ``.npz`` file (no pickle) so it can be resumed bit for bit.
"""

import copy
import json
import math
import os
import tempfile
import time
import zipfile

import numpy as np

from tinytorch.core.autograd import no_grad
from tinytorch.core.optimizers import grad_array

__all__ = [
    "clip_grad_norm",
    "CosineSchedule",
    "Trainer",
    "save_checkpoint",
    "load_checkpoint",
]


# ----------------------------------------------------------------------------- gradients


def clip_grad_norm(parameters, max_norm):
    """Scale all gradients so their global L2 norm is at most ``max_norm``; return the norm before.

    Same as ``torch.nn.utils.clip_grad_norm_``: the norm is taken over every gradient as if
    concatenated into one vector, and the scale is ``max_norm / (norm + 1e-6)`` when below 1.
    Parameters without a gradient are ignored. Gradients are replaced, not scaled in place,
    so arrays shared between parameters are never scaled twice.
    """
    if max_norm < 0:
        raise ValueError(f"invalid max_norm: {max_norm} (must be >= 0)")
    params = [parameters] if hasattr(parameters, "grad") else list(parameters)
    grads = [(p, grad_array(p)) for p in params]
    grads = [(p, g) for p, g in grads if g is not None]
    if not grads:
        return 0.0
    total = math.sqrt(sum(float(np.vdot(g, g)) for _, g in grads))
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for p, g in grads:
            _set_grad(p, g * np.asarray(coef, dtype=g.dtype))
    return total


def _set_grad(p, g):
    """Store a new gradient array in the same form (ndarray or Tensor) the parameter uses."""
    if p.grad is None or isinstance(p.grad, np.ndarray):
        p.grad = g
    else:
        p.grad.data = g


# ----------------------------------------------------------------------------- schedule


class CosineSchedule:
    """Linear warmup to ``max_lr``, then cosine decay to ``min_lr`` over ``total_steps``.

    Counts optimizer steps (call ``step()`` after each ``optimizer.step()``; the Trainer does
    this per batch). The learning rate at step ``s`` is::

        s < warmup_steps:        max_lr * (s + 1) / warmup_steps
        warmup_steps <= s < T:   min_lr + (max_lr - min_lr) * (1 + cos(pi * p)) / 2,
                                 p = (s - warmup_steps) / (T - warmup_steps)
        s >= T:                  min_lr

    Warmup starts at ``max_lr / warmup_steps``, not 0, so no step is wasted. Construction
    sets ``optimizer.lr = get_lr(0)``.

    Args:
        optimizer: any object with an ``lr`` attribute.
        max_lr: peak learning rate, reached at the end of warmup.
        min_lr: final learning rate at ``total_steps`` and after.
        total_steps: steps over which warmup and decay happen (> 0).
        warmup_steps: steps of linear warmup (0 to ``total_steps``).

    Example::

        >>> sched = CosineSchedule(opt, max_lr=1e-2, min_lr=1e-4, total_steps=1000, warmup_steps=50)
        >>> opt.step(); sched.step()
    """

    def __init__(self, optimizer, max_lr, min_lr, total_steps, warmup_steps=0):
        if total_steps <= 0:
            raise ValueError(f"total_steps must be > 0, got {total_steps}")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}], got {warmup_steps}")
        if not 0 <= min_lr <= max_lr:
            raise ValueError(f"need 0 <= min_lr <= max_lr, got min_lr={min_lr}, max_lr={max_lr}")
        self.optimizer = optimizer
        self.max_lr, self.min_lr = float(max_lr), float(min_lr)
        self.total_steps, self.warmup_steps = int(total_steps), int(warmup_steps)
        self.last_step = 0
        optimizer.lr = self.get_lr(0)

    def get_lr(self, step):
        """Learning rate for optimizer step ``step`` (0-based)."""
        if step < self.warmup_steps:
            return self.max_lr * (step + 1) / self.warmup_steps
        if step >= self.total_steps:
            return self.min_lr
        progress = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        return self.min_lr + (self.max_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def step(self):
        """Advance one optimizer step and set the optimizer's learning rate for the next one."""
        self.last_step += 1
        self.optimizer.lr = self.get_lr(self.last_step)
        return self.optimizer.lr

    def state_dict(self):
        """Return the step counter (the only state), e.g. for ``save_checkpoint(..., **extra)``."""
        return {"last_step": self.last_step}

    def load_state_dict(self, state_dict):
        """Resume at a saved step and set the optimizer's learning rate to match."""
        self.last_step = int(state_dict["last_step"])
        self.optimizer.lr = self.get_lr(self.last_step)


# ----------------------------------------------------------------------------- trainer


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

        >>> trainer = Trainer(model, Adam(model.parameters(), lr=1e-2), CrossEntropyLoss())
        >>> history = trainer.fit(train_loader, epochs=10, val_loader=val_loader)
        >>> history["val_acc"][-1]
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


# ----------------------------------------------------------------------------- checkpoints

_FORMAT = "tinytorch-checkpoint-1"
_META = "__meta__"


def save_checkpoint(path, model, optimizer=None, epoch=None, **extra):
    """Write model parameters, optimizer state and extras to ``path`` as ``.npz`` (no pickle).

    Arrays are stored as arrays (``model/<name>``, ``optim/<i>/<key>``, ``extra/<key>``);
    scalars (hyperparameters, step counts, epoch, non-array extras) go in one JSON string.
    Extras must be arrays or JSON-serializable. The file is written to a temporary name
    and renamed, so an interrupted save never leaves a half-written checkpoint at ``path``.
    """
    arrays = {f"model/{k}": np.asarray(v) for k, v in model.state_dict().items()}
    meta = {"format": _FORMAT, "epoch": epoch, "extra": {}, "optimizer": None}
    if optimizer is not None:
        meta["optimizer"] = _encode_optimizer(optimizer, arrays)
    for key, value in extra.items():
        if isinstance(value, np.ndarray):
            arrays[f"extra/{key}"] = value
        else:
            meta["extra"][key] = value
    try:
        arrays[_META] = np.array(json.dumps(meta))
    except TypeError as e:
        raise TypeError(f"checkpoint extras must be arrays or JSON-serializable: {e}") from None
    _atomic_savez(path, arrays)


def _encode_optimizer(optimizer, arrays):
    """Put optimizer state arrays into ``arrays``; return the scalar part as JSON-able data."""
    sd = optimizer.state_dict()
    scalars = {}
    for i, state in sd["state"].items():
        scalars[str(i)] = {}
        for k, v in state.items():
            if isinstance(v, np.ndarray):
                arrays[f"optim/{i}/{k}"] = v
            else:
                scalars[str(i)][k] = v
    hyper = {k: (list(v) if isinstance(v, tuple) else v) for k, v in sd["hyper"].items()}
    return {"class": type(optimizer).__name__, "hyper": hyper, "state": scalars}


def _atomic_savez(path, arrays):
    """``np.savez`` to exactly ``path`` (no ``.npz`` appended), via a temp file and rename."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".ckpt-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_checkpoint(path, model, optimizer=None):
    """Restore a checkpoint written by :func:`save_checkpoint`; return ``{"epoch": ..., **extra}``.

    Raises FileNotFoundError for a missing file and ValueError for a corrupt file, missing or
    unexpected parameter names, shape mismatches, or an optimizer of another class. Nothing
    is modified unless every check passes.
    """
    arrays, meta = _read_checkpoint(path)
    model_state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    _check_model_state(path, model, model_state)
    optim_state = None
    if optimizer is not None:
        optim_state = _decode_optimizer(path, optimizer, meta.get("optimizer"), arrays)
    model.load_state_dict(model_state)
    if optim_state is not None:
        optimizer.load_state_dict(optim_state)
    extras = dict(meta["extra"])
    extras.update({k[len("extra/"):]: v for k, v in arrays.items() if k.startswith("extra/")})
    return {"epoch": meta["epoch"], **extras}


def _read_checkpoint(path):
    """Read every array and the JSON metadata, turning low-level failures into clear errors."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        meta = json.loads(str(arrays.pop(_META)))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path} is not a readable tinytorch checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a tinytorch checkpoint (format {meta.get('format')!r})")
    return arrays, meta


def _check_model_state(path, model, saved):
    """Raise ValueError listing missing/unexpected names and shape mismatches."""
    expected = {k: np.shape(v) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(saved))
    unexpected = sorted(set(saved) - set(expected))
    wrong = [f"{k}: checkpoint {saved[k].shape} vs model {expected[k]}"
             for k in expected if k in saved and saved[k].shape != expected[k]]
    problems = []
    if missing:
        problems.append(f"missing keys {missing}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    if wrong:
        problems.append("shape mismatch " + "; ".join(wrong))
    if problems:
        raise ValueError(f"checkpoint {path} does not match the model: " + ", ".join(problems))


def _decode_optimizer(path, optimizer, meta, arrays):
    """Rebuild an optimizer ``state_dict`` from the JSON scalars and ``optim/<i>/<key>`` arrays."""
    name = type(optimizer).__name__
    if meta is None:
        raise ValueError(f"checkpoint {path} has no optimizer state to load into {name}")
    if meta["class"] != name:
        raise ValueError(f"checkpoint {path} holds {meta['class']} state, cannot load into {name}")
    state = {int(i): dict(s) for i, s in meta["state"].items()}
    for key, value in arrays.items():
        if key.startswith("optim/"):
            _, i, k = key.split("/", 2)
            state.setdefault(int(i), {})[k] = value
    sd = {"hyper": meta["hyper"], "state": state}
    try:
        copy.copy(optimizer).load_state_dict(sd)  # validate on a copy: a bad file changes nothing
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"checkpoint {path} does not match the optimizer: {e}") from None
    return sd
