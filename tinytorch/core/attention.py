"""Module 12: attention, letting every position look at every other position it may see.

Scaled dot-product attention (Vaswani et al. 2017)::

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d) + mask) V

Each query scores every key, the scores become weights that sum to 1 over the keys, and the
output is the weighted mix of the values. It is composed from what the earlier modules built:
two matrix products and ``masked_fill`` (module 01), module 02's ``softmax``, module 03's
``dropout``; module 05's autograd differentiates it, so there is no backward to write here.
Conventions follow ``torch.nn.functional.scaled_dot_product_attention``:

* a boolean ``attn_mask`` is True where a query **may attend** to a key; a float mask is
  added to the scores;
* ``is_causal=True`` lets query i see keys 0..i only (top-left aligned, as torch);
* masked keys get **exactly zero** weight (their score is -inf before the softmax);
* a query whose keys are **all** masked gets all-zero weights, so its output is zero and no
  gradient flows through it (as recent PyTorch, 2.5 and later, does; older versions gave
  NaN). A zero row is the useful answer for padded batches.

``MultiHeadAttention`` projects its input into ``num_heads`` independent heads, runs them all
in one batched attention (heads are a batch dimension: no loop over heads or positions) and
mixes them back with an output projection. It can attend over keys and values computed in
earlier calls: the caller passes a per-layer cache (``layer_cache``, GPT-2's ``layer_past``)
whose ``update(k_new, v_new)`` stores the new positions and returns every key and value so
far. Module 17 (memoization) writes such a cache; this module only uses it.

Module 18 (acceleration) has fused twins of this attention, tested equal to it.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinytorch.core.activations import softmax
from tinytorch.core.autograd import is_grad_enabled
from tinytorch.core.layers import Linear, Module, dropout
from tinytorch.core.tensor import Tensor

__all__ = ["scaled_dot_product_attention", "causal_mask", "MultiHeadAttention"]


def causal_mask(query_len: int, key_len: int | None = None, start: int = 0) -> np.ndarray:
    """Boolean (query_len, key_len) mask: query i may attend key j iff ``j <= start + i``.

    ``start = 0`` with equal lengths is the usual lower-triangular mask. When decoding with a
    cache, ``start`` keys are already cached and the new queries are positions
    ``start .. start + query_len - 1`` among ``key_len = start + query_len`` keys.

    Example:
        >>> from tinytorch.core.attention import causal_mask
        >>> causal_mask(3).astype(int)
        array([[1, 0, 0],
               [1, 1, 0],
               [1, 1, 1]])
        >>> causal_mask(1, 4, start=3).astype(int)
        array([[1, 1, 1, 1]])
    """
    key_len = query_len if key_len is None else key_len
    for name, value, low in (("query_len", query_len, 1), ("key_len", key_len, 1), ("start", start, 0)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"causal_mask: {name} must be an int >= {low}, got {value!r}")
    return np.tri(query_len, key_len, k=start, dtype=bool)


# ----------------------------------------------------------------------------- checks


# tito: given
def _check_shapes(q, k, v):
    """q (..., L, E), k (..., S, E), v (..., S, Ev) with broadcastable batch dims; one clear error otherwise."""
    if not all(isinstance(t, Tensor) for t in (q, k, v)):
        kinds = ", ".join(type(t).__name__ for t in (q, k, v))
        raise TypeError(f"scaled_dot_product_attention: query, key and value must be Tensors, got {kinds}")
    if any(t.dtype.kind != "f" for t in (q, k, v)):
        raise TypeError(f"scaled_dot_product_attention: query, key and value must be floating point, got "
                        f"{q.dtype}, {k.dtype}, {v.dtype}")
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"scaled_dot_product_attention: q, k, v need shape (..., seq, dim), got "
                         f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"scaled_dot_product_attention: query {tuple(q.shape)} and key {tuple(k.shape)} must share the "
            f"last dim, key and value {tuple(v.shape)} the sequence dim")
    try:
        np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ValueError(f"scaled_dot_product_attention: the batch dims of query {tuple(q.shape)}, key "
                         f"{tuple(k.shape)} and value {tuple(v.shape)} do not broadcast") from None


# tito: given
def _check_probability(caller: str, name: str, p) -> float:
    """A dropout probability in [0, 1), as a float; one clear error otherwise."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p < 1.0:
        raise ValueError(f"{caller}: {name} must be a number in [0, 1), got {p!r}")
    return float(p)


