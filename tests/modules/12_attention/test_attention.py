"""Module 12: scaled dot-product attention and multi-head attention, composed from earlier modules."""

import ast
import warnings
from pathlib import Path

import numpy as np
import pytest
from gradcheck import gradcheck, parameter_gradcheck
from kvcache_double import ConcatLayerCache
from modulegraph import imported_tinytorch_modules

import tinytorch
from tinytorch.core.attention import MultiHeadAttention, causal_mask, scaled_dot_product_attention
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


# ------------------------------------------------------------------ composed from the earlier modules

def test_attention_writes_no_backward_of_its_own():
    """Module 12 composes matmul, masked_fill, softmax and dropout: no Function subclass, autograd differentiates."""
    tree = ast.parse((ROOT / "tinytorch/core/attention.py").read_text())
    defined = [node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    assert defined == ["MultiHeadAttention"]


def test_attention_equals_softmax_of_the_scores_computed_in_numpy():
    q, k, v = randn(2, 4, 3), randn(2, 6, 3), randn(2, 6, 5)
    mask = RNG.random((4, 6)) > 0.3
    mask[:, 0] = True
    scores = np.where(mask, q @ k.transpose(0, 2, 1) / np.sqrt(3), -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    out = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), attn_mask=mask)
    np.testing.assert_allclose(out.data, weights @ v, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mask", MASKS, ids=list(MASKS))
def test_attention_gradcheck_float64(mask):
    kwargs = MASKS[mask]()
    gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, **kwargs), RNG.standard_normal((2, 1, 4, 3)),
              RNG.standard_normal((2, 1, 6, 3)), RNG.standard_normal((2, 1, 6, 2)))


def test_gradcheck_with_broadcast_batch_dims_and_a_custom_scale():
    gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, scale=0.7), RNG.standard_normal((2, 3, 4, 3)),
              RNG.standard_normal((1, 3, 5, 3)), RNG.standard_normal((1, 3, 5, 2)))


def test_dropout_draws_from_the_framework_generator():
    q, k, v = randn(2, 4, 3), randn(2, 5, 3), randn(2, 5, 3)
    tinytorch.manual_seed(7)
    first = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), dropout_p=0.5)
    tinytorch.manual_seed(7)
    again = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), dropout_p=0.5)
    np.testing.assert_array_equal(first.data, again.data)
    no_drop = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v))
    assert not np.allclose(first.data, no_drop.data)


def test_dropout_gradcheck_with_a_fixed_mask():
    k, v = Tensor(randn(2, 5, 3), dtype=np.float64), Tensor(randn(2, 5, 3), dtype=np.float64)

    def fn(q):
        tinytorch.manual_seed(7)  # the same dropout mask on every evaluation
        return scaled_dot_product_attention(q, k, v, dropout_p=0.3)
    gradcheck(fn, randn(2, 4, 3))


# ------------------------------------------------------------------ masks

def test_masked_keys_get_exactly_zero_weight():
    """Whatever a masked key's value is, the output does not move: its weight is exactly 0."""
    mask = with_a_fully_masked_row()
    q, k, v = randn(1, 4, 5), randn(1, 6, 5), randn(1, 6, 5)
    out = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), attn_mask=mask).data
    for key in range(1, 6):
        v2 = v.copy()
        v2[:, key] = 1e6
        moved = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v2), attn_mask=mask).data
        blind = ~mask[:, key]  # the queries that may not see this key
        np.testing.assert_array_equal(moved[0, blind], out[0, blind])
        assert (np.abs(moved[0, ~blind] - out[0, ~blind]) > 1).all()


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
    (dict(dropout_p=1.0), ValueError, r"dropout_p must be a number in \[0, 1\), got 1.0"),
    (dict(dropout_p=float("nan")), ValueError, r"dropout_p must be a number in \[0, 1\), got nan"),
    (dict(scale=float("inf")), ValueError, "scale must be a finite number or None, got inf"),
    (dict(scale="0.5"), ValueError, "scale must be a finite number or None"),
])
def test_bad_arguments_raise_clear_errors(kwargs, error, match):
    q, k, v = Tensor(randn(4, 3)), Tensor(randn(6, 3)), Tensor(randn(6, 3))
    with pytest.raises(error, match=match):
        scaled_dot_product_attention(q, k, v, **kwargs)


def test_mismatched_shapes_and_types_are_named():
    with pytest.raises(ValueError, match=r"query \(4, 3\) and key \(6, 2\)"):
        scaled_dot_product_attention(Tensor(randn(4, 3)), Tensor(randn(6, 2)), Tensor(randn(6, 3)))
    with pytest.raises(ValueError, match=r"the batch dims of query \(2, 4, 3\), key \(3, 6, 3\)"):
        scaled_dot_product_attention(Tensor(randn(2, 4, 3)), Tensor(randn(3, 6, 3)), Tensor(randn(3, 6, 3)))
    with pytest.raises(TypeError, match="query, key and value must be Tensors, got ndarray, Tensor, Tensor"):
        scaled_dot_product_attention(randn(4, 3), Tensor(randn(6, 3)), Tensor(randn(6, 3)))
    with pytest.raises(ValueError, match=r"need shape \(..., seq, dim\)"):
        scaled_dot_product_attention(Tensor(randn(3)), Tensor(randn(6, 3)), Tensor(randn(6, 3)))
    ints = Tensor(np.ones((3, 4), np.int64))
    with pytest.raises(TypeError, match="must be floating point, got int64, int64, int64"):
        scaled_dot_product_attention(ints, ints, ints)
    q = Tensor(randn(3, 4))
    with pytest.raises(TypeError, match="scaled_dot_product_attention: is_causal must be True or False, got 'yes'"):
        scaled_dot_product_attention(q, q, q, is_causal="yes")
    for args, match in (((0,), "query_len must be an int >= 1, got 0"), ((2, 2.5), "key_len must be an int >= 1"),
                        ((2, 3, -1), "start must be an int >= 0, got -1")):
        with pytest.raises(ValueError, match=f"causal_mask: {match}"):
            causal_mask(*args)


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
    weights = Tensor(np.random.default_rng(1).standard_normal((2, 3, 6)), dtype=np.float64)
    parameter_gradcheck(lambda: (mha(Tensor(x, dtype=np.float64), is_causal=True)[0] * weights).sum(), mha,
                        atol=1e-5)


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


