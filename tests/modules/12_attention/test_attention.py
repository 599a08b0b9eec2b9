"""Module 12: scaled dot-product attention (fused and composed) and multi-head attention."""

import warnings
from pathlib import Path

import numpy as np
import pytest
from gradcheck import gradcheck
from kvcache_double import ArrayKVCache
from modulegraph import imported_tinytorch_modules

import tinytorch
from tinytorch.core.attention import (
    MultiHeadAttention,
    PackedSelfAttention,
    causal_mask,
    scaled_dot_product_attention,
    scaled_dot_product_attention_composed,
)
from tinytorch.core.autograd import no_grad
from tinytorch.core.tensor import Tensor

ROOT = Path(__file__).resolve().parents[3]
RNG = np.random.default_rng(12)


def randn(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def with_a_fully_masked_row(q_len=4, k_len=6):
    mask = RNG.random((q_len, k_len)) > 0.4
    mask[:, 0] = True
    mask[2] = False  # query 2 may attend nothing
    return mask


MASKS = {
    "none": lambda: dict(),
    "causal": lambda: dict(is_causal=True),
    "bool": lambda: dict(attn_mask=RNG.random((4, 6)) > 0.3),
    "bool per batch": lambda: dict(attn_mask=RNG.random((2, 1, 4, 6)) > 0.3),
    "float": lambda: dict(attn_mask=randn(4, 6, dtype=np.float64)),
    "fully masked row": lambda: dict(attn_mask=with_a_fully_masked_row()),
}


# ------------------------------------------------------------------ the fused primitive against the composed reference

@pytest.mark.parametrize("mask", MASKS, ids=list(MASKS))
def test_fused_equals_composed_forward_and_gradients(mask):
    kwargs = MASKS[mask]()
    arrays = [randn(2, 3, 4, 5), randn(2, 3, 6, 5), randn(2, 3, 6, 7)]
    results = []
    for fn in (scaled_dot_product_attention, scaled_dot_product_attention_composed):
        inputs = [Tensor(a, requires_grad=True) for a in arrays]
        out = fn(*inputs, **kwargs)
        (out * Tensor(np.linspace(-1, 1, out.data.size, dtype=np.float32).reshape(out.shape))).sum().backward()
        results.append((out.data, [t.grad for t in inputs]))
    (fused, fused_grads), (composed, composed_grads) = results
    assert fused.shape == (2, 3, 4, 7) and fused.dtype == np.float32
    np.testing.assert_allclose(fused, composed, rtol=1e-5, atol=1e-6)
    for a, b in zip(fused_grads, composed_grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fn", [scaled_dot_product_attention, scaled_dot_product_attention_composed],
                         ids=["fused", "composed"])
@pytest.mark.parametrize("mask", MASKS, ids=list(MASKS))
def test_attention_gradcheck_float64(fn, mask):
    kwargs = MASKS[mask]()
    gradcheck(lambda q, k, v: fn(q, k, v, **kwargs), RNG.standard_normal((2, 1, 4, 3)),
              RNG.standard_normal((2, 1, 6, 3)), RNG.standard_normal((2, 1, 6, 2)))


def test_gradcheck_with_broadcast_batch_dims_and_a_custom_scale():
    gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, scale=0.7), RNG.standard_normal((2, 3, 4, 3)),
              RNG.standard_normal((1, 3, 5, 3)), RNG.standard_normal((1, 3, 5, 2)))


def test_dropout_uses_the_same_framework_draws_in_both_forms():
    q, k, v = randn(2, 4, 3), randn(2, 5, 3), randn(2, 5, 3)
    tinytorch.manual_seed(7)
    fused = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), dropout_p=0.5)
    tinytorch.manual_seed(7)
    composed = scaled_dot_product_attention_composed(Tensor(q), Tensor(k), Tensor(v), dropout_p=0.5)
    np.testing.assert_allclose(fused.data, composed.data, rtol=1e-5, atol=1e-6)
    no_drop = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v))
    assert not np.allclose(fused.data, no_drop.data)


