"""The judge's size and timing probes for milestone 06: bytes and dtypes come from the arrays a
model really stores, wherever it keeps them; nothing is counted twice or missed behind a view."""

from pathlib import Path

import numpy as np
import pytest

from milestones import measure_perf
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Flatten, Linear, Module, Sequential
from tinytorch.core.random import manual_seed
from tinytorch.core.spatial import Conv2d, MaxPool2d
from tinytorch.core.tensor import Tensor
from tinytorch.perf.compression import l1_unstructured, parameters_to_prune, remove, sparsify_model
from tinytorch.perf.quantization import quantize_model


def mlp():
    manual_seed(0)
    return Sequential(Flatten(), Linear(64, 128), ReLU(), Linear(128, 10))


def lenet():
    manual_seed(0)
    return Sequential(Conv2d(1, 6, 3, padding=1), ReLU(), MaxPool2d(2), Conv2d(6, 16, 3, padding=1), ReLU(),
                      MaxPool2d(2), Flatten(), Linear(64, 10))


def calibration():
    return np.random.default_rng(0).random((8, 1, 8, 8), dtype=np.float32)


def test_a_float_model_stores_its_parameters_and_nothing_else():
    model = mlp()
    arrays = measure_perf.stored_arrays(model)
    assert [(a.path, a.dtype, a.shape) for a in arrays] == [
        ("1.weight", "float32", (128, 64)), ("1.bias", "float32", (128,)),
        ("3.weight", "float32", (10, 128)), ("3.bias", "float32", (10,))]
    assert measure_perf.model_bytes(model) == (64 * 128 + 128 + 128 * 10 + 10) * 4
    assert measure_perf.bytes_by_dtype(model) == {"float32": 38440}
    assert not measure_perf.weights_are_int8(model)


def test_gradients_are_not_part_of_the_stored_model():
    model = mlp()
    for p in model.parameters():
        p.grad = np.ones_like(p.data)
    assert measure_perf.model_bytes(model) == 38440


def test_an_int8_model_is_recognised_and_measured_exactly():
    for model, weights, channels, layers in ((mlp(), 64 * 128 + 128 * 10, 138, 2), (lenet(), 1558, 32, 3)):
        q = quantize_model(model, calibration())
        assert measure_perf.weights_are_int8(q) and measure_perf.non_int8_weights(q) == []
        # int8 weights; float32 per-channel scales and biases; float32 scale + int32 zero point per input
        assert measure_perf.model_bytes(q) == weights + 2 * 4 * channels + 8 * layers
        assert measure_perf.size_ratio(q, model) < 0.3


class FakeQuantizedLinear(Module):
    """A 'quantized' layer that kept its float32 weights: what the judge must refuse."""

    def __init__(self, linear):
        super().__init__()
        self.register_buffer("weight", Tensor(linear.weight.data.copy()))
        self.register_buffer("weight_int8", Tensor(np.zeros(linear.weight.shape, np.int8)))

    def forward(self, x):
        return x @ self.weight.T


def test_a_quantized_layer_that_keeps_float32_weights_is_refused():
    model = mlp()
    model.add_module("3", FakeQuantizedLinear(model[3]))
    q = quantize_model(Sequential(*list(model)[:2]), calibration().reshape(8, 64))
    fake = Sequential(*list(q), ReLU(), model[3])
    assert not measure_perf.weights_are_int8(fake)
    assert measure_perf.non_int8_weights(fake) == ["3.weight (float32 (10, 128))"]


@pytest.mark.parametrize("hide", ["list", "dict", "object", "plain attribute"])
def test_arrays_hidden_in_attributes_are_found(hide):
    class Holder:
        pass

    model = quantize_model(mlp(), calibration().reshape(8, 64))
    secret = np.ones((10, 128), np.float32)
    layer = model[3]
    if hide == "list":
        layer.cache = [1, (secret,)]
    elif hide == "dict":
        layer.cache = {"copy": secret}
    elif hide == "object":
        layer.cache = Holder()
        layer.cache.inner = Tensor(secret)
    else:
        layer.cache = secret
    assert not measure_perf.weights_are_int8(model)
    assert measure_perf.model_bytes(model) == 10592 + secret.nbytes


def test_views_count_as_their_whole_array_and_shared_arrays_count_once():
    model = mlp()
    model[3].alias = model[3].weight.data            # the same array again
    model[3].peek = model[1].weight.data[:1, :1]     # a 1x1 view into the 128x64 weight
    assert measure_perf.model_bytes(model) == 38440
    model[3].hidden = np.zeros((64, 64), np.float32)[:1]  # a small view of a big private array
    assert measure_perf.model_bytes(model) == 38440 + 64 * 64 * 4


def test_sparse_storage_is_measured_from_its_real_arrays():
    model = mlp()
    for layer, weight in parameters_to_prune(model):
        remove(l1_unstructured(layer, name=weight, amount=0.5), weight)
    assert measure_perf.zero_fraction(model) == 0.5
    sparse = sparsify_model(quantize_model(model, calibration().reshape(8, 64)))
    dtypes = measure_perf.bytes_by_dtype(sparse)
    assert dtypes["uint8"] == (8192 + 1280) // 8 and dtypes["int8"] == (8192 + 1280) // 2
    assert measure_perf.model_bytes(model) / measure_perf.model_bytes(sparse) > 5
    with pytest.raises(ValueError, match="no weight matrices"):
        measure_perf.zero_fraction(Sequential(ReLU()))