# tito: given
def _check_scale(scale, head_dim: int) -> float:
    """The score scale: 1/sqrt(head_dim) by default, else a finite number."""
    if scale is None:
        return 1.0 / math.sqrt(head_dim)
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not math.isfinite(scale):
        raise ValueError(f"scaled_dot_product_attention: scale must be a finite number or None, got {scale!r}")
    return float(scale)


# tito: given
def split_mask(caller: str, attn_mask, is_causal: bool, query_len: int, key_len: int, dtype, start: int = 0):
    """The caller's mask as ``(allowed, bias)`` arrays: a bool mask (True = may attend) or a float mask
    added to the scores (either may be None), with one clear error for anything else. A causal
    mask starts at ``start`` (the positions already cached, see ``causal_mask``).

    Example:
        >>> import numpy as np
        >>> from tinytorch.core.attention import split_mask
        >>> allowed, bias = split_mask("attention", None, True, 2, 2, np.float32)
        >>> allowed.astype(int).tolist(), bias
        ([[1, 0], [1, 1]], None)
    """
    if not isinstance(is_causal, (bool, np.bool_)):
        raise TypeError(f"{caller}: is_causal must be True or False, got {is_causal!r}")
    allowed = bias = None
    if attn_mask is not None:
        mask = np.asarray(getattr(attn_mask, "data", attn_mask))
        if mask.dtype == np.bool_:
            allowed = mask
        elif mask.dtype.kind == "f":
            bias = mask.astype(dtype, copy=False)
        else:
            raise TypeError(f"{caller}: attn_mask must be bool (True = may attend) or float (added to the scores), "
                            f"got dtype {mask.dtype}")
        if mask.ndim < 2 or mask.shape[-2] not in (1, query_len) or mask.shape[-1] not in (1, key_len):
            raise ValueError(f"{caller}: attn_mask shape {mask.shape} does not broadcast to (..., {query_len}, "
                             f"{key_len})")
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{caller}: pass either attn_mask or is_causal=True, not both (as torch); "
                             "combine them into one boolean mask instead")
        allowed = causal_mask(query_len, key_len, start)
    return allowed, bias


# ----------------------------------------------------------------------------- attention


def attend(query, key, value, allowed=None, bias=None, dropout_p=0.0, scale=1.0):
    """``(output, weights)`` of attention with a bool mask ``allowed`` and a float ``bias`` (arrays or None).

    The maths of ``scaled_dot_product_attention``, without its argument checks:
    ``scores = (q @ k^T) * scale (+ bias)``, the scores a query may not see set to -inf with
    ``masked_fill``, ``softmax`` over the keys, dropout on the weights, then ``@ v``. A query
    whose keys are all masked would be a softmax over nothing but -inf (NaN): its scores are
    filled with 0 instead and its weights set to 0 afterwards. The weights are part of the
    graph: differentiable, like the output.
    """
    scores = (query @ key.transpose(-2, -1)) * scale
    if bias is not None:
        scores = scores + Tensor(bias)
    empty = None  # queries that may attend no key at all
    if allowed is not None and not allowed.all():  # a mask that allows everything changes nothing
        scores = scores.masked_fill(~allowed, -np.inf)
        anything = allowed.any(axis=-1, keepdims=True)
        if not anything.all():
            empty = ~anything
            scores = scores.masked_fill(empty, 0.0)
    weights = softmax(scores, dim=-1)
    if empty is not None:
        weights = weights.masked_fill(empty, 0.0)
    return dropout(weights, dropout_p) @ value, weights


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """softmax(Q K^T / sqrt(d) + mask) V over the last two dims, as ``torch.nn.functional.scaled_dot_product_attention``.

    Composed from Tensor ops (matmul, ``masked_fill``, module 02's ``softmax``) and
    differentiated by autograd. Leading dims (batch, heads) broadcast.

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
        >>> import numpy as np
        >>> from tinytorch.core.attention import scaled_dot_product_attention
        >>> from tinytorch.core.tensor import Tensor
        >>> q = Tensor(np.ones((2, 4, 3, 8), dtype=np.float32))
        >>> scaled_dot_product_attention(q, q, q, is_causal=True).shape
        (2, 4, 3, 8)
    """
    caller = "scaled_dot_product_attention"
    _check_shapes(query, key, value)
    p = _check_probability(caller, "dropout_p", dropout_p)
    allowed, bias = split_mask(caller, attn_mask, is_causal, query.shape[-2], key.shape[-2], query.dtype)
    out, _ = attend(query, key, value, allowed, bias, p, _check_scale(scale, query.shape[-1]))
    return out


