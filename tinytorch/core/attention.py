"""Module 12: attention, letting every position look at every other position it may see.

Scaled dot-product attention (Vaswani et al. 2017)::

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d) + mask) V

Each query scores every key, the scores become weights that sum to 1 over the keys, and the
output is the weighted mix of the values. Conventions follow
``torch.nn.functional.scaled_dot_product_attention``:

* a boolean ``attn_mask`` is True where a query **may attend** to a key; a float mask is
  added to the scores;
* ``is_causal=True`` lets query i see keys 0..i only (top-left aligned, as torch);
* masked keys get **exactly zero** weight (their score is -inf before the softmax);
* a query whose keys are **all** masked gets all-zero weights, so its output is zero and no
  gradient flows through it (as recent PyTorch, 2.5 and later, does; older versions gave
  NaN). A zero row is the useful answer for padded batches.

Two implementations of the same maths, kept side by side:

* ``ScaledDotProductAttention``: one fused ``Function`` (QK^T, scale, mask, softmax, dropout,
  @V) with a hand-written backward. One graph node instead of eight, no intermediate Tensors:
  this is what ``scaled_dot_product_attention`` and ``MultiHeadAttention`` run.
* ``scaled_dot_product_attention_composed``: the same attention composed from Tensor ops
  (``@``, ``*``, ``masked_fill``, ``softmax``), differentiated by autograd. It is the
  readable definition the fused version is tested against, and what ``MultiHeadAttention``
  uses when asked for differentiable attention weights (``need_weights=True``).

``MultiHeadAttention`` projects its input into ``num_heads`` independent heads, runs them all
in one batched attention (heads are a batch dimension: no loop over heads or positions) and
mixes them back with an output projection.
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch.core.activations import softmax
from tinytorch.core.autograd import Function
from tinytorch.core.layers import Linear, Module
from tinytorch.core.random import rng
from tinytorch.core.tensor import Tensor, where

__all__ = ["scaled_dot_product_attention", "scaled_dot_product_attention_composed", "causal_mask",
           "ScaledDotProductAttention", "PackedSelfAttention", "CachedSelfAttention", "MultiHeadAttention"]


def causal_mask(query_len: int, key_len: int | None = None, start: int = 0) -> np.ndarray:
    """Boolean (query_len, key_len) mask: query i may attend key j iff ``j <= start + i``.

    ``start = 0`` with equal lengths is the usual lower-triangular mask. When decoding with a
    KV cache, ``start`` tokens are already cached and the new queries are positions
    ``start .. start + query_len - 1`` among ``key_len = start + query_len`` keys.

    Example:
        >>> causal_mask(3).astype(int)
        array([[1, 0, 0],
               [1, 1, 0],
               [1, 1, 1]])
        >>> causal_mask(1, 4, start=3).astype(int)
        array([[1, 1, 1, 1]])
    """
    key_len = query_len if key_len is None else key_len
    return np.tri(query_len, key_len, k=start, dtype=bool)


def _scale(q_shape, scale):
    return 1.0 / math.sqrt(q_shape[-1]) if scale is None else float(scale)


def _check_shapes(q, k, v):
    """q (..., L, E), k (..., S, E), v (..., S, Ev) with broadcastable batch dims; one clear error otherwise."""
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"scaled_dot_product_attention: q, k, v need shape (..., seq, dim), got "
                         f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"scaled_dot_product_attention: query {tuple(q.shape)} and key {tuple(k.shape)} must share the "
            f"last dim, key and value {tuple(v.shape)} the sequence dim")


def _masks(attn_mask, is_causal, query_len, key_len, dtype):
    """Split the caller's mask into (allowed: bool or None, bias: float or None) arrays."""
    allowed = bias = None
    if attn_mask is not None:
        mask = np.asarray(getattr(attn_mask, "data", attn_mask))
        if mask.dtype == np.bool_:
            allowed = mask
        elif mask.dtype.kind == "f":
            bias = mask.astype(dtype, copy=False)
        else:
            raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool (True = may attend) "
                            f"or float (added to the scores), got dtype {mask.dtype}")
        if mask.ndim < 2 or mask.shape[-2] not in (1, query_len) or mask.shape[-1] not in (1, key_len):
            raise ValueError(f"scaled_dot_product_attention: attn_mask shape {mask.shape} does not broadcast "
                             f"to (..., {query_len}, {key_len})")
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: pass either attn_mask or is_causal=True, not both "
                             "(as torch); combine them into one boolean mask instead")
        allowed = causal_mask(query_len, key_len)
    return allowed, bias