def test_accuracy_drop_is_recomputed_from_raw_outputs():
    labels = np.array([0, 1, 1, 0])
    reference = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0], [1.0, 0.0]])   # 4 of 4 right
    variant = np.array([[2.0, 0.0], [1.0, 0.0], [0.0, 3.0], [1.0, 0.0]])     # 3 of 4 right
    assert measure_perf.accuracy_drop(reference, Tensor(variant), labels) == 0.25


def test_median_seconds_on_a_fake_clock():
    now = [0.0]
    durations = iter([50.0, 3.0, 1.0, 2.0])

    def fn():
        now[0] += next(durations)

    assert measure_perf.median_seconds(fn, repeats=3, warmup=1, clock=lambda: now[0]) == 2.0
    with pytest.raises(ValueError):
        measure_perf.median_seconds(fn, repeats=0)


def test_the_probe_never_imports_tinytorch():
    source = Path(measure_perf.__file__).read_text()
    assert "import tinytorch" not in source and "from tinytorch" not in source


def test_describe_lists_arrays_and_totals():
    text = measure_perf.describe(quantize_model(lenet(), calibration()))
    assert "int8" in text and "0.weight" in text and "total:" in text


def test_same_tokens_needs_equal_integer_ids_of_equal_shape():
    ids = np.array([[1, 2, 3]])
    assert measure_perf.same_tokens(ids, Tensor(ids.copy()))
    assert not measure_perf.same_tokens(ids, np.array([[1, 2, 4]]))
    assert not measure_perf.same_tokens(ids, np.array([[1, 2, 3, 4]]))
    assert not measure_perf.same_tokens(ids, ids.astype(np.float32))  # logits are not tokens


def test_benchmark_speedup_recomputes_medians_from_the_raw_times():
    from tinytorch.perf.benchmarking import BenchmarkResult, Comparison

    class Lying(BenchmarkResult):
        @property
        def median(self):
            return 1e-9  # a reader's summary cannot inflate the graded speedup

    slow = BenchmarkResult("slow", [10.0, 12.0, 11.0, 50.0, 9.0])
    fast = Lying("fast", [2.0, 1.0, 2.0, 3.0, 2.0])
    assert measure_perf.benchmark_speedup(Comparison({"slow": slow, "fast": fast}), "slow", "fast") == 5.5
    few = Comparison({"slow": slow, "fast": BenchmarkResult("fast", [1.0, 1.0])})
    with pytest.raises(ValueError, match="at least 5 timed runs"):
        measure_perf.benchmark_speedup(few, "slow", "fast")


def test_gpt_training_flops_matches_the_op_profile_of_a_real_step():
    """The judge's count from the sizes alone equals what the profiler counts op by op, for two shapes."""
    from tinytorch.core.losses import CrossEntropyLoss
    from tinytorch.core.optimizers import SGD
    from tinytorch.core.random import manual_seed
    from tinytorch.core.transformers import GPT, GPTConfig
    from tinytorch.perf.profiling import Profiler
    for batch, length, vocab, embed, layers, ratio in ((2, 5, 7, 8, 1, 4.0), (3, 9, 11, 16, 2, 2.0)):
        manual_seed(0)
        model = GPT(GPTConfig(vocab_size=vocab, context_length=length, n_layer=layers, n_head=2, n_embd=embed,
                              mlp_ratio=ratio))
        ids = np.random.default_rng(0).integers(0, vocab, (batch, length + 1))
        optimizer = SGD(model.parameters(), lr=0.1)

        def step():
            optimizer.zero_grad()
            CrossEntropyLoss()(model(ids[:, :-1]).reshape(-1, vocab), ids[:, 1:].reshape(-1)).backward()
            optimizer.step()
        counted = Profiler().op_profile(step, warmup=0, repeats=1).flops
        assert counted == measure_perf.gpt_training_flops(batch, length, vocab, embed, layers, ratio)


def test_interleaved_speedup_alternates_and_takes_medians_on_a_fake_clock():
    now, calls = [0.0], []

    def timed(name, costs):
        costs = iter(costs)

        def fn():
            calls.append(name)
            now[0] += next(costs)
        return fn

    slow = timed("slow", [99.0, 10.0, 12.0, 1000.0, 11.0, 9.0])   # the first call is the warm-up
    fast = timed("fast", [99.0, 1.0, 2.0, 1.0, 500.0, 1.0])
    speedup = measure_perf.interleaved_speedup(slow, fast, repeats=5, warmup=1, clock=lambda: now[0])
    assert calls == ["slow", "fast"] * 6
    assert speedup == 11.0 / 1.0      # medians of (10, 12, 1000, 11, 9) and (1, 2, 1, 500, 1)
    with pytest.raises(ValueError, match="repeats"):
        measure_perf.interleaved_speedup(slow, fast, repeats=0)
