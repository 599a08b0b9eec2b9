"""Module 14 profiling: parameter and FLOP counts exact on hand-computed fixtures, memory by kind,
latency statistics on a fake clock, and the tracing wrappers always removed."""

import numpy as np
import pytest

from tinytorch.core.activations import ReLU, softmax
from tinytorch.core.layers import Flatten, Linear, Module, Sequential
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.optimizers import SGD, Adam
from tinytorch.core.random import manual_seed
from tinytorch.core.spatial import Conv2d, MaxPool2d
from tinytorch.core.tensor import Tensor
from tinytorch.perf.profiling import (
    Profiler,
    attention_flops,
    conv2d_flops,
    linear_flops,
    trace_calls,
)


def mlp_64_32_10():
    manual_seed(0)
    return Sequential(Linear(64, 32), ReLU(), Linear(32, 10))


def lenet():
    manual_seed(0)
    return Sequential(Conv2d(1, 6, 3, padding=1), ReLU(), MaxPool2d(2), Conv2d(6, 16, 3, padding=1), ReLU(),
                      MaxPool2d(2), Flatten(), Linear(64, 10))


class MultiHeadAttention(Module):
    """Test double for module 12's attention: fused QKV projection, heads, output projection."""

    def __init__(self, embed_dim, num_heads):
        super().__init__()
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.qkv = Linear(embed_dim, 3 * embed_dim)
        self.proj = Linear(embed_dim, embed_dim)

    def forward(self, x):
        b, t, c = x.shape
        h, d = self.num_heads, c // self.num_heads
        qkv = self.qkv(x)
        q, k, v = (qkv[:, :, i * c:(i + 1) * c].reshape(b, t, h, d).transpose(1, 2) for i in range(3))
        weights = softmax(q @ k.transpose(-2, -1) * (d ** -0.5), dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, t, c))


def test_mlp_64_32_10_has_2410_parameters():
    assert Profiler().count_parameters(mlp_64_32_10()) == 64 * 32 + 32 + 32 * 10 + 10 == 2410


def test_trainable_only_leaves_out_frozen_parameters():
    model = mlp_64_32_10()
    model[0].weight.requires_grad = False
    assert Profiler().count_parameters(model, trainable_only=True) == 2410 - 64 * 32


def test_mlp_flops_by_hand_and_linear_in_batch():
    # 2 FLOPs per multiply-add plus 1 per bias add: 2*64*32 + 32 = 4128 and 2*32*10 + 10 = 650.
    profiler, model = Profiler(), mlp_64_32_10()
    assert profiler.count_flops(model, np.zeros((1, 64), np.float32)) == 4128 + 650
    assert profiler.count_flops(model, np.zeros((8, 64), np.float32)) == 8 * (4128 + 650)
    assert linear_flops(3, 5, 7, bias=False) == 2 * 3 * 5 * 7


def test_lenet_flops_and_parameters_by_hand():
    # conv1: 6 maps of 8x8, each pixel 2*(1*3*3) + 1; conv2: 16 maps of 4x4, each 2*(6*3*3) + 1;
    # linear: 2*64*10 + 10. Parameters: 54+6, 864+16, 640+10.
    profiler, model = Profiler(), lenet()
    expected = 6 * 64 * 19 + 16 * 16 * 109 + 1290
    assert expected == 36490
    assert profiler.count_flops(model, np.zeros((1, 1, 8, 8), np.float32)) == expected
    assert profiler.count_flops(model, np.zeros((5, 1, 8, 8), np.float32)) == 5 * expected
    assert profiler.count_parameters(model) == 60 + 880 + 650


def test_conv_flops_follow_stride_and_missing_bias():
    manual_seed(0)
    conv = Conv2d(2, 4, (3, 2), stride=2, padding=1, bias=False)  # 9x7 input -> 5x5 output
    flops = Profiler().count_flops(conv, np.zeros((3, 2, 9, 7), np.float32))
    assert flops == 3 * 4 * 5 * 4 * (2 * 2 * 3 * 2) == conv2d_flops(3, 2, 4, (3, 2), (5, 4), bias=False)


