"""Module 04: losses, the numbers training drives down.

Each loss computes one value per example and then applies a ``reduction`` (``'mean'``,
``'sum'`` or ``'none'``): the ``_Loss`` modules own the setting, the functions
(``cross_entropy``, ``binary_cross_entropy``, ``mse_loss``, also in ``tinytorch.functional``)
apply it, :func:`reduce` for composed losses and ``_reduce_array`` / ``_reduced_grad_scale``
inside the two fused primitives (one graph node each, with a hand-written, numerically safe
gradient: they end nearly every training step). MSE is composed from primitives.
"""

import math

import numpy as np

from tinytorch.core.function import Function
from tinytorch.core.module import Module
from tinytorch.core.tensor import Tensor

__all__ = ["MSELoss", "CrossEntropyLoss", "BinaryCrossEntropyLoss", "BCELoss",
           "mse_loss", "cross_entropy", "binary_cross_entropy", "reduce"]

REDUCTIONS = ("mean", "sum", "none")


# ----------------------------------------------------------------------------- checks


def _check_reduction(name, reduction):
    """Reject unknown reductions early with a clear message."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _check_pair(name, prediction, target):
    """Same shape (no silent broadcasting: (N, 1) vs (N,) is a classic bug) and a non-empty batch."""
    if prediction.shape != target.shape:
        raise ValueError(f"{name}: prediction shape {prediction.shape} and target shape {target.shape} differ")
    if prediction.data.size == 0:
        raise ValueError(f"{name}: empty batch (prediction shape {prediction.shape})")


def _as_tensor(x):
    """Wrap arrays and lists as Tensors, keeping Tensors as they are."""
    return x if isinstance(x, Tensor) else Tensor(x)


def _check_class_targets(logits, targets):
    """Validate (N, C) logits against (N,) integer class targets with clear errors."""
    if not isinstance(targets, np.ndarray) or targets.dtype.kind not in "iu":
        dtype = getattr(targets, "dtype", type(targets).__name__)
        raise TypeError(f"cross_entropy: targets must be integer class indices (e.g. int64), got dtype {dtype}")
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got {logits.shape}")
    if targets.ndim != 1 or targets.shape[0] != logits.shape[0]:
        raise ValueError(
            f"cross_entropy: logits shape {logits.shape} and targets shape {targets.shape} "
            f"disagree on N (expected targets of shape ({logits.shape[0]},))"
        )
    if targets.shape[0] == 0:
        raise ValueError(f"cross_entropy: empty batch (logits shape {logits.shape})")
    n_classes = logits.shape[1]
    # One reduction checks both bounds: viewed as unsigned, negative indices become huge.
    if targets.view(f"u{targets.itemsize}").max() >= n_classes:
        bad = targets[(targets < 0) | (targets >= n_classes)][0]
        raise IndexError(f"cross_entropy: target {bad} is out of range for C = {n_classes} classes")


# ----------------------------------------------------------------------------- primitives


def _reduce_array(losses, reduction):
    """Reduce per-example losses inside a fused primitive, as :func:`reduce` does for composed ones."""
    if reduction == "mean":
        return losses.sum() / losses.size
    return losses.sum() if reduction == "sum" else losses


def _reduced_grad_scale(g, reduction, shape):
    """The incoming gradient of a reduced loss as a per-example factor (broadcastable to ``shape``)."""
    if reduction == "mean":
        return g / math.prod(shape)
    return g if reduction == "sum" else g.reshape(shape)


class CrossEntropyFunction(Function):
    """Fused log-softmax + negative log-likelihood over (N, C) logits and (N,) integer targets.

    Uses log-sum-exp with the row max subtracted, so logits of 1e4 give finite values; the
    gradient of example i is softmax(x_i) - one_hot(y_i), times its share of the reduction.
    One graph node for the whole loss: it is the last op of nearly every training step.
    """

    @staticmethod
    def forward(ctx, logits, targets, reduction="mean"):
        _check_class_targets(logits, targets)
        rows = np.arange(logits.shape[0])
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        total = e.sum(axis=1, keepdims=True)
        ctx.save_for_backward(e / total, targets)
        ctx.rows, ctx.reduction = rows, reduction
        return _reduce_array(np.log(total[:, 0]) - shifted[rows, targets], reduction)

    @staticmethod
    def backward(ctx, g):
        probs, targets = ctx.saved_tensors
        grad = probs.copy()
        grad[ctx.rows, targets] -= 1.0
        scale = _reduced_grad_scale(g, ctx.reduction, targets.shape)
        grad *= scale[:, None] if np.ndim(scale) else scale
        return grad, None


class BinaryCrossEntropyFunction(Function):
    """-(y log p + (1 - y) log(1 - p)) on probabilities, each log clamped to >= -100 (as torch), reduced."""

    @staticmethod
    def forward(ctx, p, y, reduction="mean"):
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(p), -100.0)
            log_q = np.maximum(np.log(1.0 - p), -100.0)
        ctx.save_for_backward(p, y, log_p, log_q)
        ctx.reduction = reduction
        return _reduce_array(-(y * log_p + (1.0 - y) * log_q), reduction)

    @staticmethod
    def backward(ctx, g):
        p, y, log_p, log_q = ctx.saved_tensors
        g = _reduced_grad_scale(g, ctx.reduction, p.shape)
        gp = g * (p - y) / np.maximum(p * (1.0 - p), 1e-12) if ctx.needs_input_grad[0] else None
        gy = g * (log_q - log_p) if ctx.needs_input_grad[1] else None
        return gp, gy


# ----------------------------------------------------------------------------- functions


def reduce(losses, reduction="mean"):
    """Apply a reduction to per-example loss tensors: ``'mean'`` (default), ``'sum'`` or ``'none'``."""
    _check_reduction("loss", reduction)
    if reduction == "none":
        return losses
    return losses.mean() if reduction == "mean" else losses.sum()


def mse_loss(prediction, target, reduction="mean", *, _caller="mse_loss"):
    """(prediction - target)^2 per element, reduced; composed from primitives (no fused backward needed)."""
    target = _as_tensor(target)
    _check_pair(_caller, prediction, target)
    diff = prediction - target
    return reduce(diff * diff, reduction)


def cross_entropy(logits, target, reduction="mean"):
    """Cross-entropy between (N, C) logits and (N,) integer class indices (as ``torch.nn.functional.cross_entropy``)."""
    if not isinstance(target, (Tensor, np.ndarray)):
        target = np.asarray(target)
    _check_reduction("cross_entropy", reduction)
    return CrossEntropyFunction.apply(logits, target, reduction=reduction)


def binary_cross_entropy(probabilities, target, reduction="mean", *, _caller="binary_cross_entropy"):
    """Binary cross-entropy of probabilities in [0, 1] against targets in [0, 1] (apply a sigmoid first)."""
    target = _as_tensor(target)
    _check_pair(_caller, probabilities, target)
    p, y = probabilities.data, target.data
    if p.min() < 0 or p.max() > 1:
        raise ValueError(f"{_caller}: inputs must be probabilities in [0, 1] (apply Sigmoid first), "
                         f"got values in [{p.min():g}, {p.max():g}]")
    if y.min() < 0 or y.max() > 1:
        raise ValueError(f"{_caller}: targets must lie in [0, 1], got values in [{y.min():g}, {y.max():g}]")
    if target.dtype != probabilities.dtype:
        target = Tensor(y.astype(probabilities.dtype))
    _check_reduction(_caller, reduction)
    return BinaryCrossEntropyFunction.apply(probabilities, target, reduction=reduction)


# ----------------------------------------------------------------------------- modules


class _Loss(Module):
    """Base class of the loss modules: owns the ``reduction`` setting and checks it once."""

    def __init__(self, reduction="mean"):
        super().__init__()
        _check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean squared error: mean((prediction - target)^2).

    Args:
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.

    Shape:
        - Input: ``(*)``; Target: same shape (no broadcasting).
        - Output: scalar, or ``(*)`` with ``'none'``.

    Examples:
        >>> from tinytorch.core.losses import MSELoss
        >>> from tinytorch.core.tensor import Tensor
        >>> MSELoss()(Tensor([1.0, 2.0]), Tensor([1.0, 4.0])).item()
        2.0
    """

    def forward(self, prediction, target):
        return mse_loss(prediction, target, self.reduction, _caller=type(self).__name__)