# ----------------------------------------------------------------------------- the fused primitive


def _softmax_rows(scores, allowed):
    """Masked softmax over the last axis, in place on ``scores``: masked entries are exactly 0,
    rows with no allowed entry are all 0 (not NaN)."""
    if allowed is not None:
        np.copyto(scores, -np.inf, where=~allowed)
    top = scores.max(axis=-1, keepdims=True)
    if allowed is not None:
        top[~np.isfinite(top)] = 0.0  # a fully masked row: exp(-inf - 0) = 0 everywhere
    scores -= top
    np.exp(scores, out=scores)
    total = scores.sum(axis=-1, keepdims=True)
    if allowed is not None:
        total[total == 0] = 1.0
    scores /= total
    return scores


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
    """The forward kernel on arrays (..., L, E), (..., S, E), (..., S, Ev): returns (output, weights)."""
    scores = np.matmul(q, np.swapaxes(k, -1, -2))
    scores *= scale
    if bias is not None:
        scores = scores + bias
    weights = _softmax_rows(scores, allowed)
    return np.matmul(weights if keep is None else weights * keep, v), weights


def _attend_backward(g, q, k, v, weights, keep, out, scale, need=(True, True, True)):
    """The backward kernel: (dq, dk, dv) from the output gradient g (None where not needed)."""
    dv = None
    if need[2]:
        dv = np.matmul(np.swapaxes(weights if keep is None else weights * keep, -1, -2), g)
    dq = dk = None
    if need[0] or need[1]:
        ds = np.matmul(g, np.swapaxes(v, -1, -2))  # dW, then dP, then dS, in place
        if keep is not None:
            ds *= keep
        ds -= (g * out).sum(axis=-1, keepdims=True)
        ds *= weights
        ds *= scale
        dq = np.matmul(ds, k) if need[0] else None
        dk = np.matmul(np.swapaxes(ds, -1, -2), q) if need[1] else None
    return dq, dk, dv


class ScaledDotProductAttention(Function):
    """Fused softmax(q k^T * scale + bias, masked) [dropout] @ v, with its backward written out.

    Forward keeps the weights P (before dropout) and the output O. Backward, with
    W = P * keep (dropout): dV = W^T dO; dW = dO V^T; dP = dW * keep;
    dS = P * (dP - rowsum(dP * P)) (the softmax Jacobian, zero wherever P is zero: masked
    keys and fully masked rows get no gradient); dQ = dS K * scale; dK = dS^T Q * scale.
    The row sums use the identity rowsum(dP * P) = rowsum(dO * O) (as FlashAttention does),
    which reads the (L, Ev) output instead of building another (L, S) array.
    """

    @staticmethod
    def forward(ctx, q, k, v, allowed=None, bias=None, scale=1.0, keep=None):
        out, weights = _attend(q, k, v, allowed, bias, scale, keep)
        ctx.save_for_backward(q, k, v, weights, keep, out)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx, g):
        q, k, v, weights, keep, out = ctx.saved_tensors
        return _attend_backward(g, q, k, v, weights, keep, out, ctx.scale, ctx.needs_input_grad[:3])


class PackedSelfAttention(Function):
    """Self-attention straight from the packed projection: qkv (N, T, 3E) -> heads merged (N, T, E).

    The same kernels as ``ScaledDotProductAttention``; splitting q, k, v and the heads, and
    merging the heads back, are views and one copy inside this one node, instead of seven
    graph nodes (reshape, permute, three slices, permute, reshape) whose backward passes
    would allocate and add three zero-filled (3, N, heads, T, E/heads) gradients.
    """

    @staticmethod
    def forward(ctx, qkv, num_heads=1, allowed=None, bias=None, scale=1.0, keep=None):
        q, k, v = _split_packed(qkv, num_heads)
        out, weights = _attend(q, k, v, allowed, bias, scale, keep)
        ctx.save_for_backward(q, k, v, weights, keep, out)
        ctx.scale = scale
        return _merge_heads(out)

    @staticmethod
    def backward(ctx, g):
        q, k, v, weights, keep, out = ctx.saved_tensors
        n, h, t, d = q.shape
        grads = _attend_backward(g.reshape(n, t, h, d).transpose(0, 2, 1, 3), q, k, v, weights, keep, out,
                                 ctx.scale)
        packed = np.empty((n, t, 3, h, d), dtype=g.dtype)
        for i, grad in enumerate(grads):
            packed[:, :, i] = grad.transpose(0, 2, 1, 3)
        return packed.reshape(n, t, 3 * h * d)


