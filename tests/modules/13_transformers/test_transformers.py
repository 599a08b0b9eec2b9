"""Module 13: LayerNorm, MLP, TransformerBlock and GPT (forward, causality, generate, past keys and values),
composed from the earlier modules."""

import ast
from pathlib import Path

import numpy as np
import pytest
from gradcheck import gradcheck, parameter_gradcheck
from kvcache_double import layer_caches
from modulegraph import imported_tinytorch_modules

import tinytorch
from tinytorch.core.activations import GELU, ReLU
from tinytorch.core.autograd import no_grad
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.optimizers import Adam
from tinytorch.core.tensor import Tensor
from tinytorch.core.transformers import MLP, GPT, GPTConfig, LayerNorm, TransformerBlock, layer_norm, sample_next

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


def test_transformers_write_no_backward_of_their_own():
    """Module 13 composes Tensor ops and earlier modules: no Function subclass, autograd differentiates."""
    tree = ast.parse((ROOT / "tinytorch/core/transformers.py").read_text())
    defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    assert defined == {"LayerNorm", "MLP", "TransformerBlock", "GPTConfig", "GPT"}


# ------------------------------------------------------------------ LayerNorm

def test_layer_norm_equals_its_numpy_definition():
    x = RNG.standard_normal((3, 5, 8)).astype(np.float32) * 3 + 1
    w, b = RNG.standard_normal(8).astype(np.float32), RNG.standard_normal(8).astype(np.float32)
    expected = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * w + b
    np.testing.assert_allclose(layer_norm(Tensor(x), (8,), Tensor(w), Tensor(b)).data, expected, rtol=1e-4,
                               atol=1e-5)


def test_layer_norm_gradcheck_float64():
    gradcheck(lambda x, w, b: layer_norm(x, (5,), w, b), RNG.standard_normal((2, 3, 5)), RNG.standard_normal(5),
              RNG.standard_normal(5))


def test_layer_norm_gradcheck_over_two_trailing_dims_and_without_affine():
    gradcheck(lambda x, w, b: layer_norm(x, (3, 4), w, b), RNG.standard_normal((2, 3, 4)),
              RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4)))
    gradcheck(lambda x: layer_norm(x, (6,)), RNG.standard_normal((4, 6)))


def test_layer_norm_module_normalises_and_learns_scale_and_shift():
    ln = LayerNorm(6)
    assert [n for n, _ in ln.named_parameters()] == ["weight", "bias"]
    x = Tensor(RNG.standard_normal((4, 6)).astype(np.float32) * 10 + 5)
    y = ln(x).data
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(-1), 1, rtol=1e-3)
    assert LayerNorm(6, bias=False).bias is None and LayerNorm(6, elementwise_affine=False).weight is None
    assert LayerNorm((2, 3))(Tensor(np.ones((4, 2, 3), np.float32))).shape == (4, 2, 3)
    with pytest.raises(ValueError, match=r"LayerNorm: input shape \(4, 5\) does not end with normalized_shape \(6,\)"):
        ln(Tensor(np.zeros((4, 5), np.float32)))
    with pytest.raises(ValueError, match=r"layer_norm: input shape \(2, 3\) does not end with normalized_shape \(4,\)"):
        layer_norm(Tensor(np.zeros((2, 3), np.float32)), (4,))
    for args, match in (((0,), "normalized_shape must be a positive int, got 0"),
                        (("a",), "normalized_shape must be a positive int, got 'a'"),
                        ((4, 0.0), r"eps must be a finite number in \(0, inf\), got 0.0")):
        with pytest.raises(ValueError, match=f"LayerNorm: {match}"):
            LayerNorm(*args)


def test_layer_norm_is_stable_for_constant_and_huge_inputs():
    ln = LayerNorm(4)
    np.testing.assert_array_equal(ln(Tensor(np.full((2, 4), 7.0, np.float32))).data, 0.0)
    big = ln(Tensor(np.array([[1e4, 2e4, 3e4, 4e4]], np.float32))).data
    np.testing.assert_allclose(big, [[-1.3416, -0.4472, 0.4472, 1.3416]], atol=1e-3)


# ------------------------------------------------------------------ MLP and block

