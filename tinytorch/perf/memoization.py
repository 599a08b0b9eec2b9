"""Module 17, memoization: the key/value cache that makes generation linear instead of quadratic.

A decoder generates one token at a time, and each new token attends to every earlier one.
Without a cache (module 13's ``GPT.generate``), step t recomputes the keys and values of all
t earlier positions in every layer, although they never change: generating n tokens costs
O(n^2) projections. A cache remembers them: each step computes K and V for the *new*
positions only, stores them, and attends over everything stored.

The contract with module 13 (as Hugging Face's ``Cache``, GPT-2's ``past`` -> ``present``):
``GPT.forward(ids, past_key_values=cache)`` hands block i the layer cache ``cache[i]``, and
its attention calls::

    k_all, v_all = cache[i].update(k_new, v_new)   # (B, H, T_new, D) in, (B, H, length + T_new, D) out

Each layer counts what it has stored (``get_seq_length()``): the model reads the number of
cached positions from there (where the new tokens' positions start), nothing else needs
telling. Storage is allocated once, (n_layers, B, H, max_len, D) for keys and the same for
values, so no step copies the prefix: ``update`` writes the new slice and returns read-only
views of everything stored.

``generate`` is module 13's generation with the cache: the prompt is read once (prefill),
then each step feeds only the newest token. It gives exactly the tokens of
``GPT.generate``, greedy or sampled: same logits (to float32 rounding), same draws.
"""

from __future__ import annotations

import numbers

import numpy as np

from tinytorch.core.autograd import no_grad
from tinytorch.core.tensor import Tensor
from tinytorch.core.transformers import check_generation, sample_next

__all__ = ["KVCache", "LayerCache", "CacheOverflowError", "generate"]


class CacheOverflowError(ValueError):
    """Raised when an update would store more positions than the cache's ``max_len``."""


class LayerCache:
    """The keys and values one attention layer has seen, in preallocated storage.

    Args:
        keys, values: (B, H, max_len, D) arrays to store into (views of a ``KVCache``'s storage).
        layer: this layer's index, for error messages.

    Example:
        >>> import numpy as np
        >>> from tinytorch.perf.memoization import LayerCache
        >>> storage = np.zeros((1, 2, 8, 4), dtype=np.float32)
        >>> layer = LayerCache(storage, storage.copy())
        >>> k = np.ones((1, 2, 3, 4), dtype=np.float32)
        >>> k_all, v_all = layer.update(k, 2 * k)
        >>> k_all, v_all = layer.update(k[:, :, :1], k[:, :, :1])
        >>> k_all.shape, layer.get_seq_length()
        ((1, 2, 4, 4), 4)
    """

    def __init__(self, keys: np.ndarray, values: np.ndarray, layer: int = 0):
        for name, array in (("keys", keys), ("values", values)):
            if not isinstance(array, np.ndarray) or array.ndim != 4 or array.dtype.kind != "f":
                raise ValueError(f"LayerCache: {name} must be a float (B, H, max_len, D) array, got "
                                 f"{getattr(array, 'shape', type(array).__name__)}")
        if keys.shape != values.shape:
            raise ValueError(f"LayerCache: keys {keys.shape} and values {values.shape} differ in shape")
        self.keys, self.values, self.layer = keys, values, layer
        self.length = 0

    @property
    def max_len(self) -> int:
        """The most positions this layer can hold."""
        return self.keys.shape[2]

    def get_seq_length(self) -> int:
        """Positions stored so far: where the next update's positions start."""
        return self.length

    # tito: given
    def _checked(self, name: str, array) -> np.ndarray:
        array = np.asarray(array.data if isinstance(array, Tensor) else array)
        batch, heads, _, dim = self.keys.shape
        if array.ndim != 4 or (array.shape[0], array.shape[1], array.shape[3]) != (batch, heads, dim):
            raise ValueError(f"LayerCache.update: {name} has shape {array.shape}, expected "
                             f"{(batch, heads, 'T_new', dim)} (batch_size, n_heads, new positions, head_dim)")
        return array

    def update(self, k, v) -> tuple[np.ndarray, np.ndarray]:
        """Store the new positions' keys and values after the ones stored so far; return all of them.

        Args:
            k, v: the new positions' keys and values, (B, H, T_new, D) arrays or Tensors.

        Returns:
            (k_all, v_all): read-only views (B, H, length + T_new, D) of the storage.
        """
        k, v = self._checked("k", k), self._checked("v", v)
        if k.shape != v.shape:
            raise ValueError(f"LayerCache.update: k {k.shape} and v {v.shape} differ in shape")
        start, end = self.length, self.length + k.shape[2]
        if end > self.max_len:
            raise CacheOverflowError(
                f"LayerCache.update (layer {self.layer}): {start} cached + {k.shape[2]} new positions exceed "
                f"max_len={self.max_len}; make a larger cache or crop the context")
        self.keys[:, :, start:end] = k
        self.values[:, :, start:end] = v
        self.length = end
        k_all, v_all = self.keys[:, :, :end], self.values[:, :, :end]
        k_all.flags.writeable = False  # views of the storage: writing into them would corrupt the cache
        v_all.flags.writeable = False
        return k_all, v_all

    def reset(self) -> None:
        """Forget every stored position (the storage is kept and reused)."""
        self.length = 0


