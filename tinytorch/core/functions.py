"""The differentiable primitives: one ``Function`` per op, forward and backward side by side.

Each ``forward`` works on raw ``np.ndarray`` (or Python scalars) and each ``backward``
returns one gradient per positional input. Gradients may keep the broadcast output shape:
the engine (``tinytorch.core.autograd``) sums them back to each input's shape.

Dtype rule: the math keeps its inputs' dtype. Constants are Python floats (NumPy 2 treats
them as "weak"), never NumPy float64 scalars, so float32 stays float32.

Fused primitives exist where speed needs them: ``Linear`` (x @ W.T + b in one node),
``Softmax``/``LogSoftmax`` and ``CrossEntropy`` (log-sum-exp stable softmax + NLL).
"""

import math

import numpy as np

from tinytorch.core.autograd import Function

__all__ = [
    "Add", "Sub", "Mul", "Div", "Neg", "Pow", "MatMul", "Linear",
    "Exp", "Log", "Sqrt", "Abs", "Clip", "Cast",
    "Sum", "Mean", "Max", "Reshape", "Permute", "GetItem",
    "Where", "Maximum", "Concatenate", "Stack",
    "ReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax",
    "CrossEntropy", "BinaryCrossEntropy",
]


def _shape(x):
    """Shape of an array or a Python scalar, for error messages."""
    return np.shape(x)


def _broadcast_error(op, a, b):
    """The ValueError raised when two operands cannot broadcast."""
    return ValueError(f"{op}: cannot broadcast shapes {_shape(a)} and {_shape(b)}")


# ----------------------------------------------------------------------------- arithmetic


class Add(Function):
    """a + b (broadcasting)."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            return a + b
        except ValueError:
            raise _broadcast_error("add", a, b) from None

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
            raise _broadcast_error("sub", a, b) from None

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
            raise _broadcast_error("mul", a, b) from None

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
            raise _broadcast_error("div", a, b) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = g / b if ctx.needs_input_grad[0] else None
        gb = -g * a / (b * b) if ctx.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    """-a."""

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class Pow(Function):
    """a ** b; b is usually a Python scalar, but may be an array/Tensor (then a > 0 for its grad)."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            out = a ** b
        except ValueError:
            raise _broadcast_error("pow", a, b) from None
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


# ----------------------------------------------------------------------------- matmul


class MatMul(Function):
    """a @ b with NumPy semantics: 1-D operands are promoted then squeezed, batch dims broadcast."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a @ b
        except ValueError:
            raise ValueError(f"matmul: shapes {_shape(a)} and {_shape(b)} are not aligned") from None

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


class Linear(Function):
    """Fused affine map x @ W.T + b (one graph node instead of three), W of shape (out, in)."""

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        if x.shape[-1:] != weight.shape[1:]:
            raise ValueError(
                f"linear: input shape {x.shape} does not match weight shape {weight.shape} "
                f"(expects last dim {weight.shape[1]})"
            )
        ctx.save_for_backward(x, weight)
        out = x @ weight.T
        if bias is not None:
            out = out + bias if out.dtype != bias.dtype else np.add(out, bias, out=out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = (ctx.needs_input_grad + (False,))[:3]
        g2 = g.reshape(-1, g.shape[-1]) if g.ndim != 2 else g
        gx = g @ weight if need_x else None
        gw = g2.T @ x.reshape(-1, x.shape[-1]) if need_w else None
        gb = g2.sum(axis=0) if need_b else None
        return gx, gw, gb


# ----------------------------------------------------------------------------- elementwise


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


class Sqrt(Function):
    """sqrt(a)."""

    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g / (2.0 * out)


class Abs(Function):
    """|a|; the gradient at 0 is 0 (as in PyTorch)."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * np.sign(a)


class Clip(Function):
    """clip(a, min, max); gradient flows where min <= a <= max (as torch.clamp)."""

    @staticmethod
    def forward(ctx, a, min=None, max=None):
        ctx.save_for_backward(a)
        ctx.bounds = (min, max)
        return np.clip(a, min, max)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        lo, hi = ctx.bounds
        inside = np.ones(a.shape, dtype=bool)
        if lo is not None:
            inside &= a >= lo
        if hi is not None:
            inside &= a <= hi
        return g * inside