def test_dropout_gradcheck_with_a_fixed_mask():
    k, v = Tensor(randn(2, 5, 3), dtype=np.float64), Tensor(randn(2, 5, 3), dtype=np.float64)

    def fn(q):
        tinytorch.manual_seed(7)  # the same dropout mask on every evaluation
        return scaled_dot_product_attention(q, k, v, dropout_p=0.3)
    gradcheck(fn, randn(2, 4, 3))


def split_heads_attention(qkv, heads, **kwargs):
    """The packed primitive's maths from Tensor ops and the general fused function: the reference."""
    n, t, width = qkv.shape
    parts = qkv.reshape(n, t, 3, heads, width // (3 * heads)).permute(2, 0, 3, 1, 4)
    out = scaled_dot_product_attention(parts[0], parts[1], parts[2], **kwargs)
    return out.transpose(1, 2).reshape(n, t, width // 3)


@pytest.mark.parametrize("mask", ["none", "causal", "bool"])
def test_packed_self_attention_equals_splitting_the_heads(mask):
    allowed = {"none": None, "causal": causal_mask(5), "bool": RNG.random((5, 5)) > 0.3}[mask]
    qkv = randn(2, 5, 24)
    results = []
    for fn in (lambda t: PackedSelfAttention.apply(t, num_heads=2, allowed=allowed, scale=0.5),
               lambda t: split_heads_attention(t, 2, attn_mask=allowed, scale=0.5)):
        x = Tensor(qkv, requires_grad=True)
        out = fn(x)
        (out * Tensor(np.sin(np.arange(out.data.size, dtype=np.float32)).reshape(out.shape))).sum().backward()
        results.append((out.data, x.grad))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-4, atol=1e-6)


def test_packed_self_attention_gradcheck_float64():
    gradcheck(lambda t: PackedSelfAttention.apply(t, num_heads=2, allowed=causal_mask(4), scale=0.7),
              RNG.standard_normal((2, 4, 12)))


# ------------------------------------------------------------------ masks

def test_masked_keys_get_exactly_zero_weight():
    mask = with_a_fully_masked_row()
    q, k, v = Tensor(randn(1, 4, 5)), Tensor(randn(1, 6, 5)), Tensor(randn(1, 6, 5))
    _, weights = scaled_dot_product_attention_composed(q, k, v, attn_mask=mask, return_weights=True)
    assert (weights.data[0][~mask] == 0.0).all()
    rows = weights.data[0].sum(axis=-1)
    np.testing.assert_allclose(np.delete(rows, 2), 1.0, rtol=1e-6)


def test_a_fully_masked_row_gives_zero_output_and_zero_gradient_without_warnings():
    mask = with_a_fully_masked_row()
    q, k, v = (Tensor(a, requires_grad=True) for a in (randn(1, 4, 5), randn(1, 6, 5), randn(1, 6, 5)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out.sum().backward()
    assert np.isfinite(out.data).all()
    np.testing.assert_array_equal(out.data[0, 2], 0.0)
    np.testing.assert_array_equal(q.grad[0, 2], 0.0)
    assert np.isfinite(k.grad).all() and np.isfinite(v.grad).all()


def test_causal_output_at_a_position_ignores_every_later_input():
    q, k, v = randn(2, 6, 4), randn(2, 6, 4), randn(2, 6, 4)
    out = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), is_causal=True).data
    for later in range(1, 6):
        k2, v2, q2 = k.copy(), v.copy(), q.copy()
        k2[:, later:] += 5.0
        v2[:, later:] -= 3.0
        q2[:, later:] *= 2.0
        moved = scaled_dot_product_attention(Tensor(q2), Tensor(k2), Tensor(v2), is_causal=True).data
        np.testing.assert_array_equal(moved[:, :later], out[:, :later])
        assert not np.allclose(moved[:, later:], out[:, later:])


def test_causal_mask_helper_with_an_offset():
    np.testing.assert_array_equal(causal_mask(2, 5, start=3), [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    np.testing.assert_array_equal(causal_mask(3), np.tril(np.ones((3, 3), bool)))


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(attn_mask=np.ones((4, 6), np.int64)), TypeError, "must be bool"),
    (dict(attn_mask=np.ones((3, 6), bool)), ValueError, r"attn_mask shape \(3, 6\) does not broadcast to \(..., 4, 6\)"),
    (dict(attn_mask=np.ones((4, 6), bool), is_causal=True), ValueError, "either attn_mask or is_causal"),
    (dict(dropout_p=1.0), ValueError, r"dropout_p must be in \[0, 1\)"),
])
def test_bad_arguments_raise_clear_errors(kwargs, error, match):
    q, k, v = Tensor(randn(4, 3)), Tensor(randn(6, 3)), Tensor(randn(6, 3))
    with pytest.raises(error, match=match):
        scaled_dot_product_attention(q, k, v, **kwargs)