class KVCache:
    """Preallocated keys and values of every layer of a model, one ``LayerCache`` each.

    Pass it as ``past_key_values`` to a GPT's forward: ``cache[i]`` is block i's layer cache.

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
        >>> import numpy as np
        >>> from tinytorch.perf.memoization import KVCache
        >>> cache = KVCache(n_layers=2, batch_size=1, n_heads=2, max_len=8, head_dim=4)
        >>> k = np.ones((1, 2, 3, 4), dtype=np.float32)
        >>> for layer in cache:
        ...     k_all, v_all = layer.update(k, 2 * k)
        >>> k_all.shape, cache.get_seq_length(), len(cache)
        ((1, 2, 3, 4), 3, 2)
    """

    def __init__(self, n_layers: int, batch_size: int, n_heads: int, max_len: int, head_dim: int,
                 dtype=np.float32):
        sizes = dict(n_layers=n_layers, batch_size=batch_size, n_heads=n_heads, max_len=max_len, head_dim=head_dim)
        for name, value in sizes.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"KVCache: {name} must be a positive int, got {value!r}")
        try:
            self.dtype = np.dtype(dtype)
        except TypeError:
            raise ValueError(f"KVCache: dtype must be a float dtype, got {dtype!r}") from None
        if self.dtype.kind != "f":
            raise ValueError(f"KVCache: dtype must be a float dtype, got {self.dtype}")
        shape = (int(n_layers), int(batch_size), int(n_heads), int(max_len), int(head_dim))
        self.keys = np.zeros(shape, dtype=self.dtype)
        self.values = np.zeros(shape, dtype=self.dtype)
        self.layers = [LayerCache(self.keys[i], self.values[i], i) for i in range(shape[0])]

    @classmethod
    def for_model(cls, model, batch_size: int) -> KVCache:
        """An empty cache sized for a GPT (module 13): every layer, head and position of its context.

        Example:
            >>> from tinytorch.core.transformers import GPT, GPTConfig
            >>> from tinytorch.perf.memoization import KVCache
            >>> gpt = GPT(GPTConfig(vocab_size=5, context_length=16, n_layer=2, n_head=2, n_embd=8))
            >>> KVCache.for_model(gpt, batch_size=3)
            KVCache(n_layers=2, batch_size=3, n_heads=2, max_len=16, head_dim=4, length=0, dtype=float32)
        """
        config = getattr(model, "config", None)
        if config is None or not hasattr(config, "n_layer"):
            raise TypeError(f"KVCache.for_model: model must be a GPT with a GPTConfig, got {type(model).__name__}")
        return cls(config.n_layer, batch_size, config.n_head, config.context_length,
                   config.n_embd // config.n_head, dtype=model.tok_emb.weight.dtype)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, layer: int) -> LayerCache:
        if isinstance(layer, bool) or not isinstance(layer, numbers.Integral) or not 0 <= layer < len(self.layers):
            raise IndexError(f"KVCache: layer {layer!r} out of range for a cache of {len(self.layers)} layers")
        return self.layers[layer]

    def __iter__(self):
        return iter(self.layers)

    @property
    def max_len(self) -> int:
        """The most positions each layer can hold."""
        return self.keys.shape[3]

    @property
    def batch_size(self) -> int:
        return self.keys.shape[1]

    def update(self, k, v, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """``self[layer].update(k, v)`` (Hugging Face's ``Cache.update(key, value, layer_idx)``)."""
        return self[layer].update(k, v)

    def get_seq_length(self, layer: int = 0) -> int:
        """Positions stored in ``layer`` (default the first): where the next tokens' positions start."""
        return self[layer].get_seq_length()

    def reset(self) -> None:
        """Forget every cached position of every layer (storage is kept and reused)."""
        for layer in self.layers:
            layer.reset()

    @property
    def nbytes(self) -> int:
        """Bytes of the preallocated key and value storage."""
        return int(self.keys.nbytes + self.values.nbytes)

    def __repr__(self) -> str:
        n_layers, batch, heads, max_len, head_dim = self.keys.shape
        return (f"KVCache(n_layers={n_layers}, batch_size={batch}, n_heads={heads}, max_len={max_len}, "
                f"head_dim={head_dim}, length={self.get_seq_length()}, dtype={self.dtype})")


# ----------------------------------------------------------------------------- cached generation


# tito: given
def _check_cache(cache, model, batch: int) -> None:
    """One clear error for a cache that does not fit the model and the prompt's batch."""
    config = model.config
    if len(cache) != config.n_layer:
        raise ValueError(f"generate: cache has {len(cache)} layers, the model {config.n_layer}")
    if getattr(cache, "batch_size", batch) != batch:
        raise ValueError(f"generate: cache holds a batch of {cache.batch_size}, the prompt {batch}")
    if getattr(cache, "max_len", config.context_length) < config.context_length:
        raise ValueError(f"generate: cache holds {cache.max_len} positions, fewer than the model's "
                         f"context_length={config.context_length}")


def generate(model, ids, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, cache=None):
    """``model.generate`` (module 13) with a KV cache: the same tokens, each step one position of work.

    The prompt's last ``context_length`` tokens are read once (prefill), filling the cache;
    then each step feeds only the newest token, whose keys and values join the cache, and
    draws the next token from its logits with module 13's ``sample_next``. When the cache is
    full (the context is exhausted), it is emptied and refilled from the last
    ``context_length`` tokens: exactly what the uncached model rereads at every step. Runs
    under ``no_grad``; call ``model.eval()`` first to switch dropout off.

    Args:
        model: a GPT (module 13).
        ids: ``(N, T)`` prompt token ids.
        max_new_tokens, temperature, top_k, top_p: as ``GPT.generate``.
        cache: a ``KVCache`` (or any sequence of layer caches) to use; default
            ``KVCache.for_model(model, N)``. It is emptied first.

    Returns:
        ``(N, T + max_new_tokens)`` int64 Tensor: the prompts followed by the new tokens.

    Example:
        >>> import numpy as np
        >>> from tinytorch.core.transformers import GPT, GPTConfig
        >>> from tinytorch.perf.memoization import generate
        >>> gpt = GPT(GPTConfig(vocab_size=7, context_length=8, n_layer=1, n_head=2, n_embd=8)).eval()
        >>> prompt = np.array([[1, 2, 3]])
        >>> bool((generate(gpt, prompt, 9, temperature=0).data == gpt.generate(prompt, 9, temperature=0).data).all())
        True
    """
    out = check_generation("generate", model, ids, max_new_tokens, temperature, top_k, top_p)
    cache = KVCache.for_model(model, out.shape[0]) if cache is None else cache
    _check_cache(cache, model, out.shape[0])
    context = model.config.context_length
    for layer in cache:
        layer.reset()
    with no_grad():
        for _ in range(max_new_tokens):
            cached = cache[0].get_seq_length()
            if cached == 0 or cached == context:  # empty or full: (re)fill from the last context tokens
                for layer in cache:
                    layer.reset()
                logits = model(out[:, -context:], past_key_values=cache)
            else:  # only the newest token: its keys and values join the cache
                logits = model(out[:, -1:], past_key_values=cache)
            out = np.concatenate([out, sample_next(logits.data[:, -1], temperature, top_k, top_p)], axis=1)
    return Tensor(out)