class CachedSelfAttention(Function):
    """Self-attention of T new positions over a KV cache, straight from the packed projection.

    qkv (N, T, 3E) -> heads merged (N, T, E). The new keys and values are appended to the
    cache (module 17's ``update(layer, k, v)``; the cache's ``length`` positions come first)
    and the new queries attend over every cached position: position ``length + i`` sees keys
    ``0 .. length + i``. One graph node instead of the general path's eight; a single new
    position (the usual decoding step) needs no mask at all. The cached keys and values are
    stored data, not part of the graph: backward sends a gradient to the queries only (the
    key and value slots of the packed gradient are zero), as the general path does.
    """

    @staticmethod
    def forward(ctx, qkv, num_heads=1, cache=None, layer=0, causal=True, scale=1.0, keep=None):
        q, k, v = _split_packed(qkv, num_heads)
        t, start = qkv.shape[1], int(cache.length)
        k_all, v_all = cache.update(layer, k, v)
        allowed = causal_mask(t, start + t, start=start) if causal and t > 1 else None
        out, weights = _attend(q, k_all, v_all, allowed, None, scale, keep)
        ctx.save_for_backward(q, k_all, v_all, weights, keep, out)
        ctx.scale = scale
        return _merge_heads(out)

    @staticmethod
    def backward(ctx, g):
        q, k, v, weights, keep, out = ctx.saved_tensors
        n, h, t, d = q.shape
        dq, _, _ = _attend_backward(g.reshape(n, t, h, d).transpose(0, 2, 1, 3), q, k, v, weights, keep, out,
                                    ctx.scale, need=(True, False, False))
        packed = np.zeros((n, t, 3, h, d), dtype=g.dtype)
        packed[:, :, 0] = dq.transpose(0, 2, 1, 3)
        return packed.reshape(n, t, 3 * h * d)


def _dropout_keep(shape, p, dtype):
    """Inverted-dropout multiplier: 0 with probability p, else 1/(1-p) (framework generator)."""
    return (rng().random(shape, dtype=np.float32) >= p).astype(dtype) * np.asarray(1.0 / (1.0 - p), dtype)


def _check_dropout(p):
    if not 0.0 <= p < 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1), got {p}")


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """softmax(Q K^T / sqrt(d) + mask) V over the last two dims, as ``torch.nn.functional.scaled_dot_product_attention``.

    One fused graph node (``ScaledDotProductAttention``). Leading dims (batch, heads) broadcast.

    Args:
        query: ``(..., L, E)`` Tensor.
        key: ``(..., S, E)`` Tensor.
        value: ``(..., S, Ev)`` Tensor.
        attn_mask: optional bool mask, True = may attend, or float mask added to the scores;
            broadcastable to ``(..., L, S)``.
        dropout_p: dropout probability on the attention weights (pass 0.0 in evaluation, as torch).
        is_causal: query i sees keys 0..i only (top-left aligned); not together with ``attn_mask``.
        scale: score scale, default ``1/sqrt(E)``.

    Shape:
        - Output: ``(..., L, Ev)``.

    Example:
        >>> q = Tensor(np.ones((2, 4, 3, 8), dtype=np.float32))
        >>> scaled_dot_product_attention(q, q, q, is_causal=True).shape
        (2, 4, 3, 8)
    """
    _check_shapes(query, key, value)
    _check_dropout(dropout_p)
    allowed, bias = _masks(attn_mask, is_causal, query.shape[-2], key.shape[-2], query.dtype)
    scores_shape = np.broadcast_shapes(query.shape[:-2], key.shape[:-2]) + (query.shape[-2], key.shape[-2])
    keep = _dropout_keep(scores_shape, dropout_p, query.dtype) if dropout_p > 0 else None
    return ScaledDotProductAttention.apply(query, key, value, allowed=allowed, bias=bias,
                                           scale=_scale(query.shape, scale), keep=keep)