class Cast(Function):
    """a.astype(dtype); the engine casts the gradient back to the input's dtype."""

    @staticmethod
    def forward(ctx, a, dtype=None):
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g


# ----------------------------------------------------------------------------- reductions


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


def _norm_axis(axis):
    """Accept int, list or tuple axes (NumPy wants a tuple)."""
    return tuple(axis) if isinstance(axis, list) else axis


class Sum(Function):
    """Sum over ``axis`` (None: all)."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        axis = _norm_axis(axis)
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        return a.sum(axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        return _spread(g, ctx.axis, ctx.keepdims, ctx.shape)


class Mean(Function):
    """Mean over ``axis`` (None: all)."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        axis = _norm_axis(axis)
        total = a.sum(axis=axis, keepdims=keepdims)  # sum / count: a.mean has ~3 us of Python overhead
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        ctx.count = a.size // np.size(total) if np.size(total) else 1
        return total / ctx.count if a.size else a.mean(axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        return _spread(g / ctx.count, ctx.axis, ctx.keepdims, ctx.shape)


class Max(Function):
    """Max over ``axis``; tied maxima share the gradient equally (as torch.amax)."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        axis = _norm_axis(axis)
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


# ----------------------------------------------------------------------------- shape


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
        return a[index]

    @staticmethod
    def backward(ctx, g):
        grad = np.zeros(ctx.shape, dtype=g.dtype)
        if _has_integer_array(ctx.index):
            np.add.at(grad, ctx.index, g)  # repeated indices accumulate
        else:
            grad[ctx.index] = g
        return grad


class Where(Function):
    """where(cond, a, b): pick from a where cond is True, else from b."""

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        zero = np.zeros((), dtype=g.dtype)
        ga = np.where(cond, g, zero) if ctx.needs_input_grad[1] else None
        gb = np.where(cond, zero, g) if ctx.needs_input_grad[2] else None
        return None, ga, gb


class Maximum(Function):
    """Elementwise maximum(a, b); ties split the gradient equally (as PyTorch)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return np.maximum(a, b)
        except ValueError:
            raise _broadcast_error("maximum", a, b) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        share = ((a > b) + 0.5 * (a == b)).astype(g.dtype, copy=False)
        ga = g * share if ctx.needs_input_grad[0] else None
        gb = g * (1.0 - share) if ctx.needs_input_grad[1] else None
        return ga, gb


class Concatenate(Function):
    """concatenate(arrays, axis): join along an existing axis."""

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        ctx.splits = np.cumsum([x.shape[axis] for x in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return tuple(np.split(g, ctx.splits, axis=ctx.axis))


class Stack(Function):
    """stack(arrays, axis): join along a new axis."""

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        return np.stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return tuple(np.moveaxis(g, ctx.axis, 0))


# ----------------------------------------------------------------------------- activations


class ReLU(Function):
    """max(a, 0)."""

    @staticmethod
    def forward(ctx, a):
        out = np.maximum(a, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (out > 0)


class Sigmoid(Function):
    """1 / (1 + exp(-a)), computed as 0.5 * (1 + tanh(a / 2)): never overflows."""

    @staticmethod
    def forward(ctx, a):
        out = 0.5 * (1.0 + np.tanh(0.5 * a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out * (1.0 - out)


class Tanh(Function):
    """tanh(a)."""

    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (1.0 - out * out)


_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_K = 0.044715


class GELU(Function):
    """GELU, tanh approximation: 0.5 a (1 + tanh(sqrt(2/pi) (a + 0.044715 a^3))).

    Matches ``torch.nn.functional.gelu(x, approximate='tanh')`` (GPT-2's GELU); it differs
    from the exact erf form by under 1e-3.
    """

    @staticmethod
    def forward(ctx, a):
        t = np.tanh(_GELU_C * (a + _GELU_K * a * a * a))
        ctx.save_for_backward(a, t)
        return 0.5 * a * (1.0 + t)

    @staticmethod
    def backward(ctx, g):
        a, t = ctx.saved_tensors
        du = _GELU_C * (1.0 + 3.0 * _GELU_K * a * a)
        return g * (0.5 * (1.0 + t) + 0.5 * a * (1.0 - t * t) * du)


class Softmax(Function):
    """exp(a) / sum(exp(a)) along ``axis``, shifted by the max for stability."""

    @staticmethod
    def forward(ctx, a, axis=-1):
        e = np.exp(a - a.max(axis=axis, keepdims=True))
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return out * (g - (g * out).sum(axis=ctx.axis, keepdims=True))


class LogSoftmax(Function):
    """a - logsumexp(a) along ``axis`` (log-sum-exp stable)."""

    @staticmethod
    def forward(ctx, a, axis=-1):
        shifted = a - a.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g - np.exp(out) * g.sum(axis=ctx.axis, keepdims=True)


# ----------------------------------------------------------------------------- losses


def _check_class_targets(logits, targets):
    """Validate (N, C) logits against (N,) integer class targets with clear errors."""
    if not isinstance(targets, np.ndarray) or targets.dtype.kind not in "iu":
        dtype = getattr(targets, "dtype", type(targets).__name__)
        raise TypeError(
            f"cross_entropy: targets must be integer class indices (e.g. int64), got dtype {dtype}"
        )
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got {logits.shape}")
    if targets.ndim != 1 or targets.shape[0] != logits.shape[0]:
        raise ValueError(
            f"cross_entropy: logits shape {logits.shape} and targets shape {targets.shape} "
            f"disagree on N (expected targets of shape ({logits.shape[0]},))"
        )
    if targets.shape[0] == 0:
        raise ValueError("cross_entropy: empty batch (N = 0)")
    n_classes = logits.shape[1]
    # One reduction checks both bounds: viewed as unsigned, negative indices become huge.
    if targets.view(f"u{targets.itemsize}").max() >= n_classes:
        bad = targets[(targets < 0) | (targets >= n_classes)][0]
        raise IndexError(f"cross_entropy: target {bad} is out of range for C = {n_classes} classes")


class CrossEntropy(Function):
    """Fused log-softmax + negative log-likelihood over (N, C) logits and (N,) int targets.

    Uses log-sum-exp with the row max subtracted, so logits of 1e4 give finite values;
    the gradient is (softmax - one_hot) / N for ``reduction='mean'``.
    """

    @staticmethod
    def forward(ctx, logits, targets, reduction="mean"):
        _check_class_targets(logits, targets)
        rows = np.arange(logits.shape[0])
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        total = e.sum(axis=1, keepdims=True)
        losses = np.log(total[:, 0]) - shifted[rows, targets]
        ctx.save_for_backward(e / total, targets)
        ctx.rows, ctx.reduction = rows, reduction
        if reduction == "mean":
            return losses.sum() / losses.shape[0]
        if reduction == "sum":
            return losses.sum()
        if reduction == "none":
            return losses
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")

    @staticmethod
    def backward(ctx, g):
        probs, targets = ctx.saved_tensors
        grad = probs.copy()
        grad[ctx.rows, targets] -= 1.0
        if ctx.reduction == "mean":
            grad *= g / probs.shape[0]
        elif ctx.reduction == "sum":
            grad *= g
        else:
            grad *= g[:, None]
        return grad, None


class BinaryCrossEntropy(Function):
    """-(y log p + (1 - y) log(1 - p)) on probabilities, each log clamped to >= -100 (as torch)."""

    @staticmethod
    def forward(ctx, p, y, reduction="mean"):
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(p), -100.0)
            log_q = np.maximum(np.log(1.0 - p), -100.0)
        losses = -(y * log_p + (1.0 - y) * log_q)
        ctx.save_for_backward(p, y)
        ctx.reduction = reduction
        if reduction == "mean":
            return losses.mean()
        if reduction == "sum":
            return losses.sum()
        if reduction == "none":
            return losses
        raise ValueError(f"binary_cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")

    @staticmethod
    def backward(ctx, g):
        p, y = ctx.saved_tensors
        grad = g * (p - y) / np.maximum(p * (1.0 - p), 1e-12)
        if ctx.reduction == "mean":
            grad = grad / p.size
        gy = None
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore"):
                gy = g * (np.maximum(np.log(1.0 - p), -100.0) - np.maximum(np.log(p), -100.0))
            gy = gy / p.size if ctx.reduction == "mean" else gy
        return grad, gy
