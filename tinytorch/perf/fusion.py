"""Module 18, acceleration: fused twins of the transformer's layers, and the switch that swaps them in.

Modules 12-13 compose attention, LayerNorm and the MLP from small primitives: every
intermediate (scores, masked scores, weights, centred inputs, hidden activations) is a
separate array and a separate graph node with its own backward. Here each of them is **one**
primitive whose forward and backward are written out by hand, computed in place where they
can be:

* ``FusedSelfAttention``: self-attention straight from the packed projection
  ``qkv = in_proj(x)``: split into heads, ``softmax(q k^T * scale + mask) @ v``, heads merged
  back, in one node (the composed form takes about a dozen).
  ``FusedCachedAttention``: the same for new positions over a KV cache (module 17), for
  decoding; a single new token needs no mask at all.
* ``FusedLayerNormFunction``: LayerNorm with the exact gradient through mean and variance.
* ``FusedMLPFunction``: ``Linear -> GELU (or ReLU) -> Linear`` in one node; in a small
  transformer the activation's passes over the (tokens, 4E) hidden layer cost as much as
  the matmuls.

Each is tested equal to its composed twin in values and gradients (float64 gradient checks).
``accelerate(model)`` switches them on: it swaps every ``MultiHeadAttention``, ``LayerNorm``
and ``MLP`` of a model for ``FusedMultiHeadAttention``, ``FusedLayerNorm`` and ``FusedMLP``,
subclasses that share the very same Parameters, the way module 15's ``quantize_model``
swaps layers (no monkey-patching: the modules are replaced, the classes untouched).

Each fused primitive states the FLOPs of its matrix products (a static ``flops`` method), so
module 14's op profile counts them as it counts ``MatMul``.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict

import numpy as np

from tinytorch.core.attention import MultiHeadAttention, causal_mask, split_mask
from tinytorch.core.autograd import Function
from tinytorch.core.layers import Module, _column_sums
from tinytorch.core.random import rng
from tinytorch.core.tensor import Tensor
from tinytorch.core.transformers import MLP, LayerNorm, check_normalized

__all__ = ["FusedSelfAttention", "FusedCachedAttention", "FusedLayerNormFunction", "FusedMLPFunction",
           "gelu_kernel", "gelu_slope",
           "FusedMultiHeadAttention", "FusedLayerNorm", "FusedMLP", "accelerate"]


# ----------------------------------------------------------------------------- row sums


@functools.lru_cache(maxsize=64)
def _constant_vector(size: int, value: float, dtype: np.dtype) -> np.ndarray:
    """``size`` entries of ``value`` (read-only, cached) for the matrix-vector products below."""
    vector = np.full(size, value, dtype=dtype)
    vector.flags.writeable = False
    return vector


def _row_sums(a, ndim: int = 1, scale: float = 1.0) -> np.ndarray:
    """``scale`` times the sums over the last ``ndim`` axes, keepdims-shaped, as one matrix-vector product.

    BLAS sums the short rows of attention scores and layer norms (16 to 256 values) 2 to 7
    times faster than ``a.sum(axis=-1)``, whose reduction loop restarts on every row.
    """
    lead = a.shape[:a.ndim - ndim]
    size = math.prod(a.shape[a.ndim - ndim:])
    if size == 0:                                    # empty rows sum to 0 (reshape(-1, 0) is ambiguous)
        return np.zeros(lead + (1,) * ndim, dtype=a.dtype)
    sums = a.reshape(-1, size) @ _constant_vector(size, scale, a.dtype)
    return sums.reshape(lead + (1,) * ndim)


def _row_means(a, ndim: int) -> np.ndarray:
    """Means over the last ``ndim`` axes, keepdims-shaped (``_row_sums`` by 1/n)."""
    return _row_sums(a, ndim, 1.0 / math.prod(a.shape[a.ndim - ndim:]))


# ----------------------------------------------------------------------------- attention kernels


_SMALLEST_SAFE_TOTAL = 2.0 ** -60
"""A row whose sum of exponentials is at least this (and finite) is exact without the max subtracted:
entries small enough to lose precision (below float32's smallest normal) weigh under 2^-66."""


def _stable_softmax(rows):
    """The textbook softmax of 2-D ``rows``: the row max subtracted first. A fully masked row
    (every entry -inf) is all 0, not NaN; a row holding +inf or NaN is NaN, as in PyTorch."""
    top = rows.max(axis=-1, keepdims=True)
    top[top == -np.inf] = 0.0
    weights = np.exp(rows - top)
    total = weights.sum(axis=-1, keepdims=True)
    total[total == 0] = 1.0
    return weights / total


def _softmax_rows(scores, allowed):
    """Masked softmax over the last axis of ``scores`` (overwritten): masked entries are exactly 0,
    rows with no allowed entry are all 0 (not NaN).

    ``exp(s) / sum(exp(s))`` without the row max subtracted first: the max and the subtraction
    are two of the six passes over the scores, and the result is as exact whenever a row's sum
    stays inside float range (in float32: the row's largest score between about -41 and +88).
    The rows whose sum overflows or underflows (huge scores, fully masked rows, inf or NaN) are
    redone by ``_stable_softmax``.
    """
    if allowed is not None:
        np.copyto(scores, -np.inf, where=~allowed)
    with np.errstate(over="ignore"):                  # an overflowing row is redone below
        weights = np.exp(scores)
        total = _row_sums(weights)
    unsafe = ~((total >= _SMALLEST_SAFE_TOTAL) & (total <= np.finfo(total.dtype).max))  # NaN-proof
    if unsafe.any():
        rows = np.nonzero(unsafe[..., 0])
        weights[rows] = _stable_softmax(scores[rows])
        total[unsafe] = 1.0
    weights /= total
    return weights


def _split_packed(qkv, num_heads):
    """A packed projection (N, T, 3E) as q, k, v views of shape (N, heads, T, D), D = E / heads."""
    n, t, width = qkv.shape
    heads = qkv.reshape(n, t, 3, num_heads, width // (3 * num_heads))
    return tuple(heads[:, :, i].transpose(0, 2, 1, 3) for i in range(3))


def _merge_heads(out):
    """Per-head outputs (N, heads, T, D) side by side again: (N, T, heads * D)."""
    n, h, t, d = out.shape
    return out.transpose(0, 2, 1, 3).reshape(n, t, h * d)


def _attend(q, k, v, allowed, bias, scale, keep):
    """The forward kernel on arrays (..., L, E), (..., S, E), (..., S, Ev): returns (output, weights, q * scale).

    The scale multiplies the queries (L x E numbers) rather than the scores (L x S)."""
    scaled_q = q * scale
    scores = np.matmul(scaled_q, np.swapaxes(k, -1, -2))
    if bias is not None:
        scores = scores + bias  # a new array: the bias may broadcast wider than the scores
    weights = _softmax_rows(scores, allowed)
    return np.matmul(weights if keep is None else weights * keep, v), weights, scaled_q


def _attend_backward(g, scaled_q, k, v, weights, keep, out, scale):
    """The backward kernel: (dq, dk, dv) from the output gradient g.

    With W = P * keep (dropout): dV = W^T dO; dW = dO V^T; dP = dW * keep;
    dS = P * (dP - rowsum(dP * P)) (the softmax Jacobian, zero wherever P is zero: masked
    keys and fully masked rows get no gradient); dQ = dS K * scale; dK = dS^T Q * scale
    = dS^T (Q * scale), the forward's scaled queries.
    The row sums use rowsum(dP * P) = rowsum(dO * O) (as FlashAttention does), which reads the
    (L, Ev) output instead of building another (L, S) array.
    """
    dv = np.matmul(np.swapaxes(weights if keep is None else weights * keep, -1, -2), g)
    ds = np.matmul(g, np.swapaxes(v, -1, -2))  # dW, then dP, then dS, in place
    if keep is not None:
        ds *= keep
    ds -= _row_sums(g * out)
    ds *= weights
    dq = np.matmul(ds, k)
    dq *= scale
    return dq, np.matmul(np.swapaxes(ds, -1, -2), scaled_q), dv


def _dropout_keep(shape, p, dtype):
    """Inverted-dropout multiplier, drawn as module 03's ``dropout`` draws it: 0 with probability p, else 1/(1-p)."""
    return (rng().random(shape, dtype=np.float32) >= p).astype(dtype) * np.asarray(1.0 / (1.0 - p), dtype)


class FusedSelfAttention(Function):
    """Self-attention straight from the packed projection: qkv (N, T, 3E) -> heads merged (N, T, E).

    ``softmax(q k^T * scale + bias, masked) [* keep] @ v`` for every head at once, with the
    backward of ``_attend_backward``. Splitting q, k, v and the heads, and merging the heads
    back, are views and one copy inside this one node, instead of graph nodes whose backward
    passes would allocate and add zero-filled (3, N, heads, T, E/heads) gradients.
    """

    @staticmethod
    def forward(ctx, qkv, num_heads=1, allowed=None, bias=None, scale=1.0, keep=None):
        q, k, v = _split_packed(qkv, num_heads)
        out, weights, scaled_q = _attend(q, k, v, allowed, bias, scale, keep)
        ctx.save_for_backward(scaled_q, k, v, weights, keep, out)
        ctx.scale = scale
        return _merge_heads(out)

    @staticmethod
    def backward(ctx, g):
        scaled_q, k, v, weights, keep, out = ctx.saved_tensors
        n, h, t, d = scaled_q.shape
        grads = _attend_backward(g.reshape(n, t, h, d).transpose(0, 2, 1, 3), scaled_q, k, v, weights, keep, out,
                                 ctx.scale)
        packed = np.empty((n, t, 3, h, d), dtype=g.dtype)
        for i, grad in enumerate(grads):
            packed[:, :, i] = grad.transpose(0, 2, 1, 3)
        return packed.reshape(n, t, 3 * h * d)

    # tito: given
    @staticmethod
    def flops(shapes, kwargs, needs):
        """(forward, backward) FLOPs of Q K^T and A V over all heads; backward: dV, dA, dQ, dK."""
        n, t, width = shapes[0]
        f = 2 * n * t * t * (width // 3)
        return 2 * f, (4 * f if needs[0] else 0)


class FusedCachedAttention(Function):
    """T new positions' queries (from the packed qkv (N, T, 3E)) over every cached key and value.

    ``k_all``, ``v_all`` (N, heads, S, D) are the cache's arrays after this step's update (module
    17). With ``causal``, position ``S - T + i`` sees keys ``0 .. S - T + i`` (a single new
    position needs no mask); without, every key. For decoding only (the cache holds arrays,
    not graph), so there is no backward.
    """

    @staticmethod
    def forward(ctx, qkv, k_all, v_all, num_heads=1, causal=True, scale=1.0):
        q, _, _ = _split_packed(qkv, num_heads)
        t, keys = q.shape[2], k_all.shape[2]
        allowed = causal_mask(t, keys, start=keys - t) if causal and t > 1 else None
        out, _, _ = _attend(q, k_all, v_all, allowed, None, scale, None)
        return _merge_heads(out)

    # tito: given
    @staticmethod
    def flops(shapes, kwargs, needs):
        """(forward, backward) FLOPs: the T queries against the S cached keys, Q K^T and A V."""
        (n, t, width), (_, _, keys, _) = shapes[0], shapes[1]
        return 2 * (2 * n * t * keys * (width // 3)), 0


# ----------------------------------------------------------------------------- layer norm and MLP kernels


class FusedLayerNormFunction(Function):
    """Fused layer norm over the last ``ndim`` axes: ``y = (x - mean) / sqrt(var + eps) * weight + bias``.

    Backward (with xhat the normalised input, rstd = 1/sqrt(var + eps), means over the
    normalised axes): ``dxhat = dy * weight``;
    ``dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))``: the exact gradient,
    through the mean and the variance; ``dweight = sum(dy * xhat)``, ``dbias = sum(dy)`` over
    the other axes. Weight and bias may be None.
    """

    @staticmethod
    def forward(ctx, x, weight=None, bias=None, ndim=1, eps=1e-5):
        # means as matrix-vector products (_row_means); temporaries reused in place
        xhat = x - _row_means(x, ndim)
        var = _row_means(np.square(xhat), ndim)
        var += eps
        rstd = np.sqrt(var, out=var)
        np.divide(1.0, rstd, out=rstd)
        xhat *= rstd
        ctx.save_for_backward(xhat, rstd, weight)
        ctx.ndim = ndim
        if weight is None:
            return xhat.copy() if bias is None else xhat + bias  # never hand out the saved array
        out = xhat * weight
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx, g):
        xhat, rstd, weight = ctx.saved_tensors
        ndim = ctx.ndim
        need_x = ctx.needs_input_grad[0]
        need_w, need_b = (ctx.needs_input_grad + (False, False))[1:3]
        shape = g.shape[g.ndim - ndim:]
        rows = g.reshape(-1, math.prod(shape))  # every normalised vector is one row
        dweight = _column_sums(np.multiply(rows, xhat.reshape(rows.shape))).reshape(shape) if need_w else None
        dbias = _column_sums(rows).reshape(shape) if need_b else None
        dx = None
        if need_x:
            dx = g * weight if weight is not None else g.copy()  # dxhat, owned: updated in place below
            projection = _row_means(dx * xhat, ndim)
            dx -= _row_means(dx, ndim)
            dx -= xhat * projection
            dx *= rstd
        return dx, dweight, dbias


_GELU_C, _GELU_K = math.sqrt(2.0 / math.pi), 0.044715  # GELU's tanh approximation, as module 02's GELU


def gelu_kernel(h):
    """``(gelu, s)``: GELU of the array ``h`` (tanh form) and ``s`` = sigmoid(2u), kept for the backward.

    0.5 h (1 + tanh(u)) = h sigmoid(2u), ``u = c (h + k h^3)``: written with NumPy's ``exp``,
    which costs about half its ``tanh`` per element. Where ``exp(-2u)`` overflows (h below
    about -10) the sigmoid is 0 exactly, as the tanh form's ``1 + tanh(u)`` is.
    """
    s = np.square(h)
    s *= -2.0 * _GELU_C * _GELU_K
    s -= 2.0 * _GELU_C
    s *= h                                   # -2u
    with np.errstate(over="ignore"):
        np.exp(s, out=s)
    s += 1.0
    np.reciprocal(s, out=s)                  # sigmoid(2u)
    return h * s, s


def gelu_slope(h, s):
    """GELU's derivative at ``h``, from the forward's ``s`` = sigmoid(2u):
    ``s + h s (1 - s) 2c (1 + 3 k h^2)`` (the tanh form's ``0.5 (1 + t) + 0.5 h (1 - t^2) u'`` with t = 2s - 1)."""
    slope = np.square(h)
    slope *= 6.0 * _GELU_C * _GELU_K
    slope += 2.0 * _GELU_C
    slope *= h
    spread = 1.0 - s
    spread *= s
    slope *= spread
    slope += s
    return slope


class FusedMLPFunction(Function):
    """Fused position-wise MLP: ``act(x W1^T + b1) W2^T + b2`` with act = GELU (tanh form) or ReLU.

    One graph node for two matmuls and the activation, its temporaries updated in place. GELU:
    ``a = 0.5 h (1 + tanh(u)) = h sigmoid(2u)``, ``u = c (h + k h^3)``; its derivative
    ``s + h s (1 - s) 2c (1 + 3 k h^2)`` with ``s = sigmoid(2u)`` (``gelu_kernel``, ``gelu_slope``).
    Biases may be None.
    """

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2, activation="gelu"):
        rows = x.reshape(-1, x.shape[-1])
        h = rows @ w1.T
        if b1 is not None:
            h += b1
        if activation == "gelu":
            a, s = gelu_kernel(h)
            ctx.save_for_backward(rows, w1, w2, h, s, a)
        else:
            a = np.clip(h, 0.0, np.inf, out=h)  # h is this call's own array: ReLU in place (as module 02's)
            ctx.save_for_backward(rows, w1, w2, None, None, a)
        out = a @ w2.T
        if b2 is not None:
            out += b2
        ctx.activation, ctx.shape = activation, x.shape
        return out.reshape(*x.shape[:-1], w2.shape[0])

    @staticmethod
    def backward(ctx, g):
        rows, w1, w2, h, s, a = ctx.saved_tensors
        need_x, need_w1, need_b1, need_w2, need_b2 = ctx.needs_input_grad[:5]
        g2 = g.reshape(-1, g.shape[-1])
        dw2 = g2.T @ a if need_w2 else None
        db2 = _column_sums(g2) if need_b2 else None
        dh = g2 @ w2  # d(activation output), turned into d(pre-activation) in place
        if ctx.activation == "gelu":
            dh *= gelu_slope(h, s)
        else:
            dh *= a > 0
        dw1 = dh.T @ rows if need_w1 else None
        db1 = _column_sums(dh) if need_b1 else None
        dx = (dh @ w1).reshape(ctx.shape) if need_x else None
        return dx, dw1, db1, dw2, db2

    # tito: given
    @staticmethod
    def flops(shapes, kwargs, needs):
        """(forward, backward) FLOPs: two products of the same size; backward dW2, d(hidden), dW1, dx."""
        x, w1 = shapes[0], shapes[1]
        f = 2 * math.prod(x[:-1]) * w1[1] * w1[0]
        return 2 * f, f * (needs[3] + 1 + needs[1] + needs[0])


# ----------------------------------------------------------------------------- the fused twins


def _twin(cls, module):
    """A ``cls`` instance holding ``module``'s state: the same Parameters and children, nothing copied."""
    composed = cls.__bases__[0]
    if not isinstance(module, composed):
        raise TypeError(f"{cls.__name__}.from_module: expected a {composed.__name__}, got {type(module).__name__}")
    twin = cls.__new__(cls)
    twin.__dict__.update(vars(module))
    for registry in ("_parameters", "_modules", "_buffers"):
        twin.__dict__[registry] = OrderedDict(vars(module)[registry])  # own registries, same entries
    return twin


class FusedMultiHeadAttention(MultiHeadAttention):
    """``MultiHeadAttention`` (module 12) whose self-attention runs as one fused node.

    Plain self-attention (no key/value, no weights asked for) runs ``FusedSelfAttention`` on
    the packed projection, or ``FusedCachedAttention`` with a ``layer_cache``; anything else
    (cross-attention, ``need_weights``, a mask together with a cache) is module 12's composed
    path. Same Parameters, same arguments, same results as the module it replaced
    (``from_module``).
    """

    @classmethod
    def from_module(cls, module: MultiHeadAttention) -> FusedMultiHeadAttention:
        """The fused twin of ``module``, sharing its Parameters."""
        return _twin(cls, module)

    def forward(self, query, key=None, value=None, attn_mask=None, is_causal=False, need_weights=False,
                average_attn_weights=True, layer_cache=None):
        fusable = key is None and value is None and not need_weights and (layer_cache is None or attn_mask is None)
        if not fusable:
            return super().forward(query, key, value, attn_mask, is_causal, need_weights, average_attn_weights,
                                   layer_cache)
        self.check_inputs(query, key, value, layer_cache)
        scale = 1.0 / math.sqrt(self.head_dim)
        qkv = self.in_proj(query)
        if layer_cache is not None:
            self.check_decoding(qkv)
            _, k, v = _split_packed(qkv.data, self.num_heads)
            k_all, v_all = layer_cache.update(k, v)
            out = FusedCachedAttention.apply(qkv, k_all, v_all, num_heads=self.num_heads, causal=is_causal,
                                             scale=scale)
            return self.out_proj(out), None
        length = query.shape[1]
        allowed, bias = split_mask("MultiHeadAttention", attn_mask, is_causal, length, length, query.dtype)
        p = self.dropout if self.training else 0.0
        keep = _dropout_keep((query.shape[0], self.num_heads, length, length), p, query.dtype) if p > 0 else None
        out = FusedSelfAttention.apply(qkv, num_heads=self.num_heads, allowed=allowed, bias=bias, scale=scale,
                                       keep=keep)
        return self.out_proj(out), None


class FusedLayerNorm(LayerNorm):
    """``LayerNorm`` (module 13) as one fused node (``FusedLayerNormFunction``), sharing its Parameters."""

    @classmethod
    def from_module(cls, module: LayerNorm) -> FusedLayerNorm:
        """The fused twin of ``module``, sharing its Parameters."""
        return _twin(cls, module)

    def forward(self, x):
        check_normalized("LayerNorm", x, self.normalized_shape)
        return FusedLayerNormFunction.apply(x, self.weight, self.bias, ndim=len(self.normalized_shape), eps=self.eps)


class FusedMLP(MLP):
    """``MLP`` (module 13) as one fused node (``FusedMLPFunction``) then dropout, sharing its Parameters."""

    @classmethod
    def from_module(cls, module: MLP) -> FusedMLP:
        """The fused twin of ``module``, sharing its Parameters."""
        return _twin(cls, module)

    def forward(self, x):
        out = FusedMLPFunction.apply(x, self.fc.weight, self.fc.bias, self.proj.weight, self.proj.bias,
                                     activation=self.activation)
        return self.drop(out)


_TWINS = {MultiHeadAttention: FusedMultiHeadAttention, LayerNorm: FusedLayerNorm, MLP: FusedMLP}


def _fused(module):
    """The fused twin of a composed module, or None (exact types only: a twin is not fused again)."""
    twin = _TWINS.get(type(module))
    return None if twin is None else twin.from_module(module)


def accelerate(model):
    """Switch fusion on: every ``MultiHeadAttention``, ``LayerNorm`` and ``MLP`` of ``model`` becomes its fused twin.

    The swap is in place (as module 15's ``quantize_model`` swaps layers, but without a copy):
    each twin holds the very same Parameter objects as the module it replaces, so parameter
    names, ``state_dict`` and the numbers computed are unchanged, and an optimizer built
    before or after ``accelerate`` updates the same Parameters. Returns ``model`` (or, if
    ``model`` is itself one of the three, its twin).

    Example:
        >>> from tinytorch.core.transformers import GPT, GPTConfig
        >>> from tinytorch.perf.fusion import accelerate
        >>> gpt = GPT(GPTConfig(vocab_size=7, context_length=8, n_layer=1, n_head=2, n_embd=8))
        >>> weight = gpt.blocks[0].attn.in_proj.weight
        >>> gpt = accelerate(gpt)
        >>> type(gpt.blocks[0].attn).__name__, gpt.blocks[0].attn.in_proj.weight is weight
        ('FusedMultiHeadAttention', True)
    """
    if not isinstance(model, Module):
        raise TypeError(f"accelerate: model must be a Module, got {type(model).__name__}")
    twin = _fused(model)
    if twin is not None:
        return twin
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            twin = _fused(child)
            if twin is not None:
                parent.add_module(name, twin)
    return model