def test_mismatched_shapes_are_named():
    with pytest.raises(ValueError, match=r"query \(4, 3\) and key \(6, 2\)"):
        scaled_dot_product_attention(Tensor(randn(4, 3)), Tensor(randn(6, 2)), Tensor(randn(6, 3)))


# ------------------------------------------------------------------ multi-head attention

def to_float64(module):
    for p in module.parameters():
        p.data = p.data.astype(np.float64)
    return module


def test_mha_shapes_and_weights():
    mha = MultiHeadAttention(16, 4)
    x = Tensor(randn(2, 5, 16))
    out, weights = mha(x)
    assert out.shape == (2, 5, 16) and weights is None
    out2, avg = mha(x, need_weights=True)
    np.testing.assert_allclose(out2.data, out.data, rtol=1e-5, atol=1e-6)
    assert avg.shape == (2, 5, 5)
    _, per_head = mha(x, need_weights=True, average_attn_weights=False, is_causal=True)
    assert per_head.shape == (2, 4, 5, 5)
    np.testing.assert_allclose(per_head.data.sum(-1), 1.0, rtol=1e-5)
    assert (per_head.data[..., np.triu_indices(5, 1)[0], np.triu_indices(5, 1)[1]] == 0).all()


def test_mha_self_attention_equals_passing_the_query_as_key_and_value():
    mha = MultiHeadAttention(8, 2)
    x = Tensor(randn(3, 4, 8))
    np.testing.assert_allclose(mha(x)[0].data, mha(x, x, x)[0].data, rtol=1e-5, atol=1e-6)


def test_mha_cross_attention_with_another_length():
    mha = MultiHeadAttention(8, 2)
    out, w = mha(Tensor(randn(2, 3, 8)), Tensor(randn(2, 7, 8)), Tensor(randn(2, 7, 8)), need_weights=True)
    assert out.shape == (2, 3, 8) and w.shape == (2, 3, 7)


