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