@pytest.mark.parametrize("activation,kind", [("gelu", GELU), ("relu", ReLU)])
def test_mlp_is_linear_then_module_02s_activation_then_linear(activation, kind):
    tinytorch.manual_seed(2)
    mlp = MLP(8, 16, activation=activation)
    assert type(mlp.act) is kind and [n for n, _ in mlp.named_parameters()] == [
        "fc.weight", "fc.bias", "proj.weight", "proj.bias"]
    x = RNG.standard_normal((3, 4, 8)).astype(np.float32)
    hidden = x @ mlp.fc.weight.data.T + mlp.fc.bias.data
    if activation == "gelu":
        hidden = 0.5 * hidden * (1 + np.tanh(np.sqrt(2 / np.pi) * (hidden + 0.044715 * hidden ** 3)))
    else:
        hidden = np.maximum(hidden, 0)
    expected = hidden @ mlp.proj.weight.data.T + mlp.proj.bias.data
    np.testing.assert_allclose(mlp(Tensor(x)).data, expected, rtol=1e-4, atol=1e-5)


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


def test_gpt_accepts_keyword_sizes_by_the_configs_field_names():
    tinytorch.manual_seed(0)
    a = GPT(vocab_size=20, n_embd=16, n_layer=1, n_head=2, context_length=12)
    tinytorch.manual_seed(0)
    b = GPT(GPTConfig(vocab_size=20, n_embd=16, n_layer=1, n_head=2, context_length=12))
    assert a.config == b.config
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    with pytest.raises(TypeError, match="GPT: unknown size 'embed_dim'; the sizes are GPTConfig's fields"):
        GPT(vocab_size=20, embed_dim=16)
    with pytest.raises(TypeError, match="not both"):
        GPT(GPTConfig(), n_layer=3)
    with pytest.raises(TypeError, match="config must be a GPTConfig, got dict"):
        GPT({"n_layer": 2})


@pytest.mark.parametrize("field,value,match", [
    ("vocab_size", 0, "vocab_size must be a positive int, got 0"),
    ("context_length", 2.5, "context_length must be a positive int, got 2.5"),
    ("n_layer", -1, "n_layer must be a positive int, got -1"),
    ("n_head", True, "n_head must be a positive int, got True"),
    ("n_embd", 10, r"n_embd \(10\) must be divisible by n_head \(4\)"),
    ("dropout", 1.0, r"dropout must be a finite number in \[0, 1\), got 1.0"),
    ("dropout", float("nan"), r"dropout must be a finite number in \[0, 1\), got nan"),
    ("mlp_ratio", 0, r"mlp_ratio must be a finite number in \(0, inf\), got 0"),
    ("init_std", -0.1, r"init_std must be a finite number in \[0, inf\), got -0.1"),
    ("positional", "rotary", "positional must be one of \\('learned', 'sinusoidal'\\), got 'rotary'"),
    ("activation", "swish", "activation must be one of \\('gelu', 'relu'\\), got 'swish'"),
    ("bias", "yes", "bias must be True or False, got 'yes'"),
])
def test_gpt_config_refuses_bad_sizes_naming_the_field(field, value, match):
    with pytest.raises(ValueError, match=f"GPTConfig: {match}"):
        GPTConfig(**{field: value})


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
    parameter_gradcheck(lambda: CrossEntropyLoss()(model(ids).reshape(-1, 11), targets), model)


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
    draws = np.concatenate([sample_next(logits, 1.0) for _ in range(4000)])[:, 0]
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 4000, [0.1, 0.2, 0.3, 0.4], atol=0.03)
    top2 = np.concatenate([sample_next(logits, 1.0, top_k=2) for _ in range(2000)])[:, 0]
    assert set(top2) == {2, 3}
    np.testing.assert_allclose((top2 == 3).mean(), 0.4 / 0.7, atol=0.04)
    hot = np.concatenate([sample_next(logits, 100.0) for _ in range(2000)])[:, 0]
    np.testing.assert_allclose(np.bincount(hot, minlength=4) / 2000, 0.25, atol=0.04)


def test_generate_crops_to_the_context_length():
    model = tiny_gpt()
    prompt = RNG.integers(0, 11, (2, 12))  # longer than the context of 8
    out = model.generate(prompt, 10, temperature=0).data
    assert out.shape == (2, 22)
    with no_grad():
        np.testing.assert_array_equal(out[:, 12], model(prompt[:, -8:]).data[:, -1].argmax(-1))
        np.testing.assert_array_equal(out[:, 21], model(out[:, 13:21]).data[:, -1].argmax(-1))


