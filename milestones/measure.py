"""What the judge measures, recomputed in NumPy, independently of the tinytorch under test.

Accuracy and losses are recomputed from a model's raw outputs. Backpropagation is graded
against the reader's own forward pass: central differences in float64 along several
directions per parameter, compared with the reader's ``.grad`` (see :func:`backprop_error`).
"""

from __future__ import annotations

import contextlib

import numpy as np

__all__ = ["as_array", "predictions", "accuracy", "sigmoid", "binary_cross_entropy", "mse",
           "BackpropReport", "backprop_error"]


def as_array(value) -> np.ndarray:
    """The raw numbers behind a tensor or array, as a float64 NumPy array."""
    return np.asarray(getattr(value, "data", value), dtype=np.float64)


def predictions(outputs) -> np.ndarray:
    """Class predictions: argmax over logits (N, C), or a 0.5 threshold on probabilities (N,)/(N, 1)."""
    scores = as_array(outputs)
    if scores.ndim == 2 and scores.shape[1] > 1:
        return scores.argmax(axis=1)
    return (scores.reshape(-1) > 0.5).astype(np.int64)


def accuracy(outputs, labels) -> float:
    """Fraction of predictions equal to the labels, recomputed from the model's raw outputs."""
    preds = predictions(outputs)
    truth = np.asarray(getattr(labels, "data", labels)).reshape(-1).astype(np.int64)
    if preds.shape != truth.shape:
        raise ValueError(f"accuracy: {preds.shape[0]} predictions for {truth.shape[0]} labels")
    if truth.size == 0:
        raise ValueError("accuracy: no examples to grade")
    return float((preds == truth).mean())


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function in float64."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    positive = z >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-z[positive]))
    exp_z = np.exp(z[~positive])
    out[~positive] = exp_z / (1.0 + exp_z)
    return out


def binary_cross_entropy(probabilities, targets) -> float:
    """Mean binary cross-entropy of probabilities against 0/1 targets (log clamped at -100, as torch)."""
    p = as_array(probabilities).reshape(-1)
    y = as_array(targets).reshape(-1)
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), -100.0)
        log_q = np.maximum(np.log(1.0 - p), -100.0)
    return float(-(y * log_p + (1 - y) * log_q).mean())


def mse(predicted, targets) -> float:
    """Mean squared error in float64."""
    return float(((as_array(predicted) - as_array(targets)) ** 2).mean())


# ---------------------------------------------------------------- backpropagation

class BackpropReport:
    """The worst disagreement between the reader's gradients and finite differences, and where."""

    def __init__(self, error: float, parameter: str, dtype: str, checks: int):
        self.error, self.parameter, self.dtype, self.checks = error, parameter, dtype, checks

    def __float__(self) -> float:
        return float(self.error)

    def __repr__(self) -> str:
        return (f"max relative error {self.error:.3g} (worst: {self.parameter}; {self.checks} directional "
                f"checks in {self.dtype})")


def _named_parameters(model) -> list[tuple[str, object]]:
    """(name, parameter) pairs of a reader's model, with or without ``named_parameters``."""
    if hasattr(model, "named_parameters"):
        return list(model.named_parameters())
    return [(f"parameter {i}", p) for i, p in enumerate(model.parameters())]


def _loss_value(loss) -> float:
    return float(np.asarray(getattr(loss, "data", loss)).reshape(()))


def backprop_error(model, loss_fn, inputs, targets, directions: int = 3, seed: int = 0) -> BackpropReport:
    """Grade the reader's backward pass on one batch, through the reader's own forward pass.

    For every parameter the judge compares the directional derivative the reader's ``.grad``
    implies, ``g . v``, with central differences of the reader's loss, ``(L(p + eps v) -
    L(p - eps v)) / (2 eps)``, along ``directions`` unit vectors v: the reader's own gradient
    direction (a gradient that is wrong in size shows there) and random ones (a gradient that
    is wrong in direction, or zero, shows there). Parameters and float inputs are cast to
    float64 for the check and restored afterwards, as are ``.grad`` and training mode;
    dropout-like randomness is avoided by evaluating in eval mode.

    Returns the worst relative error ``|g . v - fd| / max(|g . v|, |fd|, 1e-6)``.
    """
    named = _named_parameters(model)
    if not named:
        raise ValueError("backprop_error: the model has no parameters to check")
    saved = [(p, p.data, p.grad) for _, p in named]
    was_training = getattr(model, "training", None)
    x, t = _as_float64(inputs), _as_float64(targets)
    try:
        if hasattr(model, "eval"):
            model.eval()
        for _, p in named:
            p.data = np.array(p.data, dtype=np.float64)
            p.grad = None
        loss = loss_fn(model(x), t)
        dtype = str(np.asarray(getattr(loss, "data", loss)).dtype)
        loss.backward()
        grads = [np.asarray(getattr(p.grad, "data", p.grad), dtype=np.float64) if p.grad is not None
                 else np.zeros(p.data.shape) for _, p in named]
        eps = 1e-6 if dtype == "float64" else 1e-2
        rng = np.random.default_rng(seed)
        worst, where, checks = 0.0, named[0][0], 0
        for (name, p), grad in zip(named, grads):
            base = p.data.copy()
            for v in _directions(grad, directions, rng):
                with _no_grad():
                    p.data = base + eps * v
                    upper = _loss_value(loss_fn(model(x), t))
                    p.data = base - eps * v
                    lower = _loss_value(loss_fn(model(x), t))
                p.data = base
                numeric = (upper - lower) / (2 * eps)
                analytic = float(np.vdot(grad, v))
                error = abs(analytic - numeric) / max(abs(analytic), abs(numeric), 1e-6)
                checks += 1
                if error > worst:
                    worst, where = error, name
        return BackpropReport(worst, where, dtype, checks)
    finally:
        for p, data, grad in saved:
            p.data, p.grad = data, grad
        if was_training is not None and hasattr(model, "train"):
            model.train(was_training)


def _directions(grad: np.ndarray, count: int, rng: np.random.Generator):
    """Unit vectors: the gradient's own direction (when nonzero), then random Gaussian ones."""
    norm = np.linalg.norm(grad)
    if norm > 0:
        yield grad / norm
        count -= 1
    for _ in range(count):
        v = rng.standard_normal(grad.shape)
        yield v / np.linalg.norm(v)


def _as_float64(value):
    """Float arrays and tensors become float64 tensors of the reader's Tensor; labels stay as they are."""
    array = np.asarray(getattr(value, "data", value))
    if array.dtype.kind != "f":
        return value
    from tinytorch.core.tensor import Tensor
    try:
        return Tensor(array.astype(np.float64), dtype=np.float64)
    except TypeError:  # a Tensor without a dtype argument: it gets the float64 array as it is
        return Tensor(array.astype(np.float64))


def _no_grad():
    """The reader's no_grad (finite differences need no graph), or a plain block without module 05."""
    try:
        from tinytorch.core.autograd import no_grad
        return no_grad()
    except ImportError:
        return contextlib.nullcontext()
