"""Module 13: LayerNorm (fused vs composed), MLP, TransformerBlock and GPT (forward, causality, generate, KV cache)."""

import sys
from pathlib import Path

import numpy as np
import pytest
from gradcheck import gradcheck
from kvcache_double import ArrayKVCache
from modulegraph import imported_tinytorch_modules

import tinytorch
from tinytorch.core.autograd import no_grad
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.optimizers import Adam
from tinytorch.core.tensor import Tensor
from tinytorch.core.transformers import (
    GPT,
    MLP,
    GPTConfig,
    LayerNorm,
    LayerNormFunction,
    MLPFunction,
    TransformerBlock,
    layer_norm_composed,
)

ROOT = Path(__file__).resolve().parents[3]
RNG = np.random.default_rng(13)


def to_float64(module):
    for p in module.parameters():
        p.data = p.data.astype(np.float64)
    return module


def tiny_gpt(seed=0, **overrides):
    tinytorch.manual_seed(seed)
    config = dict(vocab_size=11, context_length=8, n_layer=2, n_head=2, n_embd=16, init_std=0.2)
    return GPT(GPTConfig(**{**config, **overrides})).eval()


# ------------------------------------------------------------------ LayerNorm

def test_layer_norm_fused_equals_composed_forward_and_gradients():
    x = RNG.standard_normal((3, 5, 8)).astype(np.float32) * 3 + 1
    w, b = RNG.standard_normal(8).astype(np.float32), RNG.standard_normal(8).astype(np.float32)
    results = []
    for fn in (lambda *t: LayerNormFunction.apply(*t), layer_norm_composed):
        inputs = [Tensor(a, requires_grad=True) for a in (x, w, b)]
        out = fn(*inputs)
        (out * Tensor(np.cos(np.arange(out.data.size, dtype=np.float32)).reshape(out.shape))).sum().backward()
        results.append([out.data] + [t.grad for t in inputs])
    for fused, composed in zip(*results):
        np.testing.assert_allclose(fused, composed, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fn", [lambda x, w, b: LayerNormFunction.apply(x, w, b), layer_norm_composed],
                         ids=["fused", "composed"])
def test_layer_norm_gradcheck_float64(fn):
    gradcheck(fn, RNG.standard_normal((2, 3, 5)), RNG.standard_normal(5), RNG.standard_normal(5))


def test_layer_norm_gradcheck_over_two_trailing_dims_and_without_affine():
    gradcheck(lambda x, w, b: LayerNormFunction.apply(x, w, b, ndim=2), RNG.standard_normal((2, 3, 4)),
              RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4)))
    gradcheck(lambda x: LayerNormFunction.apply(x), RNG.standard_normal((4, 6)))


def test_layer_norm_module_normalises_and_learns_scale_and_shift():
    ln = LayerNorm(6)
    assert [n for n, _ in ln.named_parameters()] == ["weight", "bias"]
    x = Tensor(RNG.standard_normal((4, 6)).astype(np.float32) * 10 + 5)
    y = ln(x).data
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(-1), 1, rtol=1e-3)
    assert LayerNorm(6, bias=False).bias is None and LayerNorm(6, elementwise_affine=False).weight is None
    assert LayerNorm((2, 3))(Tensor(np.ones((4, 2, 3), np.float32))).shape == (4, 2, 3)
    with pytest.raises(ValueError, match=r"input shape \(4, 5\) does not end with normalized_shape \(6,\)"):
        ln(Tensor(np.zeros((4, 5), np.float32)))


def test_layer_norm_is_stable_for_constant_and_huge_inputs():
    ln = LayerNorm(4)
    np.testing.assert_array_equal(ln(Tensor(np.full((2, 4), 7.0, np.float32))).data, 0.0)
    big = ln(Tensor(np.array([[1e4, 2e4, 3e4, 4e4]], np.float32))).data
    np.testing.assert_allclose(big, [[-1.3416, -0.4472, 0.4472, 1.3416]], atol=1e-3)


# ------------------------------------------------------------------ MLP and block

