"""Module 18 fusion: every fused kernel equals its composed twin of modules 12-13 (values and gradients),
passes float64 gradient checks, and ``accelerate`` swaps the twins into a model sharing its Parameters."""

import copy

import numpy as np
import pytest
from gradcheck import gradcheck, parameter_gradcheck
from kvcache_double import ConcatLayerCache, layer_caches

import tinytorch
from tinytorch.core.attention import MultiHeadAttention, causal_mask
from tinytorch.core.autograd import no_grad
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.optimizers import SGD, Adam
from tinytorch.core.tensor import Tensor
from tinytorch.core.transformers import GPT, MLP, GPTConfig, LayerNorm, layer_norm
from tinytorch.perf.fusion import (
    FusedCachedAttention,
    FusedLayerNorm,
    FusedLayerNormFunction,
    FusedMLP,
    FusedMLPFunction,
    FusedMultiHeadAttention,
    FusedSelfAttention,
    accelerate,
)
from tinytorch.perf.profiling import Profiler, attention_flops

RNG = np.random.default_rng(18)


def randn(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def weighted_backward(out):
    """Backpropagate a fixed, uneven output gradient (stricter than a plain sum)."""
    out.backward(np.cos(np.arange(out.data.size)).reshape(out.shape).astype(out.dtype))


def assert_same(first, second, rtol=1e-4, atol=1e-5):
    for a, b in zip(first, second, strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def to_float64(module):
    for p in module.parameters():
        p.data = p.data.astype(np.float64)
    return module


# ------------------------------------------------------------------ attention

def composed_packed_attention(qkv, heads, attn_mask=None, is_causal=False, scale=None, dropout_p=0.0):
    """The fused node's maths written with module 12's composed attention: split heads, attend, merge."""
    from tinytorch.core.attention import scaled_dot_product_attention
    n, t, width = qkv.shape
    parts = qkv.reshape(n, t, 3, heads, width // (3 * heads)).permute(2, 0, 3, 1, 4)
    out = scaled_dot_product_attention(parts[0], parts[1], parts[2], attn_mask=attn_mask, is_causal=is_causal,
                                       scale=scale, dropout_p=dropout_p)
    return out.transpose(1, 2).reshape(n, t, width // 3)


def fully_masked_row(t):
    mask = RNG.random((t, t)) > 0.4
    mask[:, 0] = True
    mask[1] = False
    return mask


ATTENTION_MASKS = {
    "none": lambda t: dict(),
    "causal": lambda t: dict(allowed=causal_mask(t)),
    "bool": lambda t: dict(allowed=RNG.random((t, t)) > 0.3),
    "float": lambda t: dict(bias=RNG.standard_normal((t, t))),
    "fully masked row": lambda t: dict(allowed=fully_masked_row(t)),
}


@pytest.mark.parametrize("mask", ATTENTION_MASKS, ids=list(ATTENTION_MASKS))
def test_fused_self_attention_equals_the_composed_attention_values_and_gradients(mask):
    masks = ATTENTION_MASKS[mask](5)
    attn_mask = masks.get("allowed", masks.get("bias"))
    qkv = randn(2, 5, 24)
    results = []
    for fn in (lambda t: FusedSelfAttention.apply(t, num_heads=2, scale=0.5, **masks),
               lambda t: composed_packed_attention(t, 2, attn_mask=attn_mask, scale=0.5)):
        x = Tensor(qkv, requires_grad=True)
        out = fn(x)
        weighted_backward(out)
        results.append((out.data, x.grad))
    assert_same(*results, atol=1e-6)


@pytest.mark.parametrize("mask", ATTENTION_MASKS, ids=list(ATTENTION_MASKS))
def test_fused_self_attention_gradcheck_float64(mask):
    masks = ATTENTION_MASKS[mask](4)
    gradcheck(lambda t: FusedSelfAttention.apply(t, num_heads=2, scale=0.7, **masks), RNG.standard_normal((2, 4, 12)))


def test_fused_self_attention_with_dropout_equals_the_composed_draws_and_gradcheck():
    qkv = randn(2, 4, 12)
    results = []
    for fused in (True, False):
        tinytorch.manual_seed(3)
        model = MultiHeadAttention(4, 2, dropout=0.4)
        model = accelerate(model) if fused else model
        x = Tensor(qkv[..., :4], requires_grad=True)
        tinytorch.manual_seed(9)
        out, _ = model(x, is_causal=True)
        weighted_backward(out)
        results.append([out.data, x.grad] + [p.grad for p in model.parameters()])
    assert_same(*results, atol=1e-6)
    keep = (np.random.default_rng(0).random((2, 2, 4, 4)) > 0.4) / 0.6
    gradcheck(lambda t: FusedSelfAttention.apply(t, num_heads=2, allowed=causal_mask(4), scale=0.7, keep=keep),
              RNG.standard_normal((2, 4, 12)))


@pytest.mark.parametrize("scale", [30.0, -30.0, 1e-3])
def test_fused_attention_is_exact_where_exponentials_overflow_or_underflow(scale):
    """The fused softmax skips the row max: scores of +-hundreds (whose exponentials overflow or all
    underflow) must still give module 12's weights and gradients, and never inf, NaN or an overflow warning."""
    qkv = randn(2, 6, 24)
    qkv[0, :, :8] *= 4.0                            # one image's queries: scores of several hundred
    results = []
    for fn in (lambda t: FusedSelfAttention.apply(t, num_heads=2, scale=scale, allowed=causal_mask(6)),
               lambda t: composed_packed_attention(t, 2, is_causal=True, scale=scale)):
        x = Tensor(qkv, requires_grad=True)
        with np.errstate(over="raise", invalid="raise", divide="raise"):   # underflow is every softmax's lot
            out = fn(x)
            weighted_backward(out)
        assert np.isfinite(out.data).all() and np.isfinite(x.grad).all()
        results.append((out.data, x.grad))
    assert_same(*results, atol=1e-5 * max(1.0, abs(scale)))   # gradients grow with the scale


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_fused_softmax_rows_with_inf_or_nan_match_the_textbook_softmax(bad):
    from tinytorch.perf.fusion import _softmax_rows, _stable_softmax
    scores = randn(3, 4, 5)
    scores[0, 1, 2] = bad
    scores[2, 3, :] = -np.inf                      # a fully masked row: zeros
    with np.errstate(invalid="ignore"):            # inf - inf in the reference, as in torch
        expected = _stable_softmax(scores.reshape(-1, 5)).reshape(scores.shape)
        got = _softmax_rows(scores.copy(), None)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(got[2, 3], 0.0)


@pytest.mark.parametrize("causal", [True, False])
def test_fused_cached_attention_equals_composed_cached_decoding(causal):
    tinytorch.manual_seed(4)
    composed = MultiHeadAttention(8, 2)
    fused = FusedMultiHeadAttention.from_module(composed)
    x = randn(2, 7, 8)
    outputs = []
    for module in (composed, fused):
        cache = ConcatLayerCache()
        with no_grad():
            steps = [module(Tensor(x[:, :3]), is_causal=causal, layer_cache=cache)[0].data]
            for new in (x[:, 3:5], x[:, 5:6], x[:, 6:7]):  # two new positions (a mask is needed), then one
                steps.append(module(Tensor(new), is_causal=causal, layer_cache=cache)[0].data)
        outputs.append(np.concatenate(steps, axis=1))
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-5, atol=1e-6)


def test_fused_attention_module_equals_module_12_on_every_path():
    tinytorch.manual_seed(5)
    composed = MultiHeadAttention(8, 2)
    fused = FusedMultiHeadAttention.from_module(composed)
    x, memory = randn(2, 4, 8), randn(2, 6, 8)
    mask = RNG.random((4, 4)) > 0.3
    calls = [dict(is_causal=True), dict(attn_mask=mask), dict(attn_mask=randn(4, 4)),
             dict(need_weights=True, is_causal=True), dict(key=Tensor(memory), value=Tensor(memory))]
    for kwargs in calls:
        results = []
        for module in (composed, fused):
            module.zero_grad()
            xt = Tensor(x, requires_grad=True)
            out, weights = module(xt, **kwargs)
            weighted_backward(out)
            results.append([out.data, xt.grad] + [p.grad for p in module.parameters()]
                           + ([] if weights is None else [weights.data]))
        assert_same(*results, atol=1e-6)


# ------------------------------------------------------------------ layer norm and MLP

@pytest.mark.parametrize("shape,affine", [((8,), True), ((3, 4), True), ((6,), False)])
def test_fused_layer_norm_equals_the_composed_layer_norm(shape, affine):
    x = randn(2, 5, *shape) * 3 + 1
    w, b = randn(*shape), randn(*shape)
    results = []
    for fn in (lambda *t: FusedLayerNormFunction.apply(*t, ndim=len(shape)),
               lambda *t: layer_norm(t[0], shape, *t[1:])):
        inputs = [Tensor(a, requires_grad=True) for a in ((x, w, b) if affine else (x,))]
        out = fn(*inputs)
        weighted_backward(out)
        results.append([out.data] + [t.grad for t in inputs])
    assert_same(*results)


def test_fused_layer_norm_gradcheck_float64():
    gradcheck(lambda x, w, b: FusedLayerNormFunction.apply(x, w, b), RNG.standard_normal((2, 3, 5)),
              RNG.standard_normal(5), RNG.standard_normal(5))
    gradcheck(lambda x, w, b: FusedLayerNormFunction.apply(x, w, b, ndim=2), RNG.standard_normal((2, 3, 4)),
              RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4)))
    gradcheck(lambda x: FusedLayerNormFunction.apply(x), RNG.standard_normal((4, 6)))


@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_fused_mlp_equals_module_13s_mlp_values_and_gradients(activation):
    tinytorch.manual_seed(2)
    composed = MLP(8, 16, activation=activation)
    fused = FusedMLP.from_module(composed)
    x = randn(3, 4, 8)
    results = []
    for module in (composed, fused):
        module.zero_grad()
        xt = Tensor(x, requires_grad=True)
        out = module(xt)
        weighted_backward(out)
        results.append([out.data, xt.grad] + [p.grad for p in module.parameters()])
    assert_same(*results)


@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_fused_mlp_gradcheck_float64(activation):
    def fn(x, w1, b1, w2, b2):
        return FusedMLPFunction.apply(x, w1, b1, w2, b2, activation=activation)
    # random pre-activations sit nowhere near ReLU's kink at the scale of eps = 1e-6
    gradcheck(fn, RNG.standard_normal((2, 3, 4)), RNG.standard_normal((6, 4)), RNG.standard_normal(6),
              RNG.standard_normal((4, 6)), RNG.standard_normal(4))
    gradcheck(lambda x, w1, w2: FusedMLPFunction.apply(x, w1, None, w2, None, activation=activation),
              RNG.standard_normal((5, 4)), RNG.standard_normal((3, 4)), RNG.standard_normal((2, 3)))


# ------------------------------------------------------------------ accelerate

def tiny_gpt(**overrides):
    tinytorch.manual_seed(0)
    config = dict(vocab_size=11, context_length=8, n_layer=2, n_head=2, n_embd=16, init_std=0.3)
    return GPT(GPTConfig(**(config | overrides)))


def test_accelerate_swaps_the_three_modules_keeping_the_same_parameters():
    model = tiny_gpt()
    before = dict(model.named_parameters())
    state = model.state_dict()
    assert accelerate(model) is model
    kinds = {type(m).__name__ for m in model.modules()}
    assert {"FusedMultiHeadAttention", "FusedLayerNorm", "FusedMLP"} <= kinds
    assert not kinds & {"MultiHeadAttention", "LayerNorm", "MLP"}
    after = dict(model.named_parameters())
    assert list(after) == list(before) and all(after[name] is before[name] for name in before)
    assert all(np.array_equal(a, b) for a, b in zip(model.state_dict().values(), state.values()))
    assert accelerate(model) is model and {type(m).__name__ for m in model.modules()} == kinds  # idempotent
    attention = MultiHeadAttention(8, 2)
    assert type(accelerate(attention)) is FusedMultiHeadAttention
    assert type(accelerate(LayerNorm(4))) is FusedLayerNorm
    with pytest.raises(TypeError, match="accelerate: model must be a Module, got str"):
        accelerate("gpt")
    with pytest.raises(TypeError, match="from_module: expected a MultiHeadAttention, got LayerNorm"):
        FusedMultiHeadAttention.from_module(LayerNorm(4))


@pytest.mark.parametrize("activation,positional", [("gelu", "learned"), ("relu", "sinusoidal")])
def test_an_accelerated_gpt_computes_the_same_logits_loss_and_gradients(activation, positional):
    composed = tiny_gpt(activation=activation, positional=positional)
    fused = accelerate(copy.deepcopy(composed))
    ids = RNG.integers(0, 11, (3, 8))
    results = []
    for model in (composed, fused):
        loss = CrossEntropyLoss()(model(ids[:, :-1]).reshape(-1, 11), ids[:, 1:].reshape(-1))
        loss.backward()
        results.append([loss.data] + [p.grad for p in model.parameters()])
    assert_same(*results)


def test_an_accelerated_gpt_passes_a_float64_gradient_check_of_every_parameter():
    model = to_float64(accelerate(tiny_gpt(n_layer=1, n_embd=8, context_length=4)))
    ids = np.array([[1, 3, 3, 0], [2, 2, 5, 1]])
    targets = np.array([3, 3, 0, 4, 2, 5, 1, 7])
    parameter_gradcheck(lambda: CrossEntropyLoss()(model(ids).reshape(-1, 11), targets), model)


@pytest.mark.parametrize("optimizer_first", [True, False], ids=["optimizer before", "optimizer after"])
def test_an_optimizer_built_before_or_after_accelerate_trains_the_same_parameters(optimizer_first):
    # SGD, not Adam: the key projection's bias has an exactly-zero gradient (softmax ignores a shift shared
    # by all keys), and Adam would blow its float32 rounding noise up to full-size steps
    composed, fused = tiny_gpt(), tiny_gpt()
    ids = RNG.integers(0, 11, (4, 9))
    composed_optimizer = SGD(composed.parameters(), lr=0.1)
    if optimizer_first:
        fused_optimizer = SGD(fused.parameters(), lr=0.1)
        accelerate(fused)
    else:
        accelerate(fused)
        fused_optimizer = SGD(fused.parameters(), lr=0.1)
    for model, optimizer in ((composed, composed_optimizer), (fused, fused_optimizer)):
        for _ in range(5):
            loss = CrossEntropyLoss()(model(ids[:, :-1]).reshape(-1, 11), ids[:, 1:].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    for (name, a), (_, b) in zip(composed.named_parameters(), fused.named_parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-4, atol=1e-5, err_msg=name)
    assert not np.allclose(tiny_gpt().head.weight.data, fused.head.weight.data)  # training really moved them


def test_an_accelerated_gpt_decodes_with_past_key_values_as_the_full_forward():
    model = accelerate(tiny_gpt()).eval()
    ids = RNG.integers(0, 11, (2, 8))
    caches = layer_caches(2)
    with no_grad():
        full = model(ids).data
        pieces = [model(ids[:, :5], past_key_values=caches).data]
        pieces += [model(ids[:, t:t + 1], past_key_values=caches).data for t in range(5, 8)]
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), full, rtol=1e-5, atol=1e-5)
    with pytest.raises(RuntimeError, match="layer_cache is for decoding under no_grad"):
        model(ids[:, :1], past_key_values=layer_caches(2))


