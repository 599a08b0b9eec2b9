"""Elementwise primitives: exp, log, a dtype cast, and where (pick from one of two arrays)."""

import numpy as np

from tinytorch.core.function import Function

__all__ = ["Exp", "Log", "Cast", "Where"]


class Exp(Function):
    """exp(a)."""

    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out


class Log(Function):
    """Natural log(a)."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / a


class Cast(Function):
    """a.astype(dtype); the engine casts the gradient back to the input's dtype."""

    @staticmethod
    def forward(ctx, a, dtype=None):
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g


class Where(Function):
    """where(cond, a, b): a where cond is True, else b (broadcasting); the gradient follows the pick."""

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        try:
            return np.where(cond, a, b)
        except ValueError:
            raise ValueError(f"where: cannot broadcast shapes {np.shape(cond)}, {np.shape(a)} "
                             f"and {np.shape(b)}") from None

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        zero = np.zeros((), dtype=g.dtype)
        ga = np.where(cond, g, zero) if ctx.needs_input_grad[1] else None
        gb = np.where(cond, zero, g) if ctx.needs_input_grad[2] else None
        return None, ga, gb
