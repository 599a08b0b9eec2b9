"""Arithmetic primitives: a + b, a - b, a * b, a / b, a ** b and a @ b, with broadcasting."""

import numpy as np

from tinytorch.core.function import Function

__all__ = ["Add", "Sub", "Mul", "Div", "Pow", "MatMul", "broadcast_error"]


def broadcast_error(op, a, b):
    """The ValueError raised when two operands cannot broadcast, naming the op and both shapes."""
    return ValueError(f"{op}: cannot broadcast shapes {np.shape(a)} and {np.shape(b)}")


class Add(Function):
    """a + b (broadcasting)."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            return a + b
        except ValueError:
            raise broadcast_error("add", a, b) from None

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    """a - b (broadcasting)."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            return a - b
        except ValueError:
            raise broadcast_error("sub", a, b) from None

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)


class Mul(Function):
    """a * b (broadcasting)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a * b
        except ValueError:
            raise broadcast_error("mul", a, b) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = g * b if ctx.needs_input_grad[0] else None
        gb = g * a if ctx.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    """a / b (broadcasting)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a / b
        except ValueError:
            raise broadcast_error("div", a, b) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = g / b if ctx.needs_input_grad[0] else None
        gb = -g * a / (b * b) if ctx.needs_input_grad[1] else None
        return ga, gb


class Pow(Function):
    """a ** b; b is usually a Python scalar, but may be an array/Tensor (then a > 0 for its grad)."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            out = a ** b
        except ValueError:
            raise broadcast_error("pow", a, b) from None
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            ga = None
        elif isinstance(b, (int, float)) and b == 0:
            ga = np.zeros_like(a)  # d/da a**0 = 0, even at a = 0 (0 * inf would give nan)
        else:
            ga = g * b * a ** (b - 1)
        gb = g * out * np.log(a) if ctx.needs_input_grad[1] else None
        return ga, gb


class MatMul(Function):
    """a @ b with NumPy semantics: 1-D operands are promoted then squeezed, batch dims broadcast."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a @ b
        except ValueError:
            raise ValueError(f"matmul: shapes {np.shape(a)} and {np.shape(b)} are not aligned") from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        if a.ndim == 1 and b.ndim == 1:  # dot product
            return g * b, g * a
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g[..., None, :] if a.ndim == 1 else g
        g2 = g2[..., None] if b.ndim == 1 else g2
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = g2 @ np.swapaxes(b2, -1, -2)
            ga = ga[..., 0, :] if a.ndim == 1 else ga
        if ctx.needs_input_grad[1]:
            if b2.ndim == 2 and a2.ndim > 2:  # fold batch dims into one big matmul
                gb = a2.reshape(-1, a2.shape[-1]).T @ g2.reshape(-1, g2.shape[-1])
            else:
                gb = np.swapaxes(a2, -1, -2) @ g2
            gb = gb[..., 0] if b.ndim == 1 else gb
        return ga, gb
