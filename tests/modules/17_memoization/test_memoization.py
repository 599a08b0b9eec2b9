"""Module 17 memoization: the KVCache equals concatenating keys and values step by step, for several
layers, batch sizes and step lengths up to max_len; clear errors; reset; read-only views. Cached
generation gives exactly the tokens of module 13's uncached generation, greedy and sampled, and a
broken cache is caught."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinytorch.core.autograd import no_grad
from tinytorch.core.random import manual_seed
from tinytorch.core.tensor import Tensor
from tinytorch.core.transformers import GPT, GPTConfig
from tinytorch.perf.memoization import CacheOverflowError, KVCache, LayerCache, generate


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
            start = cache[layer].get_seq_length()
            k = rng.standard_normal((batch, heads, t_new, head_dim)).astype(np.float32)
            v = rng.standard_normal((batch, heads, t_new, head_dim)).astype(np.float32)
            k_all, v_all = cache[layer].update(k, v)
            expected_k[layer] = np.concatenate([expected_k[layer], k], axis=2)
            expected_v[layer] = np.concatenate([expected_v[layer], v], axis=2)
            assert k_all.shape == (batch, heads, start + t_new, head_dim)
            assert cache[layer].get_seq_length() == start + t_new  # the length comes from what was stored
            assert np.array_equal(k_all, expected_k[layer]) and np.array_equal(v_all, expected_v[layer])
    assert cache.get_seq_length() == max_len  # filled to the context exactly, no overflow


def test_returned_views_share_the_preallocated_storage_and_are_read_only():
    cache = KVCache(2, 1, 2, 6, 3)
    k = np.ones((1, 2, 2, 3), np.float32)
    k_all, v_all = cache.update(k, 2 * k, layer=1)
    assert np.shares_memory(k_all, cache.keys) and np.shares_memory(v_all, cache.values)
    with pytest.raises(ValueError):
        k_all[...] = 0.0
    assert cache.nbytes == 2 * 2 * 1 * 2 * 6 * 3 * 4
    assert cache.get_seq_length(1) == 2 and cache.get_seq_length(0) == 0  # each layer counts its own


def test_tensors_are_accepted_and_stored_in_the_cache_dtype():
    cache = KVCache(1, 1, 1, 4, 2, dtype=np.float64)
    k_all, _ = cache[0].update(Tensor(np.ones((1, 1, 1, 2), np.float32)), Tensor(np.zeros((1, 1, 1, 2), np.float32)))
    assert k_all.dtype == np.float64 and k_all.tolist() == [[[[1.0, 1.0]]]]


def test_overflow_past_max_len_is_a_clear_error_and_stores_nothing():
    cache = KVCache(1, 1, 1, 4, 2)
    cache[0].update(np.ones((1, 1, 3, 2)), np.ones((1, 1, 3, 2)))
    with pytest.raises(CacheOverflowError, match=r"layer 0\): 3 cached \+ 2 new positions exceed max_len=4"):
        cache[0].update(np.full((1, 1, 2, 2), 5.0), np.ones((1, 1, 2, 2)))
    assert cache.get_seq_length() == 3 and np.all(cache.keys[0, :, :, 3] == 0)


@pytest.mark.parametrize("shape, message", [
    ((2, 2, 1, 4), r"k has shape \(2, 2, 1, 4\), expected \(1, 2, 'T_new', 4\)"),
    ((1, 3, 1, 4), "k has shape"),
    ((1, 2, 1, 5), "k has shape"),
    ((1, 2, 4), "k has shape"),
])
def test_shape_mismatch_names_the_shapes(shape, message):
    cache = KVCache(1, 1, 2, 8, 4)
    with pytest.raises(ValueError, match=message):
        cache[0].update(np.zeros(shape), np.zeros(shape))


def test_k_and_v_must_agree_and_the_layer_must_exist():
    cache = KVCache(2, 1, 1, 8, 2)
    with pytest.raises(ValueError, match="differ in shape"):
        cache[0].update(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 2)))
    for layer in (2, -1, 1.0):
        with pytest.raises(IndexError, match=f"KVCache: layer {layer!r} out of range for a cache of 2 layers"):
            cache.update(np.zeros((1, 1, 1, 2)), np.zeros((1, 1, 1, 2)), layer)


def test_reset_starts_over_with_the_same_storage():
    cache = KVCache(2, 1, 1, 4, 1)
    storage = cache.keys
    for value in (1.0, 2.0):
        for layer in cache:
            layer.update(np.full((1, 1, 4, 1), value), np.full((1, 1, 4, 1), value))
        assert cache.get_seq_length() == 4
        cache.reset()
        assert [layer.get_seq_length() for layer in cache] == [0, 0]
    k_all, _ = cache[0].update(np.full((1, 1, 1, 1), 7.0), np.zeros((1, 1, 1, 1)))
    assert k_all.tolist() == [[[[7.0]]]] and cache.keys is storage


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size=0), "batch_size must be a positive int, got 0"),
    (dict(n_layers=2.0), "n_layers must be a positive int, got 2.0"),
    (dict(max_len=True), "max_len must be a positive int, got True"),
    (dict(dtype=np.int8), "dtype must be a float dtype, got int8"),
    (dict(dtype="x"), "dtype must be a float dtype, got 'x'"),
])
def test_bad_sizes_are_rejected_naming_them(kwargs, match):
    sizes = dict(n_layers=1, batch_size=1, n_heads=1, max_len=4, head_dim=2) | kwargs
    with pytest.raises(ValueError, match=f"KVCache: {match}"):
        KVCache(**sizes)
    assert "length=0" in repr(KVCache(1, 1, 1, 4, 2))


def test_a_layer_cache_needs_float_storage_of_one_shape():
    with pytest.raises(ValueError, match=r"LayerCache: keys must be a float \(B, H, max_len, D\) array, got \(3,\)"):
        LayerCache(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="LayerCache: keys .* and values .* differ in shape"):
        LayerCache(np.zeros((1, 1, 4, 2)), np.zeros((1, 1, 5, 2)))


def test_a_layer_cache_counts_its_own_length():
    storage = np.zeros((1, 1, 5, 2), np.float32)
    layer = LayerCache(storage, storage.copy())
    assert layer.get_seq_length() == 0 and layer.max_len == 5
    layer.update(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)))
    layer.update(np.ones((1, 1, 3, 2)), np.ones((1, 1, 3, 2)))
    assert layer.get_seq_length() == 5


# ----------------------------------------------------------------------------- with the real GPT (module 13)

def gpt(context=24, vocab=13, embed=16, heads=4, layers=2, positional="learned", seed=0):
    manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=vocab, context_length=context, n_layer=layers, n_head=heads, n_embd=embed,
                          positional=positional, init_std=0.5))  # spread-out logits: greedy choices are clear
    model.eval()
    return model


def test_for_model_sizes_the_cache_from_the_config():
    cache = KVCache.for_model(gpt(), batch_size=3)
    assert cache.keys.shape == (2, 3, 4, 24, 4) and len(cache) == 2 and cache.dtype == np.float32
    with pytest.raises(TypeError, match="KVCache.for_model: model must be a GPT with a GPTConfig, got str"):
        KVCache.for_model("gpt", 1)


def cached_logits(model, ids, prefill):
    """Logits of every position computed incrementally: ``prefill`` positions at once, then one at a time."""
    cache = KVCache.for_model(model, ids.shape[0])
    steps = [model(ids[:, :prefill], past_key_values=cache).data]
    for t in range(prefill, ids.shape[1]):
        steps.append(model(ids[:, t:t + 1], past_key_values=cache).data)
    assert cache.get_seq_length() == ids.shape[1]
    return np.concatenate(steps, axis=1)


@pytest.mark.parametrize("batch, prefill, length, positional", [
    (1, 1, 24, "learned"),        # one token of prompt, then every position up to the context
    (3, 5, 24, "learned"),
    (2, 11, 17, "sinusoidal"),
    (4, 24, 24, "learned"),       # the whole context at once, no decoding steps
])
def test_incremental_logits_equal_the_full_forward_within_1e5(batch, prefill, length, positional):
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
    (2, 30, 4),     # a prompt longer than the context
])
def test_cached_greedy_generation_gives_identical_tokens(batch, prompt, new_tokens):
    model = gpt()
    ids = np.random.default_rng(prompt).integers(0, 13, (batch, prompt))
    recomputed = model.generate(ids, new_tokens, temperature=0).data
    cached = generate(model, ids, new_tokens, temperature=0).data
    assert cached.shape == (batch, prompt + new_tokens) and cached.dtype == np.int64
    assert np.array_equal(cached, recomputed)
    assert np.array_equal(cached[:, :prompt], ids)
    # the rows differ (a model that ignores its input would pass equality trivially)
    assert batch == 1 or len({tuple(row) for row in cached[:, prompt:].tolist()}) > 1


@pytest.mark.parametrize("options", [dict(temperature=0.9, top_k=5), dict(temperature=1.2, top_p=0.7)])
def test_cached_sampling_draws_the_same_tokens_from_the_same_seed(options):
    model = gpt(context=8)
    ids = np.random.default_rng(5).integers(0, 13, (3, 3))
    manual_seed(7)
    recomputed = model.generate(ids, 15, **options).data  # runs past the context of 8
    manual_seed(7)
    cached = generate(model, ids, 15, **options).data
    assert np.array_equal(cached, recomputed)


def test_the_prompt_is_read_once_then_one_token_per_step():
    """Prefill, then one position per step; a full context is refilled from its last context_length tokens."""

    stored = []

    class Recording(LayerCache):
        def update(self, k, v):
            stored.append((self.layer, k.shape[2]))
            return super().update(k, v)

    model = gpt(context=8)
    cache = KVCache(2, 1, 4, 8, 4)
    cache.layers = [Recording(cache.keys[i], cache.values[i], i) for i in range(2)]
    generate(model, np.zeros((1, 3), np.int64), 7, temperature=0, cache=cache)
    per_layer = [length for layer, length in stored if layer == 0]
    assert per_layer == [3, 1, 1, 1, 1, 1, 8]  # prompt of 3, then 1 each up to the context of 8, then a refill


def test_a_cache_that_returns_stale_keys_is_caught():
    """The equality tests above can fail: a cache that stores only the prompt's keys gives other tokens."""

    class StaleKeys(LayerCache):
        def update(self, k, v):
            if self.length:  # decoding steps: keep the new values, but leave the keys slot stale (zeros)
                k = np.zeros_like(np.asarray(k))
            return super().update(k, v)

    model = gpt()
    ids = np.random.default_rng(3).integers(0, 13, (2, 4))
    recomputed = model.generate(ids, 16, temperature=0).data
    cache = KVCache(2, 2, 4, 24, 4)
    cache.layers = [StaleKeys(cache.keys[i], cache.values[i], i) for i in range(2)]
    stale = generate(model, ids, 16, temperature=0, cache=cache).data
    assert not np.array_equal(stale, recomputed)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(max_new_tokens=-1), ValueError, "generate: max_new_tokens must be an int >= 0, got -1"),
    (dict(max_new_tokens=2.5), ValueError, "generate: max_new_tokens must be an int >= 0, got 2.5"),
    (dict(temperature=float("nan")), ValueError, "generate: temperature must be a finite number"),
    (dict(top_k=0), ValueError, "generate: top_k must be an int >= 1 or None, got 0"),
    (dict(ids=np.array([[1, 99]])), ValueError, "generate: prompt token id 99 is out of range for vocab_size=13"),
    (dict(cache=KVCache(1, 2, 4, 24, 4)), ValueError, "generate: cache has 1 layers, the model 2"),
    (dict(cache=KVCache(2, 3, 4, 24, 4)), ValueError, "generate: cache holds a batch of 3, the prompt 2"),
    (dict(cache=KVCache(2, 2, 4, 8, 4)), ValueError, "generate: cache holds 8 positions, fewer than the model's "
                                                     "context_length=24"),
    (dict(model="gpt"), TypeError, "generate: model must be a GPT \\(module 13\\), got str"),
])
def test_generate_refuses_bad_arguments_naming_them(kwargs, error, match):
    arguments = dict(model=gpt(), ids=np.zeros((2, 3), np.int64), max_new_tokens=4) | kwargs
    with pytest.raises(error, match=match):
        generate(**arguments)


def test_zero_new_tokens_returns_the_prompt():
    prompt = np.array([[1, 2, 3]])
    assert np.array_equal(generate(gpt(), Tensor(prompt), 0).data, prompt)


def test_memoization_imports_only_earlier_modules():
    from pathlib import Path

    from modulegraph import imported_tinytorch_modules
    root = Path(__file__).resolve().parents[3]
    allowed = {"tinytorch.core.autograd", "tinytorch.core.tensor", "tinytorch.core.transformers"}
    assert imported_tinytorch_modules(root / "tinytorch/perf/memoization.py") <= allowed
