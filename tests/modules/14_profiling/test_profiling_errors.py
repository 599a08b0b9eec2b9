"""Module 14 profiling: every bad argument raises one clear error naming the call and the
argument (never an AttributeError from deep inside, never a silent negative count)."""

import numpy as np
import pytest

from tinytorch.core.layers import Linear, Sequential
from tinytorch.core.tensor import Tensor
from tinytorch.perf.profiling import (
    LatencyReport,
    Profiler,
    attention_flops,
    conv2d_flops,
    linear_flops,
    op_flops,
    time_ops,
    trace_calls,
)


def model():
    return Sequential(Linear(4, 3))


@pytest.mark.parametrize("call, message", [
    (lambda p: p.count_parameters([Linear(2, 2)]), r"Profiler.count_parameters: model must be a Module, got list"),
    (lambda p: p.profile(lambda x: x, np.zeros((1, 4))), r"Profiler.profile: model must be a Module, got function"),
    (lambda p: p.count_flops(None, np.zeros((1, 4))), r"Profiler.profile: model must be a Module, got NoneType"),
    (lambda p: p.activation_bytes("mlp", np.zeros((1, 4))), r"Profiler.activation_bytes: model must be a Module"),
    (lambda p: p.memory(5), r"Profiler.memory: model must be a Module, got int"),
    (lambda p: p.memory(model(), optimizer=5), r"Profiler.memory: optimizer must be an optimizer \(with step\(\)\)"),
    (lambda p: p.profile(model(), np.array([["a"] * 4])), r"Profiler.profile: inputs must be numbers .* dtype <U1"),
    (lambda p: p.count_flops(model(), None), r"Profiler.profile: inputs must be numbers"),
    (lambda p: p.op_profile(5), r"Profiler.op_profile: fn must be callable, got int"),
    (lambda p: p.latency("run"), r"Profiler.latency: fn must be callable, got str"),
])
def test_profiler_checks_the_model_the_inputs_and_the_function(call, message):
    with pytest.raises(TypeError, match=message):
        call(Profiler())


@pytest.mark.parametrize("kwargs, error, message", [
    ({"repeats": 0}, ValueError, r"repeats must be >= 1, got 0"),
    ({"repeats": 2.5}, TypeError, r"repeats must be an int, got 2.5"),
    ({"repeats": "3"}, TypeError, r"repeats must be an int, got '3'"),
    ({"warmup": -1}, ValueError, r"warmup must be >= 0, got -1"),
    ({"warmup": None}, TypeError, r"warmup must be an int, got None"),
])
@pytest.mark.parametrize("method", ["op_profile", "latency"])
def test_repeats_and_warmup_are_counts(method, kwargs, error, message):
    with pytest.raises(error, match=f"Profiler.{method}: {message}"):
        getattr(Profiler(), method)(lambda: None, **kwargs)


def test_watch_and_clock():
    layer = model()
    with pytest.raises(TypeError, match=r"Profiler.op_profile: watch must be a dict"):
        Profiler().op_profile(lambda: None, watch=[layer])
    with pytest.raises(TypeError, match=r"Profiler.op_profile: watch\['x'\] must be an \(object, method name\) pair"):
        Profiler().op_profile(lambda: None, watch={"x": 5})
    with pytest.raises(ValueError, match=r"Profiler.op_profile: watch\['x'\]: Sequential has no method 'nope'"):
        Profiler().op_profile(lambda: None, watch={"x": (layer, "nope")})
    assert "nope" not in vars(layer)
    with pytest.raises(TypeError, match=r"Profiler: clock must be callable, got int"):
        Profiler(clock=5)
    with pytest.raises(TypeError, match=r"time_ops: clock must be callable"):
        time_ops(clock=1.0).__enter__()
    with pytest.raises(TypeError, match=r"trace_calls: model must be a Module, got int"):
        trace_calls(5).__enter__()
    with pytest.raises(ValueError, match=r"LatencyReport: times is empty"):
        LatencyReport([], 0)


@pytest.mark.parametrize("call, error, message", [
    (lambda: linear_flops(-1, 2, 3), ValueError, r"linear_flops: rows must be >= 0, got -1"),
    (lambda: linear_flops(1.5, 2, 3), TypeError, r"linear_flops: rows must be an int, got 1.5"),
    (lambda: linear_flops("a", 2, 3), TypeError, r"linear_flops: rows must be an int, got 'a'"),
    (lambda: linear_flops(1, 2, None), TypeError, r"linear_flops: out_features must be an int"),
    (lambda: conv2d_flops(1, 2, 3, (3,), (4, 4)), TypeError, r"conv2d_flops: kernel_size must be an int or a pair"),
    (lambda: conv2d_flops(1, -2, 3, 3, (4, 4)), ValueError, r"conv2d_flops: in_channels must be >= 0, got -2"),
    (lambda: conv2d_flops(1, 2, 3, 3, (4, -4)), ValueError, r"conv2d_flops: out_hw must be >= 0, got -4"),
    (lambda: attention_flops(1, -2, 3, 4), ValueError, r"attention_flops: q_len must be >= 0, got -2"),
    (lambda: op_flops(3, ((2, 3),)), TypeError, r"op_flops: op must be a primitive's name \(a str\), got 3"),
    (lambda: op_flops("MatMul", "shapes"), TypeError, r"op_flops: shapes must be a tuple of the input shapes"),
    (lambda: op_flops("MatMul", ((2, 3), (4, 5))), ValueError,
     r"op_flops: shapes \(\(2, 3\), \(4, 5\)\) do not fit MatMul: inner dimensions 3 and 4 differ"),
    (lambda: op_flops("MatMul", ((2, 3),)), ValueError, r"op_flops: shapes \(\(2, 3\),\) do not fit MatMul"),
    (lambda: op_flops("Conv2dFunction", ((2, 3),)), ValueError, r"op_flops: shapes \(\(2, 3\),\) do not fit Conv2dFunction"),
])
def test_flop_formulas_refuse_what_is_no_size(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_failing_op_inside_an_op_profile_raises_its_own_error():
    """The profiler counts FLOPs of calls that returned only: the op's own error comes through,
    not op_flops' complaint about the same shapes."""
    a, b = Tensor(np.ones((2, 3), np.float32)), Tensor(np.ones((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"^matmul: shapes \(2, 3\) and \(4, 5\) are not aligned"):
        Profiler().op_profile(lambda: a @ b, warmup=0)