def scaled_dot_product_attention_composed(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                          scale=None, return_weights=False):
    """The same attention composed from Tensor ops and differentiated by autograd (the reference).

    ``scores = (q @ k^T) * scale (+ float mask)``, masked scores set to -inf with
    ``masked_fill``, ``softmax`` over the keys, then ``@ v``. Fully masked rows are given zero
    weights explicitly (a softmax over all -inf would be NaN). With ``return_weights=True``
    returns ``(output, weights)``; the weights are part of the graph (differentiable).

    Example:
        >>> q = Tensor(np.ones((1, 2, 4), dtype=np.float32))
        >>> out, w = scaled_dot_product_attention_composed(q, q, q, is_causal=True, return_weights=True)
        >>> w.data[0].tolist()
        [[1.0, 0.0], [0.5, 0.5]]
    """
    _check_shapes(query, key, value)
    _check_dropout(dropout_p)
    allowed, bias = _masks(attn_mask, is_causal, query.shape[-2], key.shape[-2], query.dtype)
    scores = (query @ key.transpose(-2, -1)) * _scale(query.shape, scale)
    if bias is not None:
        scores = scores + Tensor(bias)
    if allowed is not None:
        any_allowed = allowed.any(axis=-1, keepdims=True)
        # -inf where masked; a fully masked row is filled with 0 instead (uniform, then zeroed below)
        scores = scores.masked_fill(~allowed & any_allowed, -np.inf).masked_fill(~any_allowed, 0.0)
    weights = softmax(scores, dim=-1)
    if allowed is not None and not allowed.any(axis=-1).all():
        weights = where(np.broadcast_to(allowed.any(axis=-1, keepdims=True), weights.shape), weights, 0.0)
    mixed = weights
    if dropout_p > 0:
        mixed = weights * Tensor(_dropout_keep(weights.shape, dropout_p, weights.dtype))
    out = mixed @ value
    return (out, weights) if return_weights else out


# ----------------------------------------------------------------------------- multi-head attention