def test_attention_is_recognised_by_duck_typing_with_its_projections_counted_as_linear():
    manual_seed(0)
    attention = MultiHeadAttention(embed_dim=8, num_heads=2)
    b, t, c = 2, 5, 8
    projections = linear_flops(b * t, c, 3 * c) + linear_flops(b * t, c, c)  # 4080 + 1360
    core = 2 * (2 * b * t * t * c)                                            # QK^T and AV: 1600
    assert core == attention_flops(b, t, t, c)
    profile = Profiler().profile(attention, np.zeros((b, t, c), np.float32))
    assert profile.flops == projections + core == 7040
    rows = {row.name: row for row in profile.layers}
    assert rows[""].flops == core and rows["qkv"].flops == 4080 and rows["proj"].flops == 1360


def test_profile_rows_and_table():
    profile = Profiler().profile(mlp_64_32_10(), np.zeros((4, 64), np.float32))
    assert [(r.name, r.kind, r.output_shape) for r in profile.layers] == [
        ("", "Sequential", (4, 10)), ("0", "Linear", (4, 32)), ("1", "ReLU", (4, 32)), ("2", "Linear", (4, 10))]
    assert [r.parameters for r in profile.layers] == [0, 2080, 0, 330]
    text = str(profile)
    assert "total" in text and "2,410" in text and f"{4 * 4778:,}" in text


def test_memory_by_kind_exact():
    model, profiler = mlp_64_32_10(), Profiler()
    x = np.zeros((4, 64), np.float32)
    before = profiler.memory(model, x)
    assert before.parameters == 2410 * 4
    assert before.gradients == 2410 * 4                 # what backward will allocate
    assert before.activations == (4 * 32 + 4 * 32 + 4 * 10) * 4  # Linear, ReLU, Linear outputs
    assert before.optimizer_state == 0
    optimizer = Adam(model.parameters(), lr=1e-3)
    CrossEntropyLoss()(model(Tensor(x)), np.zeros(4, dtype=np.int64)).backward()
    optimizer.step()
    after = profiler.memory(model, x, optimizer)
    assert after.gradients == 2410 * 4
    assert after.optimizer_state == 2 * 2410 * 4         # Adam: two moments per parameter
    assert after.total == 9640 * 4 + 1184
    sgd = SGD(model.parameters(), lr=0.1)
    sgd.step()
    assert profiler.memory(model, optimizer=sgd).optimizer_state == 0  # plain SGD keeps nothing
    assert "optimizer state" in str(after)


def test_memory_counts_a_float64_model_at_eight_bytes():
    model = mlp_64_32_10()
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    assert Profiler().memory(model).parameters == 2410 * 8