def test_mha_decoding_with_a_layer_cache_equals_full_causal_attention():
    mha = MultiHeadAttention(8, 2)
    x = randn(2, 6, 8)
    cache = ConcatLayerCache()
    with no_grad():
        full = mha(Tensor(x), is_causal=True)[0].data
        steps = [mha(Tensor(x[:, :3]), is_causal=True, layer_cache=cache)[0].data]
        for new in (x[:, 3:5], x[:, 5:6]):  # two new positions (the causal mask offset by 3), then one
            steps.append(mha(Tensor(new), is_causal=True, layer_cache=cache)[0].data)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-5, atol=1e-6)
    assert cache.calls == [("update", 0, 3), ("update", 0, 2), ("update", 0, 1)] and cache.get_seq_length() == 6


def test_mha_with_a_layer_cache_and_no_causal_mask_sees_every_cached_key():
    mha = MultiHeadAttention(8, 2)
    x = randn(1, 5, 8)
    cache = ConcatLayerCache()
    with no_grad():
        mha(Tensor(x[:, :3]), layer_cache=cache)
        out, weights = mha(Tensor(x[:, 3:]), layer_cache=cache, need_weights=True)
        full = mha(Tensor(x))[0].data
    np.testing.assert_allclose(out.data, full[:, 3:], rtol=1e-5, atol=1e-6)
    assert weights.shape == (1, 2, 5) and (weights.data > 0).all()


def test_mha_rejects_bad_configurations_and_inputs():
    with pytest.raises(ValueError, match=r"embed_dim \(10\) must be divisible by num_heads \(4\)"):
        MultiHeadAttention(10, 4)
    for args, match in (((0, 1), "embed_dim must be a positive int, got 0"),
                        ((8, 0), "num_heads must be a positive int, got 0"),
                        ((8.0, 2), "embed_dim must be a positive int, got 8.0"),
                        ((True, 1), "embed_dim must be a positive int, got True")):
        with pytest.raises(ValueError, match=f"MultiHeadAttention: {match}"):
            MultiHeadAttention(*args)
    for p in (-0.1, 1.0, float("nan"), "0.1"):
        with pytest.raises(ValueError, match=r"MultiHeadAttention: dropout must be a number in \[0, 1\)"):
            MultiHeadAttention(8, 2, dropout=p)
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"expected query of shape \(batch, seq, 8\), got \(2, 5, 6\)"):
        mha(Tensor(randn(2, 5, 6)))
    with pytest.raises(ValueError, match=r"expected query of shape \(batch, seq, 8\), got ndarray"):
        mha(randn(2, 5, 8))
    with pytest.raises(ValueError, match=r"expected key of shape \(batch, seq, 8\)"):
        mha(Tensor(randn(2, 5, 8)), Tensor(randn(2, 5, 4)), Tensor(randn(2, 5, 8)))
    with pytest.raises(ValueError, match="key .* and value .* must share batch and sequence dims"):
        mha(Tensor(randn(2, 5, 8)), Tensor(randn(2, 5, 8)), Tensor(randn(2, 4, 8)))
    with pytest.raises(ValueError, match="self-attention only"):
        mha(Tensor(randn(1, 2, 8)), Tensor(randn(1, 2, 8)), layer_cache=ConcatLayerCache())
    with pytest.raises(ValueError, match="either attn_mask or is_causal"):
        mha(Tensor(randn(1, 2, 8)), attn_mask=np.ones((2, 2), bool), is_causal=True)
    with pytest.raises(TypeError, match="layer_cache must have get_seq_length\\(\\) and update\\(k, v\\).*got dict"):
        mha(Tensor(randn(1, 2, 8)), layer_cache={})
    with pytest.raises(TypeError, match="MultiHeadAttention: bias must be True or False, got 'no'"):
        MultiHeadAttention(8, 2, bias="no")


def test_a_layer_cache_while_recording_gradients_is_refused():
    """Cached keys and values are stored arrays: training through them would silently lose gradients."""
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(RuntimeError, match="layer_cache is for decoding under no_grad"):
        mha(Tensor(randn(1, 2, 8)), is_causal=True, layer_cache=ConcatLayerCache())


def test_mha_dropout_only_while_training():
    mha = MultiHeadAttention(8, 2, dropout=0.5)
    x = Tensor(randn(2, 5, 8))
    mha.eval()
    a, b = mha(x)[0].data, mha(x)[0].data
    np.testing.assert_array_equal(a, b)
    mha.train()
    assert not np.allclose(mha(x)[0].data, a)


def test_attention_imports_only_earlier_modules():
    allowed = {"tinytorch.core.activations", "tinytorch.core.autograd", "tinytorch.core.layers",
               "tinytorch.core.tensor"}
    assert imported_tinytorch_modules(ROOT / "tinytorch/core/attention.py") <= allowed
