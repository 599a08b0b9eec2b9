"""A minimal test double of module 17's ``KVCache`` interface, so modules 12-13 test cached decoding alone.

Interface (module 17, ``tinytorch.perf.memoization.KVCache``):
``KVCache(n_layers, batch_size, n_heads, max_len, head_dim, dtype)``; ``length`` = positions
cached before this forward; ``update(layer, k, v) -> (k_all, v_all)`` with k, v of shape
(B, H, T_new, D) and views of shape (B, H, length + T_new, D) returned; ``advance(T_new)``
once per model forward after every layer updated; ``reset()``.
"""

import numpy as np


class ArrayKVCache:
    """Preallocated arrays per layer; records calls so tests can check how the model used it."""

    def __init__(self, n_layers, batch_size, n_heads, max_len, head_dim, dtype=np.float32):
        shape = (n_layers, batch_size, n_heads, max_len, head_dim)
        self.keys, self.values = np.zeros(shape, dtype), np.zeros(shape, dtype)
        self.max_len, self.length, self.calls = max_len, 0, []

    def update(self, layer, k, v):
        t = k.shape[2]
        if self.length + t > self.max_len:
            raise ValueError(f"cache full: {self.length} + {t} > {self.max_len}")
        self.keys[layer, :, :, self.length:self.length + t] = k
        self.values[layer, :, :, self.length:self.length + t] = v
        self.calls.append(("update", layer, t))
        end = self.length + t
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]

    def advance(self, t):
        self.calls.append(("advance", t))
        self.length += t

    def reset(self):
        self.calls.append(("reset",))
        self.length = 0
