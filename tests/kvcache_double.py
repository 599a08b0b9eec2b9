"""A minimal test double of the per-layer cache protocol, so modules 12-14 test cached decoding without module 17.

The protocol (module 12's ``MultiHeadAttention(layer_cache=...)``, module 13's
``GPT.forward(past_key_values=...)``; module 17's ``KVCache`` implements it with preallocated
storage): a layer cache has ``get_seq_length()`` (positions stored so far) and
``update(k_new, v_new) -> (k_all, v_all)``, with k, v of shape (B, H, T_new, D) and all keys
and values so far, (B, H, length + T_new, D), returned; ``reset()`` forgets them.
``past_key_values`` is a sequence of one layer cache per block.
"""

import numpy as np


class ConcatLayerCache:
    """Keys and values kept by concatenation; records calls so tests can check how the model used it."""

    def __init__(self, calls=None, layer=0):
        self.keys = self.values = None
        self.calls, self.layer = ([] if calls is None else calls), layer

    def get_seq_length(self):
        return 0 if self.keys is None else self.keys.shape[2]

    def update(self, k, v):
        self.calls.append(("update", self.layer, k.shape[2]))
        self.keys = k.copy() if self.keys is None else np.concatenate([self.keys, k], axis=2)
        self.values = v.copy() if self.values is None else np.concatenate([self.values, v], axis=2)
        return self.keys, self.values

    def reset(self):
        self.calls.append(("reset", self.layer))
        self.keys = self.values = None


def layer_caches(n_layers):
    """One ConcatLayerCache per layer, sharing one call log (``caches[0].calls``)."""
    calls = []
    return [ConcatLayerCache(calls, layer) for layer in range(n_layers)]