def test_latency_statistics_on_a_fake_clock():
    durations = iter([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    now = [0.0]
    calls = []

    def clock():
        return now[0]

    def fn(x):
        calls.append(x)
        now[0] += next(durations) if len(calls) > 2 else 100.0  # warm-up calls are slow and ignored

    report = Profiler(clock=clock).latency(fn, "arg", warmup=2, repeats=10)
    assert calls == ["arg"] * 12
    assert report.times == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    assert report.median == 5.5 and report.mean == 5.5
    assert report.p90 == pytest.approx(9.1)             # linear interpolation between 9 and 10
    assert "p90" in str(report)
    with pytest.raises(ValueError, match="repeats"):
        Profiler().latency(fn, repeats=0)


def test_trace_calls_removes_its_wrappers_even_after_an_error():
    model = mlp_64_32_10()
    with pytest.raises(ValueError):
        with trace_calls(model):
            model(Tensor(np.zeros((2, 64), np.float32)))
            raise ValueError("boom")
    assert all("forward" not in vars(m) for m in model.modules())
    with trace_calls(model) as calls:
        model(Tensor(np.zeros((2, 64), np.float32)))
    assert len(calls) == 4 and all("forward" not in vars(m) for m in model.modules())


def test_shared_module_is_traced_at_each_call():
    manual_seed(0)
    layer = Linear(4, 4)
    model = Sequential(layer, ReLU(), layer)
    assert Profiler().count_flops(model, np.zeros((1, 4), np.float32)) == 2 * linear_flops(1, 4, 4)


# ----------------------------------------------------------------------------- the real attention and GPT

def real_gpt(context=16, embed=16, heads=4, layers=2, vocab=11):
    from tinytorch.core.transformers import GPT, GPTConfig
    manual_seed(0)
    return GPT(GPTConfig(vocab_size=vocab, context_length=context, n_layer=layers, n_head=heads, n_embd=embed,
                         init_std=0.3))


def test_attention_flops_of_the_real_multihead_attention():
    from tinytorch.core.attention import MultiHeadAttention as RealMultiHeadAttention
    manual_seed(0)
    b, t, s, e = 2, 5, 7, 8
    attention = RealMultiHeadAttention(embed_dim=e, num_heads=2)
    profiler = Profiler()
    self_attention = profiler.profile(attention, np.zeros((b, t, e), np.float32))
    rows = {row.name: row for row in self_attention.layers}
    assert rows[""].flops == attention_flops(b, t, t, e) == 2 * (2 * b * t * t * e)
    assert rows["in_proj"].flops == linear_flops(b * t, e, 3 * e) and rows["out_proj"].flops == linear_flops(b * t, e, e)
    # cross-attention: T queries, S keys (key and value passed positionally)
    memory = Tensor(np.zeros((b, s, e), np.float32))
    with trace_calls(attention) as calls:
        attention(Tensor(np.zeros((b, t, e), np.float32)), memory, memory)
    from tinytorch.perf.profiling import _call_flops
    assert _call_flops(calls[0]) == attention_flops(b, t, s, e)


def test_gpt_forward_flops_by_hand():
    model = real_gpt()
    b, t, e, v, layers = 3, 10, 16, 11, 2
    per_block = (linear_flops(b * t, e, 3 * e) + attention_flops(b, t, t, e) + linear_flops(b * t, e, e)
                 + linear_flops(b * t, e, 4 * e) + linear_flops(b * t, 4 * e, e))
    expected = layers * per_block + linear_flops(b * t, e, v, bias=False)
    ids = np.random.default_rng(0).integers(0, v, (b, t))
    profile = Profiler().profile(model, ids)
    attention_rows = [row for row in profile.layers if row.kind == "MultiHeadAttention"]
    assert [row.flops for row in attention_rows] == [attention_flops(b, t, t, e)] * layers
    assert profile.flops == expected


# ----------------------------------------------------------------------------- op profile

def test_op_flops_formulas():
    from tinytorch.perf.profiling import op_flops
    assert op_flops("MatMul", ((4, 3, 5), (5, 7))) == (2 * 4 * 3 * 5 * 7, 2 * 2 * 4 * 3 * 5 * 7)
    assert op_flops("MatMul", ((5,), (5, 7)), needs=(True, False)) == (2 * 5 * 7, 2 * 5 * 7)
    assert op_flops("MatMul", ((2, 3, 4, 8), (2, 3, 8, 6)), needs=(False, True)) == (2 * 6 * 4 * 8 * 6,) * 2
    conv = conv2d_flops(2, 3, 4, (3, 3), (4, 4), bias=False)   # 8x8 input, stride 2, padding 1 -> 4x4
    assert op_flops("Conv2dFunction", ((2, 3, 8, 8), (4, 3, 3, 3), (4,)), {"stride": 2, "padding": 1}) \
        == (conv, 2 * conv)
    assert op_flops("Exp", ((100,),)) == (0, 0)


def test_a_primitive_can_state_its_own_flops():
    """Any Function with a static ``flops(shapes, kwargs, needs)`` is counted by it (a fused kernel does)."""
    from tinytorch.core.function import Function

    class Outer(Function):
        @staticmethod
        def forward(ctx, a, b, scale=1.0):
            return np.outer(a, b) * scale

        @staticmethod
        def backward(ctx, g):
            return None, None

        @staticmethod
        def flops(shapes, kwargs, needs):
            return shapes[0][0] * shapes[1][0] * kwargs["scale"], 7 * needs[0]

    a = Tensor(np.ones(3, np.float32), requires_grad=True)
    report = Profiler().op_profile(lambda: Outer.apply(a, Tensor(np.ones(4, np.float32)), scale=2).sum().backward(),
                                   warmup=0, repeats=1)
    assert report["Outer"].forward_flops == 24 and report["Outer"].backward_flops == 7


def training_step(model, batch, vocab, optimizer):
    loss_fn = CrossEntropyLoss()
    x, y = batch[:, :-1], batch[:, 1:].reshape(-1)

    def step():
        optimizer.zero_grad()
        loss_fn(model(x).reshape(-1, vocab), y).backward()
        optimizer.step()
    return step


def test_op_profile_of_a_gpt_training_step_counts_every_product_and_restores_the_ops():
    from tinytorch.core.layers import LinearFunction
    from tinytorch.perf.profiling import _function_classes
    model = real_gpt()
    b, t, e, v, layers = 3, 10, 16, 11, 2
    optimizer = Adam(model.parameters(), lr=1e-3)
    batch = np.random.default_rng(2).integers(0, v, (b, t + 1))
    report = Profiler().op_profile(training_step(model, batch, v, optimizer), warmup=1, repeats=2,
                                   watch={"Adam.step": (optimizer, "step")})
    forward = layers * (2 * b * t * e * 3 * e + 2 * b * t * e * e + 2 * 2 * b * t * t * e
                        + 2 * 2 * b * t * e * 4 * e) + 2 * b * t * e * v
    assert report.flops == 3 * forward  # backward: two products of the forward's size per product
    assert report["MatMul"].calls == 2 * layers  # attention's Q K^T and A V
    assert report["LinearFunction"].calls == 4 * layers + 1 and report["Adam.step"].calls == 1
    assert all(op.seconds >= 0 for op in report.ops) and report.op_seconds <= report.seconds
    assert [op.seconds for op in report.ops] == sorted((op.seconds for op in report.ops), reverse=True)
    assert "LinearFunction" in str(report) and "other" in str(report)
    # every wrapper is gone: the classes hold their own static methods again, the optimizer its bound method
    for cls in _function_classes():
        for phase in ("forward", "backward"):
            if phase in vars(cls):
                assert vars(cls)[phase].__func__.__qualname__.endswith(f"{cls.__name__}.{phase}"), (cls, phase)
    assert vars(LinearFunction)["forward"].__func__.__qualname__ == "LinearFunction.forward"
    assert "step" not in vars(optimizer)


def test_op_profile_times_exclusively_on_a_fake_clock():
    from tinytorch.core.layers import linear
    ticks = iter(np.arange(0.0, 1000.0))
    layer_weight = Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    report = Profiler(clock=lambda: float(next(ticks))).op_profile(
        lambda: linear(Tensor(np.ones((1, 3), np.float32)), layer_weight).sum().backward(), warmup=0, repeats=1)
    # each timed call reads the clock twice, one tick apart; nothing nests here
    assert report["LinearFunction"].forward_seconds == 1.0 and report["LinearFunction"].backward_seconds == 1.0
    assert report.op_seconds < report.seconds


def test_op_profile_restores_the_ops_after_an_error():
    from tinytorch.core.layers import LinearFunction

    def boom():
        raise RuntimeError("boom")
    before = vars(LinearFunction)["forward"]
    with pytest.raises(RuntimeError):
        Profiler().op_profile(boom, warmup=0)
    assert vars(LinearFunction)["forward"] is before
