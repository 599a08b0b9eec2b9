"""Module 17 memoization: the KVCache equals concatenating keys and values step by step, for
several layers, batch sizes and step lengths up to max_len; clear errors; reset; read-only views."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinytorch.core.tensor import Tensor
from tinytorch.perf.memoization import CacheOverflowError, KVCache


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 4),
       st.lists(st.integers(1, 5), min_size=1, max_size=8), st.integers(0, 1000))
def test_cache_equals_concatenation(n_layers, batch, heads, head_dim, steps, seed):
    rng = np.random.default_rng(seed)
    max_len = sum(steps)
    cache = KVCache(n_layers, batch, heads, max_len, head_dim)
    expected_k = [np.zeros((batch, heads, 0, head_dim), np.float32) for _ in range(n_layers)]
    expected_v = [np.zeros((batch, heads, 0, head_dim), np.float32) for _ in range(n_layers)]
    for t_new in steps:
        for layer in range(n_layers):
            k = rng.standard_normal((batch, heads, t_new, head_dim)).astype(np.float32)
            v = rng.standard_normal((batch, heads, t_new, head_dim)).astype(np.float32)
            k_all, v_all = cache.update(layer, k, v)
            expected_k[layer] = np.concatenate([expected_k[layer], k], axis=2)
            expected_v[layer] = np.concatenate([expected_v[layer], v], axis=2)
            assert k_all.shape == (batch, heads, cache.length + t_new, head_dim)
            assert np.array_equal(k_all, expected_k[layer]) and np.array_equal(v_all, expected_v[layer])
        cache.advance(t_new)
    assert cache.length == max_len  # filled to the context exactly, no overflow


def test_returned_views_share_the_preallocated_storage_and_are_read_only():
    cache = KVCache(2, 1, 2, 6, 3)
    k = np.ones((1, 2, 2, 3), np.float32)
    k_all, v_all = cache.update(1, k, 2 * k)
    assert np.shares_memory(k_all, cache.keys) and np.shares_memory(v_all, cache.values)
    with pytest.raises(ValueError):
        k_all[...] = 0.0
    assert cache.nbytes == 2 * 2 * 1 * 2 * 6 * 3 * 4


def test_tensors_are_accepted_and_stored_in_the_cache_dtype():
    cache = KVCache(1, 1, 1, 4, 2, dtype=np.float64)
    k_all, _ = cache.update(0, Tensor(np.ones((1, 1, 1, 2), np.float32)), Tensor(np.zeros((1, 1, 1, 2), np.float32)))
    assert k_all.dtype == np.float64 and k_all.tolist() == [[[[1.0, 1.0]]]]


def test_overflow_past_max_len_is_a_clear_error_and_stores_nothing():
    cache = KVCache(1, 1, 1, 4, 2)
    cache.update(0, np.ones((1, 1, 3, 2)), np.ones((1, 1, 3, 2)))
    cache.advance(3)
    with pytest.raises(CacheOverflowError, match=r"3 cached \+ 2 new positions exceed max_len=4"):
        cache.update(0, np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)))
    assert cache.length == 3 and np.all(cache.keys[0, :, :, 3] == 0)
    with pytest.raises(CacheOverflowError):
        cache.advance(2)


@pytest.mark.parametrize("shape, message", [
    ((2, 2, 1, 4), r"k has shape \(2, 2, 1, 4\), expected \(1, 2, 'T_new', 4\)"),
    ((1, 3, 1, 4), "k has shape"),
    ((1, 2, 1, 5), "k has shape"),
    ((1, 2, 4), "k has shape"),
])
def test_shape_mismatch_names_the_shapes(shape, message):
    cache = KVCache(1, 1, 2, 8, 4)
    with pytest.raises(ValueError, match=message):
        cache.update(0, np.zeros(shape), np.zeros(shape))


def test_k_and_v_must_agree_and_the_layer_must_exist():
    cache = KVCache(2, 1, 1, 8, 2)
    with pytest.raises(ValueError, match="differ in shape"):
        cache.update(0, np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 2)))
    with pytest.raises(IndexError, match="layer 2 out of range"):
        cache.update(2, np.zeros((1, 1, 1, 2)), np.zeros((1, 1, 1, 2)))


def test_advance_refuses_when_a_layer_missed_its_update():
    cache = KVCache(3, 1, 1, 8, 2)
    step = np.zeros((1, 1, 2, 2))
    cache.update(0, step, step)
    cache.update(2, step, step)
    with pytest.raises(RuntimeError, match=r"layers \[1\] did not store positions 0..1"):
        cache.advance(2)
    cache.update(1, step, step)
    cache.advance(2)
    assert cache.length == 2


def test_reset_starts_over_with_the_same_storage():
    cache = KVCache(1, 1, 1, 4, 1)
    storage = cache.keys
    for value in (1.0, 2.0):
        cache.update(0, np.full((1, 1, 4, 1), value), np.full((1, 1, 4, 1), value))
        cache.advance(4)
        assert cache.length == 4
        cache.reset()
        assert cache.length == 0
    k_all, _ = cache.update(0, np.full((1, 1, 1, 1), 7.0), np.zeros((1, 1, 1, 1)))
    assert k_all.tolist() == [[[[7.0]]]] and cache.keys is storage


def test_bad_sizes_are_rejected():
    with pytest.raises(ValueError, match="positive int"):
        KVCache(1, 0, 1, 4, 2)
    assert "length=0" in repr(KVCache(1, 1, 1, 4, 2))


# ----------------------------------------------------------------------------- with the real GPT (module 13)

def gpt(context=24, vocab=13, embed=16, heads=4, layers=2, positional="learned", seed=0):
    from tinytorch.core.random import manual_seed
    from tinytorch.core.transformers import GPT, GPTConfig
    manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=vocab, context_length=context, n_layer=layers, n_head=heads, n_embd=embed,
                          positional=positional, init_std=0.5))  # spread-out logits: greedy choices are clear
    model.eval()
    return model


def cached_logits(model, ids, prefill):
    """Logits of every position computed incrementally: ``prefill`` positions at once, then one at a time."""
    cache = model.new_cache(ids.shape[0])
    assert isinstance(cache, KVCache)
    steps = [model(ids[:, :prefill], kv_cache=cache).data]
    for t in range(prefill, ids.shape[1]):
        steps.append(model(ids[:, t:t + 1], kv_cache=cache).data)
    assert cache.length == ids.shape[1]
    return np.concatenate(steps, axis=1)


@pytest.mark.parametrize("batch, prefill, length, positional", [
    (1, 1, 24, "learned"),        # one token of prompt, then every position up to the context
    (3, 5, 24, "learned"),
    (2, 11, 17, "sinusoidal"),
    (4, 24, 24, "learned"),       # the whole context at once, no decoding steps
])
def test_incremental_logits_equal_the_full_forward_within_1e5(batch, prefill, length, positional):
    from tinytorch.core.autograd import no_grad
    model = gpt(positional=positional)
    ids = np.random.default_rng(batch * 100 + prefill).integers(0, 13, (batch, length))
    with no_grad():
        full = model(ids).data
        incremental = cached_logits(model, ids, prefill)
    assert incremental.shape == full.shape == (batch, length, 13)
    assert np.abs(incremental - full).max() <= 1e-5


@pytest.mark.parametrize("batch, prompt, new_tokens", [
    (1, 1, 23),     # generation fills the context exactly
    (2, 7, 17),     # exactly to the context
    (3, 4, 12),
    (2, 20, 10),    # past the context: the cache is refilled from the last 24 tokens, as recomputation crops
])
def test_cached_greedy_generation_gives_identical_tokens(batch, prompt, new_tokens):
    model = gpt()
    ids = np.random.default_rng(prompt).integers(0, 13, (batch, prompt))
    recomputed = model.generate(ids, new_tokens, temperature=0, use_cache=False).data
    cached = model.generate(ids, new_tokens, temperature=0, use_cache=True).data
    assert cached.shape == (batch, prompt + new_tokens) and cached.dtype == np.int64
    assert np.array_equal(cached, recomputed)
    assert np.array_equal(cached[:, :prompt], ids)
    # the rows differ (a model that ignores its input would pass equality trivially)
    assert batch == 1 or len({tuple(row) for row in cached[:, prompt:].tolist()}) > 1


def test_cached_sampling_draws_the_same_tokens_from_the_same_seed():
    from tinytorch.core.random import manual_seed
    model = gpt()
    ids = np.random.default_rng(5).integers(0, 13, (2, 3))
    manual_seed(7)
    recomputed = model.generate(ids, 15, temperature=0.9, top_k=5, use_cache=False).data
    manual_seed(7)
    cached = model.generate(ids, 15, temperature=0.9, top_k=5, use_cache=True).data
    assert np.array_equal(cached, recomputed)


def test_a_cache_that_returns_stale_keys_is_caught():
    """The equality tests above can fail: a cache that stores only the prompt's keys gives other tokens."""

    class StaleKeys(KVCache):
        def update(self, layer, k, v):
            if self.length:  # decoding steps: keep the new values, but leave the keys slot stale (zeros)
                k = np.zeros_like(np.asarray(getattr(k, "data", k)))
            return super().update(layer, k, v)

    model = gpt()
    ids = np.random.default_rng(3).integers(0, 13, (2, 4))
    recomputed = model.generate(ids, 16, temperature=0, use_cache=False).data
    cache = StaleKeys(2, 2, 4, 24, 4)
    stale = model.generate(ids, 16, temperature=0, kv_cache=cache).data
    assert not np.array_equal(stale, recomputed)
