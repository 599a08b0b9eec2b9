"""Module 04: losses, the numbers training drives down.

``CrossEntropyLoss`` and ``BinaryCrossEntropyLoss`` are fused primitives (one graph node
with a hand-written, numerically safe gradient); ``MSELoss`` is composed from primitives.
"""

import numpy as np

from tinytorch.core import functions as F
from tinytorch.core.layers import Module
from tinytorch.core.tensor import Tensor

__all__ = ["MSELoss", "CrossEntropyLoss", "BinaryCrossEntropyLoss"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(name, reduction):
    """Reject unknown reductions early with a clear message."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_same_shape(name, prediction, target):
    """Refuse silent broadcasting between prediction and target ((N, 1) vs (N,) is a classic bug)."""
    if prediction.shape != target.shape:
        raise ValueError(
            f"{name}: prediction shape {prediction.shape} and target shape {target.shape} differ"
        )


def _as_tensor(x):
    """Wrap arrays and lists as Tensors, keeping Tensors as they are."""
    return x if isinstance(x, Tensor) else Tensor(x)


class MSELoss(Module):
    """Mean squared error: mean((prediction - target)^2).

    Args:
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.

    Shape:
        - Input: ``(*)``; Target: same shape (no broadcasting).
        - Output: scalar, or ``(*)`` with ``'none'``.
    """

    def __init__(self, reduction="mean"):
        super().__init__()
        _check_reduction("MSELoss", reduction)
        self.reduction = reduction

    def forward(self, prediction, target):
        target = _as_tensor(target)
        _check_same_shape("MSELoss", prediction, target)
        diff = prediction - target
        squares = diff * diff
        if self.reduction == "mean":
            return squares.mean()
        return squares.sum() if self.reduction == "sum" else squares


class CrossEntropyLoss(Module):
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
    """

    def __init__(self, reduction="mean"):
        super().__init__()
        _check_reduction("CrossEntropyLoss", reduction)
        self.reduction = reduction

    def forward(self, logits, target):
        if not isinstance(target, (Tensor, np.ndarray)):
            target = np.asarray(target)
        return F.CrossEntropy.apply(logits, target, reduction=self.reduction)


class BinaryCrossEntropyLoss(Module):
    """Binary cross-entropy on probabilities: -mean(y log p + (1 - y) log(1 - p)).

    Each log is clamped to >= -100 as in ``torch.nn.BCELoss``, so p = 0 or 1 gives a finite
    loss and gradient. Inputs must already be probabilities (apply Sigmoid first).

    Args:
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.

    Shape:
        - Input: ``(*)`` probabilities in [0, 1]; Target: same shape, values in [0, 1].
        - Output: scalar, or ``(*)`` with ``'none'``.
    """

    def __init__(self, reduction="mean"):
        super().__init__()
        _check_reduction("BinaryCrossEntropyLoss", reduction)
        self.reduction = reduction

    def forward(self, probabilities, target):
        target = _as_tensor(target)
        _check_same_shape("BinaryCrossEntropyLoss", probabilities, target)
        p = probabilities.data
        if p.size and (p.min() < 0 or p.max() > 1):
            raise ValueError("BinaryCrossEntropyLoss: inputs must be probabilities in [0, 1] (apply Sigmoid first)")
        if target.dtype != probabilities.dtype:
            target = Tensor(target.data.astype(probabilities.dtype))
        return F.BinaryCrossEntropy.apply(probabilities, target, reduction=self.reduction)


BCELoss = BinaryCrossEntropyLoss