@pytest.mark.parametrize("kwargs,match", [
    (dict(max_new_tokens=-1), "max_new_tokens must be an int >= 0, got -1"),
    (dict(max_new_tokens=2.5), "max_new_tokens must be an int >= 0, got 2.5"),
    (dict(max_new_tokens=True), "max_new_tokens must be an int >= 0, got True"),
    (dict(temperature=-1), r"temperature must be a finite number in \[0, inf\), got -1"),
    (dict(temperature=float("nan")), r"temperature must be a finite number in \[0, inf\), got nan"),
    (dict(temperature=float("inf")), r"temperature must be a finite number in \[0, inf\), got inf"),
    (dict(top_k=0), "top_k must be an int >= 1 or None, got 0"),
    (dict(top_k=2.5), "top_k must be an int >= 1 or None, got 2.5"),
    (dict(top_p=0), r"top_p must be a finite number in \(0, 1\], got 0"),
    (dict(top_p=float("nan")), r"top_p must be a finite number in \(0, 1\], got nan"),
    (dict(ids=np.zeros((1, 0), np.int64)), r"expected a non-empty \(batch, seq_len\) integer prompt, got shape \(1, 0"),
    (dict(ids=np.zeros((0, 2), np.int64)), r"expected a non-empty \(batch, seq_len\) integer prompt, got shape \(0, 2"),
    (dict(ids=np.zeros(3, np.int64)), r"expected a non-empty \(batch, seq_len\) integer prompt, got shape \(3,\)"),
    (dict(ids=np.zeros((1, 2))), "expected a non-empty .* integer prompt, got shape \\(1, 2\\) dtype float64"),
    (dict(ids=np.array([[3, 11]])), "prompt token id 11 is out of range for vocab_size=11"),
    (dict(ids=np.array([[-1, 3]])), "prompt token id -1 is out of range for vocab_size=11"),
])
def test_generate_refuses_bad_arguments_naming_them(kwargs, match):
    model = tiny_gpt()
    arguments = dict(ids=np.zeros((1, 2), np.int64), max_new_tokens=3) | kwargs
    with pytest.raises(ValueError, match=f"GPT.generate: {match}"):
        model.generate(**arguments)


def test_nan_logits_are_an_error_not_token_0():
    model = tiny_gpt()
    model.head.weight.data[0, 0] = np.nan
    with pytest.raises(ValueError, match="the logits contain NaN"):
        model.generate(np.ones((1, 2), np.int64), 2, temperature=0)


# ------------------------------------------------------------------ past keys and values (the per-layer cache protocol)

def test_forward_with_past_key_values_gives_the_logits_of_the_full_forward():
    model = tiny_gpt()
    ids = RNG.integers(0, 11, (2, 8))
    caches = layer_caches(2)
    with no_grad():
        full = model(ids).data
        pieces = [model(ids[:, :5], past_key_values=caches).data]
        for t in range(5, 8):
            pieces.append(model(ids[:, t:t + 1], past_key_values=caches).data)
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), full, rtol=1e-5, atol=1e-5)
    assert [c.get_seq_length() for c in caches] == [8, 8]
    assert caches[0].calls[:4] == [("update", 0, 5), ("update", 1, 5), ("update", 0, 1), ("update", 1, 1)]


def test_positions_start_at_the_cached_length_for_both_position_embeddings():
    for positional in ("learned", "sinusoidal"):
        model = tiny_gpt(positional=positional)
        ids = RNG.integers(0, 11, (1, 6))
        caches = layer_caches(2)
        with no_grad():
            model(ids[:, :4], past_key_values=caches)
            step = model(ids[:, 4:], past_key_values=caches).data
            np.testing.assert_allclose(step, model(ids).data[:, 4:], rtol=1e-5, atol=1e-5)


def test_past_key_values_errors_are_clear():
    model = tiny_gpt()
    caches = layer_caches(2)
    with no_grad():
        model(np.zeros((1, 6), np.int64), past_key_values=caches)
        with pytest.raises(ValueError, match=r"6 cached \+ 3 new positions exceed context_length=8"):
            model(np.zeros((1, 3), np.int64), past_key_values=caches)
        with pytest.raises(ValueError, match="past_key_values holds 1 layer caches for 2 blocks"):
            model(np.zeros((1, 1), np.int64), past_key_values=layer_caches(1))
        with pytest.raises(TypeError, match="past_key_values must be a sequence of one layer cache per block"):
            model(np.zeros((1, 1), np.int64), past_key_values=5)
    with pytest.raises(RuntimeError, match="layer_cache is for decoding under no_grad"):
        model(np.zeros((1, 1), np.int64), past_key_values=layer_caches(2))


def test_transformers_import_only_earlier_modules():
    allowed = {f"tinytorch.core.{m}" for m in ("activations", "attention", "autograd", "embeddings", "layers",
                                                 "random", "tensor")}
    assert imported_tinytorch_modules(ROOT / "tinytorch/core/transformers.py") <= allowed