@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_fused_mlp_equals_its_layers_forward_and_gradients(activation):
    tinytorch.manual_seed(2)
    mlp = MLP(8, 16, activation=activation)
    x = RNG.standard_normal((3, 4, 8)).astype(np.float32)
    results = []
    for forward in (mlp.forward, mlp.forward_composed):
        mlp.zero_grad()
        xt = Tensor(x, requires_grad=True)
        out = forward(xt)
        (out * Tensor(np.cos(np.arange(out.data.size, dtype=np.float32)).reshape(out.shape))).sum().backward()
        results.append([out.data, xt.grad] + [p.grad for p in mlp.parameters()])
    for fused, composed in zip(*results):
        np.testing.assert_allclose(fused, composed, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_fused_mlp_gradcheck_float64(activation):
    def fn(x, w1, b1, w2, b2):
        return MLPFunction.apply(x, w1, b1, w2, b2, activation=activation)
    # random pre-activations sit nowhere near ReLU's kink at the scale of eps = 1e-6
    gradcheck(fn, RNG.standard_normal((2, 3, 4)), RNG.standard_normal((6, 4)), RNG.standard_normal(6),
              RNG.standard_normal((4, 6)), RNG.standard_normal(4))
    gradcheck(lambda x, w1, w2: MLPFunction.apply(x, w1, None, w2, None, activation=activation),
              RNG.standard_normal((5, 4)), RNG.standard_normal((3, 4)), RNG.standard_normal((2, 3)))


def test_mlp_rejects_an_unknown_activation():
    with pytest.raises(ValueError, match="activation must be one of"):
        MLP(4, activation="swish")


def test_mlp_and_block_gradcheck_float64():
    tinytorch.manual_seed(1)
    mlp = to_float64(MLP(4, 8))
    gradcheck(lambda x: mlp(x), RNG.standard_normal((2, 3, 4)))
    block = to_float64(TransformerBlock(4, num_heads=2))
    gradcheck(lambda x: block(x, is_causal=True), RNG.standard_normal((2, 3, 4)))


def test_block_is_pre_ln_with_residuals():
    block = TransformerBlock(8, 2)
    x = Tensor(RNG.standard_normal((1, 3, 8)).astype(np.float32))
    for sub in (block.attn.out_proj, block.mlp.proj):  # zero both branches: the block is the identity
        sub.weight.data[...] = 0
        sub.bias.data[...] = 0
    np.testing.assert_array_equal(block(x).data, x.data)


def test_block_attention_weights_for_plots():
    block = TransformerBlock(8, 2)
    weights = block.attention_weights(Tensor(RNG.standard_normal((3, 5, 8)).astype(np.float32)), is_causal=True)
    assert weights.shape == (3, 2, 5, 5)
    assert (weights.data[:, :, 0, 1:] == 0).all()


# ------------------------------------------------------------------ GPT forward

def test_gpt_logits_shape_parameters_and_config():
    model = tiny_gpt()
    logits = model(np.zeros((3, 8), np.int64))
    assert logits.shape == (3, 8, 11) and logits.dtype == np.float32
    names = [n for n, _ in model.named_parameters()]
    assert names[:2] == ["tok_emb.weight", "pos_emb.weight"] and names[-1] == "head.weight"
    assert model.num_parameters() == sum(p.data.size for p in model.parameters())
    assert isinstance(tiny_gpt(positional="sinusoidal")(np.zeros((1, 4), np.int64)), Tensor)
    with pytest.raises(ValueError, match="positional must be 'learned' or 'sinusoidal'"):
        GPT(GPTConfig(positional="rotary"))


def test_gpt_attention_weights_are_causal_and_match_the_forward_pass():
    model = tiny_gpt()
    ids = RNG.integers(0, 11, (2, 6))
    weights = model.attention_weights(ids)
    assert len(weights) == 2 and all(w.shape == (2, 2, 6, 6) for w in weights)
    for w in weights:
        np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)
        assert (w[..., np.triu_indices(6, 1)[0], np.triu_indices(6, 1)[1]] == 0).all()
    # the first block's weights are those of its attention on the embedded input
    with no_grad():
        x = model.pos_emb(model.tok_emb(ids))
        np.testing.assert_allclose(weights[0], model.blocks[0].attention_weights(x, is_causal=True).data, rtol=1e-6)


def test_gpt_accepts_keyword_sizes_and_the_earlier_tinytorch_names():
    tinytorch.manual_seed(0)
    a = GPT(vocab_size=20, embed_dim=16, num_layers=1, num_heads=2, max_seq_len=12)
    tinytorch.manual_seed(0)
    b = GPT(GPTConfig(vocab_size=20, n_embd=16, n_layer=1, n_head=2, context_length=12))
    assert a.config == b.config
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    with pytest.raises(TypeError, match="unknown size 'layers'"):
        GPT(vocab_size=20, layers=2)
    with pytest.raises(TypeError, match="'n_embd' given twice"):
        GPT(n_embd=8, embed_dim=8)
    with pytest.raises(TypeError, match="not both"):
        GPT(GPTConfig(), n_layer=3)