class CrossEntropyLoss(_Loss):
    """Cross-entropy between logits and class indices: mean_i(logsumexp(x_i) - x_i[y_i]).

    Fused log-softmax + NLL with the row max subtracted, so huge logits (1e4) stay finite.
    Takes raw logits, not probabilities (as ``torch.nn.CrossEntropyLoss``).

    Args:
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.

    Shape:
        - Input: ``(N, C)`` logits.
        - Target: ``(N,)`` integer class indices in ``[0, C)``.
        - Output: scalar, or ``(N,)`` with ``'none'``.

    Raises:
        TypeError: float targets. ValueError: empty batch or mismatched N.
        IndexError: a class index outside ``[0, C)``.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.losses import CrossEntropyLoss
        >>> from tinytorch.core.tensor import Tensor
        >>> round(CrossEntropyLoss()(Tensor([[0.0, 0.0]]), np.array([1])).item(), 4)
        0.6931
    """

    def forward(self, logits, target):
        return cross_entropy(logits, target, self.reduction)


class BinaryCrossEntropyLoss(_Loss):
    """Binary cross-entropy on probabilities: -mean(y log p + (1 - y) log(1 - p)).

    Each log is clamped to >= -100 as in ``torch.nn.BCELoss``, so p = 0 or 1 gives a finite
    loss and gradient. Inputs must already be probabilities (apply Sigmoid first).

    Args:
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.

    Shape:
        - Input: ``(*)`` probabilities in [0, 1]; Target: same shape, values in [0, 1].
        - Output: scalar, or ``(*)`` with ``'none'``.

    Examples:
        >>> from tinytorch.core.losses import BinaryCrossEntropyLoss
        >>> from tinytorch.core.tensor import Tensor
        >>> round(BinaryCrossEntropyLoss()(Tensor([0.5]), Tensor([1.0])).item(), 4)
        0.6931
    """

    def forward(self, probabilities, target):
        return binary_cross_entropy(probabilities, target, self.reduction, _caller=type(self).__name__)


BCELoss = BinaryCrossEntropyLoss