def test_mha_gradcheck_float64_through_the_input_and_every_parameter():
    tinytorch.manual_seed(0)
    mha = to_float64(MultiHeadAttention(6, 2))
    x = RNG.standard_normal((2, 3, 6))
    gradcheck(lambda t: mha(t, is_causal=True)[0], x)
    # each parameter: analytic .grad against central differences on a few entries
    weights = np.random.default_rng(1).standard_normal((2, 3, 6))

    def objective():
        return (mha(Tensor(x, dtype=np.float64), is_causal=True)[0] * Tensor(weights, dtype=np.float64)).sum()
    mha.zero_grad()
    objective().backward()
    for name, param in mha.named_parameters():
        flat = param.data.reshape(-1)
        for index in (0, flat.size // 2, flat.size - 1):
            saved, values = flat[index], []
            for delta in (1e-6, -1e-6):
                flat[index] = saved + delta
                with no_grad():
                    values.append(objective().item())
            flat[index] = saved
            numeric = (values[0] - values[1]) / 2e-6
            assert abs(param.grad.reshape(-1)[index] - numeric) < 1e-5 * (1 + abs(numeric)), (name, index)


def test_mha_need_weights_path_has_the_same_gradients():
    mha = MultiHeadAttention(8, 2)
    x = randn(2, 4, 8)
    grads = []
    for need in (False, True):
        mha.zero_grad()
        xt = Tensor(x, requires_grad=True)
        mha(xt, is_causal=True, need_weights=need)[0].sum().backward()
        grads.append([xt.grad] + [p.grad for p in mha.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_mha_decoding_with_a_kv_cache_equals_full_causal_attention():
    mha = MultiHeadAttention(8, 2)
    x = randn(2, 6, 8)
    with no_grad():
        full = mha(Tensor(x), is_causal=True)[0].data
        cache = ArrayKVCache(1, 2, 2, 6, 4)
        steps = [mha(Tensor(x[:, :3]), is_causal=True, kv_cache=cache)[0].data]
        cache.advance(3)
        for t in range(3, 6):
            steps.append(mha(Tensor(x[:, t:t + 1]), is_causal=True, kv_cache=cache)[0].data)
            cache.advance(1)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-5, atol=1e-6)


def test_fused_cached_attention_equals_the_general_path_with_gradients_to_the_queries():
    """The decoding fast path (CachedSelfAttention: one node, no mask for one new position) gives the
    outputs and the input/parameter gradients of the general cached path (projections, masked
    attention with the cached keys and values as constants), here reached with need_weights=True."""
    mha = MultiHeadAttention(8, 2)
    x = randn(2, 6, 8)
    results = []
    for need_weights in (False, True):
        cache = ArrayKVCache(1, 2, 2, 6, 4)
        with no_grad():
            mha(Tensor(x[:, :3]), is_causal=True, kv_cache=cache)
        cache.advance(3)
        for new in (x[:, 3:5], x[:, 5:6]):  # two new positions (causal mask needed), then one
            xt = Tensor(new, requires_grad=True)
            mha.zero_grad()
            out, _ = mha(xt, is_causal=True, kv_cache=cache, need_weights=need_weights)
            (out * Tensor(np.cos(np.arange(out.data.size)).reshape(out.shape).astype(np.float32))).sum().backward()
            cache.advance(new.shape[1])
            results.append([out.data, xt.grad] + [p.grad for p in mha.parameters()])
    for fused, general in zip(results[:2], results[2:]):
        for a, b in zip(fused, general):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_mha_rejects_bad_configurations_and_inputs():
    with pytest.raises(ValueError, match=r"embed_dim \(10\) must be divisible by num_heads \(4\)"):
        MultiHeadAttention(10, 4)
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"expected query of shape \(batch, seq, 8\), got \(2, 5, 6\)"):
        mha(Tensor(randn(2, 5, 6)))
    with pytest.raises(ValueError, match="self-attention only"):
        mha(Tensor(randn(1, 2, 8)), Tensor(randn(1, 2, 8)), kv_cache=ArrayKVCache(1, 1, 2, 4, 4))


def test_mha_dropout_only_while_training():
    mha = MultiHeadAttention(8, 2, dropout=0.5)
    x = Tensor(randn(2, 5, 8))
    mha.eval()
    a, b = mha(x)[0].data, mha(x)[0].data
    np.testing.assert_array_equal(a, b)
    mha.train()
    assert not np.allclose(mha(x)[0].data, a)


def test_attention_imports_only_earlier_modules():
    allowed = {"tinytorch.core.activations", "tinytorch.core.autograd", "tinytorch.core.layers", "tinytorch.core.random", "tinytorch.core.tensor"}
    assert imported_tinytorch_modules(ROOT / "tinytorch/core/attention.py") <= allowed
