"""Module 17, memoization: the key/value cache that makes generation linear instead of quadratic.

A decoder generates one token at a time, and each new token attends to every earlier one.
Without a cache, step t recomputes the keys and values of all t earlier positions in every
layer, although they never change: generating n tokens costs O(n^2) projections. The
``KVCache`` remembers them: each step computes K and V for the *new* positions only, appends
them to preallocated storage, and attends over the stored prefix.

The contract a model follows, per forward pass over ``T_new`` new positions::

    for layer in range(n_layers):
        k_all, v_all = cache.update(layer, k_new, v_new)   # (B, H, length + T_new, D)
        ... attend with q_new over k_all, v_all ...
    cache.advance(T_new)                                    # once, after every layer

``cache.length`` is the number of positions cached so far; the new queries sit at positions
``length .. length + T_new - 1`` (what a causal mask and positional encodings need).
Storage is allocated once, (n_layers, B, H, max_len, D) for keys and the same for values, so
no step copies the prefix: ``update`` writes the new slice and returns read-only views.
"""

from __future__ import annotations

import numpy as np

from tinytorch.core.tensor import Tensor

__all__ = ["KVCache", "CacheOverflowError"]


class CacheOverflowError(ValueError):
    """Raised when an update would store more positions than the cache's ``max_len``."""


class KVCache:
    """Preallocated keys and values of every layer, for incremental (token-by-token) decoding.

    Args:
        n_layers: number of attention layers that share the cache.
        batch_size: B, sequences generated together.
        n_heads: H, attention heads per layer.
        max_len: the most positions it can hold (prompt + generated tokens).
        head_dim: D, size of each head's keys and values.
        dtype: storage dtype (default float32).

    Shape:
        - ``update`` inputs: k, v ``(B, H, T_new, D)`` arrays or Tensors (their ``.data``).
        - ``update`` outputs: ``(B, H, length + T_new, D)`` read-only views of the storage.

    Examples:
        >>> cache = KVCache(n_layers=1, batch_size=1, n_heads=2, max_len=8, head_dim=4)
        >>> k = np.ones((1, 2, 3, 4), dtype=np.float32)
        >>> k_all, v_all = cache.update(0, k, 2 * k)
        >>> cache.advance(3)
        >>> k_all, v_all = cache.update(0, k[:, :, :1], k[:, :, :1])
        >>> k_all.shape, cache.length
        ((1, 2, 4, 4), 3)
        >>> cache.advance(1); cache.length
        4
    """

    def __init__(self, n_layers: int, batch_size: int, n_heads: int, max_len: int, head_dim: int,
                 dtype=np.float32):
        sizes = dict(n_layers=n_layers, batch_size=batch_size, n_heads=n_heads, max_len=max_len, head_dim=head_dim)
        bad = {k: v for k, v in sizes.items() if not isinstance(v, (int, np.integer)) or v < 1}
        if bad:
            raise ValueError(f"KVCache: every size must be a positive int, got {bad}")
        self.n_layers, self.batch_size, self.n_heads = int(n_layers), int(batch_size), int(n_heads)
        self.max_len, self.head_dim = int(max_len), int(head_dim)
        self.dtype = np.dtype(dtype)
        shape = (self.n_layers, self.batch_size, self.n_heads, self.max_len, self.head_dim)
        self.keys = np.zeros(shape, dtype=self.dtype)
        self.values = np.zeros(shape, dtype=self.dtype)
        self.length = 0
        self._written = [0] * self.n_layers  # positions each layer holds (length + this step's T_new)

    @property
    def nbytes(self) -> int:
        """Bytes of the preallocated key and value storage."""
        return int(self.keys.nbytes + self.values.nbytes)

    def _check(self, layer: int, k: np.ndarray, v: np.ndarray) -> int:
        if not 0 <= layer < self.n_layers:
            raise IndexError(f"KVCache.update: layer {layer} out of range for a cache of {self.n_layers} layers")
        expected = (self.batch_size, self.n_heads, "T_new", self.head_dim)
        for name, array in (("k", k), ("v", v)):
            if array.ndim != 4 or (array.shape[0], array.shape[1], array.shape[3]) != (
                    self.batch_size, self.n_heads, self.head_dim):
                raise ValueError(f"KVCache.update: {name} has shape {array.shape}, expected {expected} "
                                 f"(batch_size, n_heads, new positions, head_dim)")
        if k.shape != v.shape:
            raise ValueError(f"KVCache.update: k {k.shape} and v {v.shape} differ in shape")
        t_new = k.shape[2]
        if self.length + t_new > self.max_len:
            raise CacheOverflowError(
                f"KVCache.update: {self.length} cached + {t_new} new positions exceed max_len={self.max_len}; "
                f"make a larger cache or crop the context")
        return t_new

    def update(self, layer: int, k, v) -> tuple[np.ndarray, np.ndarray]:
        """Store this step's keys and values for ``layer``; return all keys and values so far.

        Args:
            layer: index of the attention layer, 0 <= layer < n_layers.
            k, v: the new positions' keys and values, (B, H, T_new, D).

        Returns:
            (k_all, v_all): read-only views (B, H, length + T_new, D) of the storage.
        """
        k, v = (np.asarray(a.data if isinstance(a, Tensor) else a) for a in (k, v))
        t_new = self._check(layer, k, v)
        end = self.length + t_new
        self.keys[layer, :, :, self.length:end] = k
        self.values[layer, :, :, self.length:end] = v
        self._written[layer] = end
        k_all, v_all = self.keys[layer, :, :, :end], self.values[layer, :, :, :end]
        k_all.flags.writeable = False  # views of the cache: writing into them would corrupt it
        v_all.flags.writeable = False
        return k_all, v_all

    def advance(self, t_new: int) -> None:
        """Commit ``t_new`` positions: call once per forward pass, after every layer's ``update``."""
        end = self.length + int(t_new)
        if t_new < 1:
            raise ValueError(f"KVCache.advance: t_new must be >= 1, got {t_new}")
        if end > self.max_len:
            raise CacheOverflowError(f"KVCache.advance: {self.length} + {t_new} positions exceed max_len={self.max_len}")
        stale = [layer for layer, written in enumerate(self._written) if written != end]
        if stale:
            raise RuntimeError(
                f"KVCache.advance({t_new}): layers {stale} did not store positions {self.length}..{end - 1} "
                f"(each layer must call update with the same new positions before advance)")
        self.length = end

    def reset(self) -> None:
        """Forget every cached position (storage is kept and reused)."""
        self.length = 0
        self._written = [0] * self.n_layers

    def __repr__(self) -> str:
        return (f"KVCache(n_layers={self.n_layers}, batch_size={self.batch_size}, n_heads={self.n_heads}, "
                f"max_len={self.max_len}, head_dim={self.head_dim}, length={self.length}, dtype={self.dtype})")