def test_gpt_initialisation_follows_nanogpt():
    model = tiny_gpt(init_std=0.02, n_embd=64, vocab_size=500)
    params = dict(model.named_parameters())
    assert abs(params["tok_emb.weight"].data.std() - 0.02) < 0.002
    assert abs(params["blocks.0.attn.out_proj.weight"].data.std() - 0.02 / np.sqrt(4)) < 0.002
    assert (params["blocks.0.attn.in_proj.bias"].data == 0).all()
    assert (params["blocks.1.ln2.weight"].data == 1).all()


def test_gpt_is_causal_later_tokens_never_move_earlier_logits():
    model = tiny_gpt()
    ids = RNG.integers(0, 11, (2, 8))
    with no_grad():
        base = model(ids).data
        for t in range(1, 8):
            changed = ids.copy()
            changed[:, t:] = (changed[:, t:] + 1 + RNG.integers(0, 9, changed[:, t:].shape)) % 11
            moved = model(changed).data
            np.testing.assert_array_equal(moved[:, :t], base[:, :t])
            assert not np.allclose(moved[:, t:], base[:, t:])


def test_gpt_gradcheck_float64_through_the_whole_model():
    model = to_float64(tiny_gpt(n_layer=1, n_embd=8, context_length=4))
    ids = np.array([[1, 3, 3, 0], [2, 2, 5, 1]])
    targets = np.array([3, 3, 0, 4, 2, 5, 1, 7])
    loss = CrossEntropyLoss()(model(ids).reshape(-1, 11), targets)
    loss.backward()
    for name, param in model.named_parameters():
        flat, grad = param.data.reshape(-1), param.grad.reshape(-1)
        for index in np.unique([0, flat.size // 3, flat.size - 1]):
            saved, values = flat[index], []
            for delta in (1e-6, -1e-6):
                flat[index] = saved + delta
                with no_grad():
                    values.append(CrossEntropyLoss()(model(ids).reshape(-1, 11), targets).item())
            flat[index] = saved
            numeric = (values[0] - values[1]) / 2e-6
            assert abs(grad[index] - numeric) < 1e-6 + 1e-5 * abs(numeric), (name, index, grad[index], numeric)


def test_gpt_learns_a_repeating_pattern():
    model = tiny_gpt().train()
    optimizer = Adam(model.parameters(), lr=1e-2)
    ids = np.tile(np.array([1, 2, 3, 4, 5, 6, 7, 8, 9]), (4, 1))
    losses = []
    for _ in range(60):
        loss = CrossEntropyLoss()(model(ids[:, :8]).reshape(-1, 11), ids[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 < losses[0]


def test_gpt_rejects_bad_inputs():
    model = tiny_gpt()
    with pytest.raises(ValueError, match=r"0 cached \+ 9 new positions exceed context_length=8"):
        model(np.zeros((1, 9), np.int64))
    with pytest.raises(ValueError, match=r"expected token ids of shape \(batch, seq_len\)"):
        model(np.zeros(5, np.int64))
    with pytest.raises(IndexError, match="token id 11 is out of range for num_embeddings=11"):
        model(np.array([[11]]))


# ------------------------------------------------------------------ generate

def test_generate_shapes_and_batches():
    model = tiny_gpt()
    prompt = RNG.integers(0, 11, (3, 2))
    out = model.generate(prompt, max_new_tokens=5)
    assert out.shape == (3, 7) and out.dtype == np.int64
    np.testing.assert_array_equal(out.data[:, :2], prompt)
    assert ((0 <= out.data) & (out.data < 11)).all()
    assert model.generate(Tensor(prompt), 0).shape == (3, 2)


def test_generate_is_reproducible_under_a_seed():
    model = tiny_gpt()
    prompt = np.array([[1, 2], [3, 4]])
    tinytorch.manual_seed(42)
    a = model.generate(prompt, 6, temperature=1.5).data
    tinytorch.manual_seed(42)
    b = model.generate(prompt, 6, temperature=1.5).data
    tinytorch.manual_seed(43)
    c = model.generate(prompt, 6, temperature=1.5).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_greedy_and_top1_follow_the_argmax_of_the_logits():
    model = tiny_gpt()
    prompt = RNG.integers(0, 11, (4, 3))
    greedy = model.generate(prompt, 4, temperature=0).data
    top1 = model.generate(prompt, 4, temperature=0.7, top_k=1).data
    np.testing.assert_array_equal(greedy, top1)
    with no_grad():
        for t in range(3, 7):
            np.testing.assert_array_equal(greedy[:, t], model(greedy[:, :t]).data[:, -1].argmax(-1))


def test_each_row_of_a_batch_is_generated_as_if_alone():
    model = tiny_gpt()
    prompt = RNG.integers(0, 11, (3, 4))
    batch = model.generate(prompt, 5, temperature=0).data
    for row in range(3):
        np.testing.assert_array_equal(model.generate(prompt[row:row + 1], 5, temperature=0).data[0], batch[row])


def test_sampling_follows_the_softmax_and_top_k_restricts_it():
    logits = np.log(np.array([[0.1, 0.2, 0.3, 0.4]]))
    tinytorch.manual_seed(0)
    draws = np.concatenate([GPT._pick(logits, 1.0, None) for _ in range(4000)])[:, 0]
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 4000, [0.1, 0.2, 0.3, 0.4], atol=0.03)
    top2 = np.concatenate([GPT._pick(logits, 1.0, 2) for _ in range(2000)])[:, 0]
    assert set(top2) == {2, 3}
    np.testing.assert_allclose((top2 == 3).mean(), 0.4 / 0.7, atol=0.04)
    hot = np.concatenate([GPT._pick(logits, 100.0, None) for _ in range(2000)])[:, 0]
    np.testing.assert_allclose(np.bincount(hot, minlength=4) / 2000, 0.25, atol=0.04)


def test_generate_crops_to_the_context_length():
    model = tiny_gpt()
    prompt = RNG.integers(0, 11, (2, 12))  # longer than the context of 8
    out = model.generate(prompt, 10, temperature=0).data
    assert out.shape == (2, 22)
    with no_grad():
        np.testing.assert_array_equal(out[:, 12], model(prompt[:, -8:]).data[:, -1].argmax(-1))
        np.testing.assert_array_equal(out[:, 21], model(out[:, 13:21]).data[:, -1].argmax(-1))


def test_generate_rejects_bad_arguments():
    model = tiny_gpt()
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        model.generate(np.zeros((1, 1), np.int64), 2, temperature=-1)
    with pytest.raises(ValueError, match="top_k must be >= 1"):
        model.generate(np.zeros((1, 1), np.int64), 2, top_k=0)
    with pytest.raises(ValueError, match="non-empty \\(batch, seq_len\\) integer prompt"):
        model.generate(np.zeros((1, 0), np.int64), 2)


# ------------------------------------------------------------------ KV cache (module 17's interface, test double)

def test_cached_forward_gives_the_logits_of_the_full_forward():
    model = tiny_gpt()
    ids = RNG.integers(0, 11, (2, 8))
    cache = ArrayKVCache(2, 2, 2, 8, 8)
    with no_grad():
        full = model(ids).data
        pieces = [model(ids[:, :5], kv_cache=cache).data]
        for t in range(5, 8):
            pieces.append(model(ids[:, t:t + 1], kv_cache=cache).data)
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), full, rtol=1e-5, atol=1e-5)
    assert cache.length == 8
    assert cache.calls[:3] == [("update", 0, 5), ("update", 1, 5), ("advance", 5)]


@pytest.mark.parametrize("temperature,top_k", [(0, None), (0.8, 3)])
def test_cached_generation_equals_uncached_generation(temperature, top_k):
    model = tiny_gpt()
    prompt = RNG.integers(0, 11, (3, 3))
    tinytorch.manual_seed(5)
    plain = model.generate(prompt, 12, temperature=temperature, top_k=top_k).data  # runs past the context
    tinytorch.manual_seed(5)
    cache = ArrayKVCache(2, 3, 2, 8, 8)
    cached = model.generate(prompt, 12, temperature=temperature, top_k=top_k, kv_cache=cache).data
    np.testing.assert_array_equal(cached, plain)
    updates = [c for c in cache.calls if c[0] == "update" and c[1] == 0]
    assert updates[0] == ("update", 0, 3) and updates[1] == ("update", 0, 1)  # prompt once, then one token


def test_use_cache_without_module_17_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "tinytorch.perf.memoization", None)
    with pytest.raises(ImportError, match="needs module 17 \\(memoization\\)"):
        tiny_gpt().generate(np.zeros((1, 2), np.int64), 3, use_cache=True)


def test_cache_overflow_is_a_clear_error():
    model = tiny_gpt()
    cache = ArrayKVCache(2, 1, 2, 8, 8)
    with no_grad():
        model(np.zeros((1, 6), np.int64), kv_cache=cache)
        with pytest.raises(ValueError, match=r"6 cached \+ 3 new positions exceed context_length=8"):
            model(np.zeros((1, 3), np.int64), kv_cache=cache)


def test_transformers_import_only_earlier_modules():
    allowed = {f"tinytorch.core.{m}" for m in ("activations", "attention", "autograd", "embeddings", "layers",
                                                 "random", "tensor")}
    assert imported_tinytorch_modules(ROOT / "tinytorch/core/transformers.py") <= allowed
