"""Movement primitives: reshape, permute, indexing and concatenation (values move, none change)."""

import numpy as np

from tinytorch.core.function import Function

__all__ = ["Reshape", "Permute", "GetItem", "Concatenate"]


class Reshape(Function):
    """a.reshape(shape)."""

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape shape {a.shape} into {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape)


class Permute(Function):
    """a.transpose(dims): reorder axes (transpose of two dims is a special case)."""

    @staticmethod
    def forward(ctx, a, dims):
        try:
            out = a.transpose(dims)
        except ValueError:
            raise ValueError(f"permute: dims {tuple(dims)} do not match shape {a.shape}") from None
        ctx.dims = dims
        return out

    @staticmethod
    def backward(ctx, g):
        return g.transpose(np.argsort(ctx.dims))


def _has_integer_array(index):
    """True when an index holds an integer array (then positions may repeat)."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, np.ndarray) and p.dtype.kind in "iu" for p in parts)


class GetItem(Function):
    """a[index]: basic slicing, boolean masks and integer-array (fancy) indexing."""

    @staticmethod
    def forward(ctx, a, index):
        ctx.shape, ctx.index = a.shape, index
        try:
            return a[index]
        except IndexError as exc:
            raise IndexError(f"index: {exc} (tensor shape {a.shape})") from None

    @staticmethod
    def backward(ctx, g):
        grad = np.zeros(ctx.shape, dtype=g.dtype)
        if _has_integer_array(ctx.index):
            np.add.at(grad, ctx.index, g)  # repeated indices accumulate
        else:
            grad[ctx.index] = g
        return grad


class Concatenate(Function):
    """concatenate(arrays, axis): join along an existing axis."""

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        try:
            out = np.concatenate(arrays, axis=axis)
        except ValueError:
            shapes = ", ".join(str(np.shape(x)) for x in arrays)
            raise ValueError(f"cat: cannot join shapes {shapes} along dim {axis}") from None
        ctx.axis = axis
        ctx.splits = np.cumsum([x.shape[axis] for x in arrays])[:-1]
        return out

    @staticmethod
    def backward(ctx, g):
        return tuple(np.split(g, ctx.splits, axis=ctx.axis))