# ------------------------------------------------------------------ FLOPs stated for module 14's op profile

def test_the_op_profile_of_an_accelerated_training_step_counts_every_product():
    model = accelerate(tiny_gpt(n_embd=16, context_length=10))
    b, t, e, v, layers = 3, 10, 16, 11, 2
    optimizer = Adam(model.parameters(), lr=1e-3)
    batch = RNG.integers(0, v, (b, t + 1))

    def step():
        optimizer.zero_grad()
        CrossEntropyLoss()(model(batch[:, :-1]).reshape(-1, v), batch[:, 1:].reshape(-1)).backward()
        optimizer.step()
    report = Profiler().op_profile(step, warmup=1, repeats=2)
    forward = layers * (2 * b * t * e * 3 * e + 2 * b * t * e * e + 2 * 2 * b * t * t * e
                        + 2 * 2 * b * t * e * 4 * e) + 2 * b * t * e * v
    assert report.flops == 3 * forward  # backward: two products of the forward's size per product
    assert report["FusedMLPFunction"].calls == layers and report["FusedSelfAttention"].calls == layers
    assert report["FusedLayerNormFunction"].calls == 2 * layers + 1 and "MatMul" not in str(report)


def test_the_op_profile_of_a_cached_decoding_step_counts_the_cached_keys():
    model = accelerate(tiny_gpt(n_embd=16, context_length=16)).eval()
    b, prompt, e, layers = 2, 6, 16, 2
    ids = RNG.integers(0, 11, (b, prompt + 1))
    caches = layer_caches(layers)
    with no_grad():
        model(ids[:, :prompt], past_key_values=caches)
        report = Profiler().op_profile(lambda: model(ids[:, prompt:], past_key_values=caches), warmup=0, repeats=1)
    attention = report["FusedCachedAttention"]
    assert attention.calls == layers and attention.backward_flops == 0
    assert attention.forward_flops == layers * attention_flops(b, 1, prompt + 1, e)


# ------------------------------------------------------------------ sums by matrix-vector products

@pytest.mark.parametrize("shape, ndim", [((2, 3, 5), 1), ((2, 3, 5), 2), ((4, 0), 1), ((3, 7), 1)])
def test_row_and_column_sums_equal_numpys_sums(shape, ndim):
    from tinytorch.perf.fusion import _column_sums, _row_means, _row_sums
    a = RNG.standard_normal(shape)
    axes = tuple(range(-ndim, 0))
    np.testing.assert_allclose(_row_sums(a, ndim), a.sum(axis=axes, keepdims=True), rtol=1e-12, atol=1e-12)
    if a.size:
        np.testing.assert_allclose(_row_means(a, ndim), a.mean(axis=axes, keepdims=True), rtol=1e-12)
    rows = a.reshape(int(np.prod(shape[:-1])), shape[-1])
    np.testing.assert_allclose(_column_sums(rows), rows.sum(axis=0), rtol=1e-12, atol=1e-12)