class MultiHeadAttention(Module):
    """Multi-head attention: ``MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W_o``,
    ``head_i = Attention(Q W_q^i, K W_k^i, V W_v^i)``.

    As ``torch.nn.MultiheadAttention`` with ``batch_first=True``: inputs are (batch, seq,
    embed). The query, key and value projections are one ``Linear(embed_dim, 3 * embed_dim)``
    (``in_proj``; its weight is torch's ``in_proj_weight``); ``out_proj`` mixes the heads. All
    heads run as one batched attention (heads are a batch dimension); plain self-attention
    runs as one fused node straight from the packed projection (``PackedSelfAttention``).

    ``forward`` returns a tuple ``(output, weights)`` as torch does. Unlike torch,
    ``need_weights`` defaults to False: the fused path never materialises differentiable
    weights, and asking for them switches to the composed form (slower; for inspection).

    Args:
        embed_dim: model width E; split evenly into ``num_heads`` heads of E / num_heads.
        num_heads: number of heads.
        dropout: dropout on the attention weights while training (default 0.0).
        bias: learn biases in the projections (default True).

    Shape:
        - query: ``(N, L, E)``; key, value: ``(N, S, E)`` (default: the query, self-attention).
        - attn_mask: bool (True = may attend) or float, broadcastable to ``(N, num_heads, L, S)``.
        - Output: ``(N, L, E)``; weights ``(N, L, S)`` averaged over heads, or
          ``(N, num_heads, L, S)`` with ``average_attn_weights=False``.

    Example:
        >>> mha = MultiHeadAttention(embed_dim=16, num_heads=4)
        >>> x = Tensor(np.zeros((2, 5, 16), dtype=np.float32))
        >>> out, weights = mha(x, is_causal=True, need_weights=True, average_attn_weights=False)
        >>> out.shape, weights.shape
        ((2, 5, 16), (2, 4, 5, 5))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if num_heads < 1 or embed_dim % num_heads:
            raise ValueError(f"MultiHeadAttention: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        _check_dropout(dropout)
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.dropout = dropout
        self.in_proj = Linear(embed_dim, 3 * embed_dim, bias=bias)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias)

    def _heads(self, x):
        """(N, T, E) -> (N, heads, T, head_dim)."""
        n, t, _ = x.shape
        return x.reshape(n, t, self.num_heads, self.head_dim).transpose(1, 2)

    def _packed_self_attention(self, x, attn_mask, is_causal, dropout_p):
        """Self-attention in one fused node from the packed projection (the training fast path)."""
        qkv = self.in_proj(x)
        length = x.shape[1]
        allowed, bias = _masks(attn_mask, is_causal, length, length, x.dtype)
        keep = None
        if dropout_p > 0:
            keep = _dropout_keep((x.shape[0], self.num_heads, length, length), dropout_p, x.dtype)
        return PackedSelfAttention.apply(qkv, num_heads=self.num_heads, allowed=allowed, bias=bias,
                                         scale=1.0 / math.sqrt(self.head_dim), keep=keep)

    def _cached_self_attention(self, x, is_causal, kv_cache, layer, dropout_p):
        """Self-attention over a KV cache in one fused node (the decoding fast path)."""
        qkv = self.in_proj(x)
        keep = None
        if dropout_p > 0:
            keep = _dropout_keep((x.shape[0], self.num_heads, x.shape[1], kv_cache.length + x.shape[1]),
                                 dropout_p, x.dtype)
        return CachedSelfAttention.apply(qkv, num_heads=self.num_heads, cache=kv_cache, layer=layer,
                                         causal=is_causal, scale=1.0 / math.sqrt(self.head_dim), keep=keep)

    def _project(self, query, key, value):
        """q, k, v in head layout; one matmul for self-attention, slices of in_proj otherwise."""
        e = self.embed_dim
        if key is None and value is None:
            n, t, _ = query.shape
            qkv = self.in_proj(query).reshape(n, t, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
            return qkv[0], qkv[1], qkv[2]
        key = query if key is None else key
        value = key if value is None else value
        w, b = self.in_proj.weight, self.in_proj.bias
        parts = []
        for i, x in enumerate((query, key, value)):
            y = x @ w[i * e:(i + 1) * e].transpose(0, 1)
            parts.append(self._heads(y if b is None else y + b[i * e:(i + 1) * e]))
        return tuple(parts)

    def forward(self, query, key=None, value=None, attn_mask=None, is_causal=False, need_weights=False,
                average_attn_weights=True, kv_cache=None, layer=0):
        """Attend from ``query`` to ``key``/``value`` (default: to itself); returns ``(output, weights or None)``.

        Args:
            query: ``(N, L, E)`` Tensor.
            key, value: ``(N, S, E)`` Tensors; omit both for self-attention.
            attn_mask: bool mask (True = may attend) or float mask added to the scores.
            is_causal: each query sees only keys at its own position or before. With a
                ``kv_cache`` the offset is the number of cached positions.
            need_weights: also return the attention weights (computed with the composed,
                differentiable form; slower, for inspection and plots).
            average_attn_weights: average the returned weights over heads (torch's default).
            kv_cache: optional cache (module 17's ``KVCache`` interface: ``length``,
                ``update(layer, k, v) -> (k_all, v_all)``); self-attention only. The new
                keys/values are appended and the queries attend to all cached positions.
            layer: which layer's slot of the cache this attention uses.

        Returns:
            ``(output, weights)``: output ``(N, L, E)``; weights as described in the class
            docstring, or ``None`` unless ``need_weights``.
        """
        if query.ndim != 3 or query.shape[-1] != self.embed_dim:
            raise ValueError(f"MultiHeadAttention: expected query of shape (batch, seq, {self.embed_dim}), "
                             f"got {tuple(query.shape)}")
        p = self.dropout if self.training else 0.0
        if key is None and value is None and attn_mask is None and not need_weights:
            if kv_cache is None:
                return self.out_proj(self._packed_self_attention(query, attn_mask, is_causal, p)), None
            return self.out_proj(self._cached_self_attention(query, is_causal, kv_cache, layer, p)), None
        q, k, v = self._project(query, key, value)
        if kv_cache is not None:
            if key is not None or value is not None:
                raise ValueError("MultiHeadAttention: kv_cache works with self-attention only (no key/value)")
            start = kv_cache.length
            k_all, v_all = kv_cache.update(layer, k.data, v.data)
            k, v = Tensor(k_all), Tensor(v_all)
            if is_causal:
                if attn_mask is not None:
                    raise ValueError("MultiHeadAttention: pass either attn_mask or is_causal=True, not both")
                attn_mask, is_causal = causal_mask(q.shape[-2], k.shape[-2], start=start), False
        if need_weights:
            out, weights = scaled_dot_product_attention_composed(
                q, k, v, attn_mask=attn_mask, dropout_p=p, is_causal=is_causal, return_weights=True)
            if average_attn_weights:
                weights = weights.mean(dim=1)
        else:
            out, weights = scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p,
                                                        is_causal=is_causal), None
        n, _, length, _ = out.shape
        out = out.transpose(1, 2).reshape(n, length, self.embed_dim)
        return self.out_proj(out), weights

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"
