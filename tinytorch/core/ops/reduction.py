"""Reduction primitives: sum, mean and max over axes (min and var are composed from them)."""

import numpy as np

from tinytorch.core.function import Function

__all__ = ["Sum", "Mean", "Max", "normalize_axis"]


def normalize_axis(axis, ndim, op):
    """Axes as NumPy wants them (an int or a tuple), each checked against ``ndim`` with a clear error."""
    if axis is None:
        return None
    axes = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    for ax in axes:
        if not -ndim <= ax < ndim:
            raise ValueError(f"{op}: axis {ax} is out of range for a tensor with {ndim} dimensions")
    return axes if isinstance(axis, (list, tuple)) else axis


def _expand_reduced(g, axis, keepdims, ndim):
    """Re-insert the axes a reduction removed so ``g`` broadcasts against its input."""
    if axis is None or keepdims:
        return g
    axes = (axis,) if isinstance(axis, int) else axis
    return np.expand_dims(g, tuple(ax % ndim for ax in axes))


def _spread(g, axis, keepdims, shape):
    """Broadcast the gradient of a reduction back over the input's shape."""
    if axis is None:
        return np.full(shape, g, dtype=g.dtype)  # much faster than broadcast_to for a scalar
    return np.broadcast_to(_expand_reduced(g, axis, keepdims, len(shape)), shape)


class Sum(Function):
    """Sum over ``axis`` (None: all)."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        axis = normalize_axis(axis, a.ndim, "sum")
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        return a.sum(axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        return _spread(g, ctx.axis, ctx.keepdims, ctx.shape)


class Mean(Function):
    """Mean over ``axis`` (None: all). A primitive, not sum / count: every loss ends in one, so it saves a graph node."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        axis = normalize_axis(axis, a.ndim, "mean")
        total = a.sum(axis=axis, keepdims=keepdims)  # sum / count: a.mean has ~3 us of Python overhead
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        reduced = range(a.ndim) if axis is None else np.atleast_1d(axis)
        ctx.count = int(np.prod([a.shape[ax] for ax in reduced]))
        if ctx.count == 0:
            raise ValueError(f"mean: cannot average an empty tensor (shape {a.shape}) over axis {axis}")
        return total / ctx.count

    @staticmethod
    def backward(ctx, g):
        return _spread(g / ctx.count, ctx.axis, ctx.keepdims, ctx.shape)


class Max(Function):
    """Max over ``axis``; tied maxima share the gradient equally (as torch.amax)."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        axis = normalize_axis(axis, a.ndim, "max")
        reduced = range(a.ndim) if axis is None else np.atleast_1d(axis)
        if any(a.shape[ax] == 0 for ax in reduced):
            raise ValueError(f"max: cannot reduce an empty tensor (shape {a.shape}) over axis {axis}")
        out = a.max(axis=axis, keepdims=True)
        ctx.save_for_backward(a, out)
        ctx.axis, ctx.keepdims = axis, keepdims
        return out if keepdims else (out.reshape(()) if axis is None else np.squeeze(out, axis))

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        mask = a == out
        g = _expand_reduced(g, ctx.axis, ctx.keepdims, a.ndim)
        return g * mask / mask.sum(axis=ctx.axis, keepdims=True, dtype=a.dtype)