# ----------------------------------------------------------------------------- multi-head attention


# tito: given
def _check_size(caller: str, name: str, value) -> int:
    """A positive int size (bools refused), with one clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{caller}: {name} must be a positive int, got {value!r}")
    return int(value)


class MultiHeadAttention(Module):
    """Multi-head attention: ``MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W_o``,
    ``head_i = Attention(Q W_q^i, K W_k^i, V W_v^i)``.

    As ``torch.nn.MultiheadAttention`` with ``batch_first=True``: inputs are (batch, seq,
    embed). The query, key and value projections are one ``Linear(embed_dim, 3 * embed_dim)``
    (``in_proj``; its weight is torch's ``in_proj_weight``); ``out_proj`` mixes the heads. All
    heads run as one batched attention: heads are a batch dimension.

    ``forward`` returns a tuple ``(output, weights)`` as torch does. Unlike torch,
    ``need_weights`` defaults to False (the weights are only for inspection and plots).

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
        >>> import numpy as np
        >>> from tinytorch.core.attention import MultiHeadAttention
        >>> from tinytorch.core.tensor import Tensor
        >>> mha = MultiHeadAttention(embed_dim=16, num_heads=4)
        >>> x = Tensor(np.zeros((2, 5, 16), dtype=np.float32))
        >>> out, weights = mha(x, is_causal=True, need_weights=True, average_attn_weights=False)
        >>> out.shape, weights.shape
        ((2, 5, 16), (2, 4, 5, 5))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        embed_dim = _check_size("MultiHeadAttention", "embed_dim", embed_dim)
        num_heads = _check_size("MultiHeadAttention", "num_heads", num_heads)
        if embed_dim % num_heads:
            raise ValueError(f"MultiHeadAttention: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.dropout = _check_probability("MultiHeadAttention", "dropout", dropout)
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"MultiHeadAttention: bias must be True or False, got {bias!r}")
        self.in_proj = Linear(embed_dim, 3 * embed_dim, bias=bias)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias)

    def split_heads(self, x):
        """(N, T, E) -> (N, heads, T, head_dim): each head a batch of its own."""
        n, t, _ = x.shape
        return x.reshape(n, t, self.num_heads, self.head_dim).transpose(1, 2)

    def merge_heads(self, x):
        """(N, heads, T, head_dim) -> (N, T, E): the heads side by side again."""
        n, _, t, _ = x.shape
        return x.transpose(1, 2).reshape(n, t, self.embed_dim)

    def project(self, query, key=None, value=None):
        """q, k, v in head layout: one packed matmul for self-attention, each third of ``in_proj`` otherwise."""
        if key is None and value is None:
            n, t, _ = query.shape
            qkv = self.in_proj(query).reshape(n, t, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
            return qkv[0], qkv[1], qkv[2]
        key = query if key is None else key
        value = key if value is None else value
        e, weight, bias = self.embed_dim, self.in_proj.weight, self.in_proj.bias
        parts = []
        for i, x in enumerate((query, key, value)):
            y = x @ weight[i * e:(i + 1) * e].transpose(0, 1)
            parts.append(self.split_heads(y if bias is None else y + bias[i * e:(i + 1) * e]))
        return tuple(parts)

    # tito: given
    def check_inputs(self, query, key, value, layer_cache):
        """One clear error for inputs this attention cannot take."""
        for name, x in (("query", query), ("key", key), ("value", value)):
            if x is not None and (not isinstance(x, Tensor) or x.ndim != 3 or x.shape[-1] != self.embed_dim):
                shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
                raise ValueError(f"MultiHeadAttention: expected {name} of shape (batch, seq, {self.embed_dim}), "
                                 f"got {shape}")
        if key is not None and value is not None and key.shape[:2] != value.shape[:2]:
            raise ValueError(f"MultiHeadAttention: key {tuple(key.shape)} and value {tuple(value.shape)} must share "
                             f"batch and sequence dims")
        if layer_cache is not None:
            if key is not None or value is not None:
                raise ValueError("MultiHeadAttention: layer_cache works with self-attention only (no key/value)")
            if not (hasattr(layer_cache, "update") and hasattr(layer_cache, "get_seq_length")):
                raise TypeError(f"MultiHeadAttention: layer_cache must have get_seq_length() and update(k, v) (a "
                                f"layer of module 17's KVCache), got {type(layer_cache).__name__}")

    # tito: given
    @staticmethod
    def check_decoding(projected):
        """A layer cache stores arrays: refuse it while a graph is recorded (gradients would silently stop)."""
        if is_grad_enabled() and projected.requires_grad:
            raise RuntimeError("MultiHeadAttention: layer_cache is for decoding under no_grad(): cached keys "
                               "and values are stored arrays, no gradient flows through them")

    def forward(self, query, key=None, value=None, attn_mask=None, is_causal=False, need_weights=False,
                average_attn_weights=True, layer_cache=None):
        """Attend from ``query`` to ``key``/``value`` (default: to itself); returns ``(output, weights or None)``.

        Args:
            query: ``(N, L, E)`` Tensor.
            key, value: ``(N, S, E)`` Tensors; omit both for self-attention.
            attn_mask: bool mask (True = may attend) or float mask added to the scores.
            is_causal: each query sees only keys at its own position or before; with a
                ``layer_cache`` the query positions start after the cached ones.
            need_weights: also return the attention weights.
            average_attn_weights: average the returned weights over heads (torch's default).
            layer_cache: optional per-layer cache of earlier keys and values, for decoding
                under ``no_grad`` (self-attention only). Its ``get_seq_length()`` positions come
                first; ``update(k_new, v_new)`` stores this call's keys and values, arrays of
                shape ``(N, heads, L, head_dim)``, and returns all of them so far,
                ``(N, heads, cached + L, head_dim)``.

        Returns:
            ``(output, weights)``: output ``(N, L, E)``; weights as described in the class
            docstring, or ``None`` unless ``need_weights``.
        """
        self.check_inputs(query, key, value, layer_cache)
        q, k, v = self.project(query, key, value)
        start = 0
        if layer_cache is not None:  # keys and values of the earlier positions come from the cache
            self.check_decoding(k)
            start = layer_cache.get_seq_length()
            k_all, v_all = layer_cache.update(k.data, v.data)
            k, v = Tensor(k_all), Tensor(v_all)
        allowed, bias = split_mask("MultiHeadAttention", attn_mask, is_causal, q.shape[-2], k.shape[-2], q.dtype,
                                   start)
        p = self.dropout if self.training else 0.0
        out, weights = attend(q, k, v, allowed, bias, p, 1.0 / math.sqrt(self.head_dim))
        if not need_weights:
            weights = None
        elif average_attn_weights:
            weights = weights.mean(dim=1)
        return self.out_proj(self.merge_heads(out)), weights

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"
