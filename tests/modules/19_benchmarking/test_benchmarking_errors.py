"""Module 19 benchmarking: every bad argument raises one clear error naming the call and the
argument (never a NumPy warning and a nan, never a StopIteration or a bare KeyError)."""

import math

import numpy as np
import pytest

from tinytorch.perf.benchmarking import (
    Benchmark,
    BenchmarkResult,
    Comparison,
    median_ci,
    olympic_mean,
    pareto_frontier,
    time_to_quality,
)


def result(name="a", times=(1.0, 2.0, 3.0)):
    return BenchmarkResult(name, list(times))


@pytest.mark.parametrize("call, error, message", [
    (lambda: median_ci([]), ValueError, r"median_ci: times must be a non-empty list of numbers"),
    (lambda: median_ci([1.0, np.nan, 2.0]), ValueError, r"median_ci: times must be finite and >= 0"),
    (lambda: median_ci([-1.0, 2.0]), ValueError, r"median_ci: times must be finite and >= 0"),
    (lambda: median_ci(["a", "b"]), TypeError, r"median_ci: times must be numbers"),
    (lambda: median_ci([[1.0, 2.0]]), ValueError, r"median_ci: times must be a non-empty list of numbers, got shape \(1, 2\)"),
    (lambda: median_ci([1, 2, 3], 2.0), ValueError, r"median_ci: confidence must be in \(0, 1\), got 2.0"),
    (lambda: median_ci([1, 2, 3], "x"), ValueError, r"median_ci: confidence must be a finite number, got 'x'"),
    (lambda: olympic_mean([1, 2]), ValueError, r"olympic_mean: need at least 3 runs, got 2"),
    (lambda: olympic_mean([1, np.nan, 2, 3]), ValueError, r"olympic_mean: values must be finite"),
    (lambda: BenchmarkResult("f", []), ValueError, r"BenchmarkResult: times must be a non-empty list"),
    (lambda: BenchmarkResult("f", [np.inf]), ValueError, r"BenchmarkResult: times must be finite and >= 0"),
    (lambda: BenchmarkResult(3, [1.0]), TypeError, r"BenchmarkResult: name must be a str, got 3"),
    (lambda: BenchmarkResult("f", [1.0], number=0), ValueError, r"BenchmarkResult: number must be >= 1, got 0"),
])
def test_statistics_refuse_what_is_no_timing(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_comparison_arguments():
    with pytest.raises(ValueError, match=r"Comparison: results must be a non-empty dict name -> BenchmarkResult"):
        Comparison({})
    with pytest.raises(TypeError, match=r"Comparison: results\['a'\] must be a BenchmarkResult, got list"):
        Comparison({"a": [1.0]})
    with pytest.raises(KeyError, match=r"Comparison: baseline 'b' is not one of \['a'\]"):
        Comparison({"a": result()}, baseline="b")
    comparison = Comparison({"a": result(), "fast": result("fast", (0.0, 0.0, 0.0))})
    for lookup in (lambda: comparison["x"], lambda: comparison.speedup("x")):
        with pytest.raises(KeyError, match=r"Comparison: no contender named 'x'; have \['a', 'fast'\]"):
            lookup()
    assert comparison.speedup("fast") == math.inf           # took no measurable time: no division by zero
    with pytest.raises(ValueError, match=r"Comparison.table: unit must be one of 's', 'ms', 'us', got 'min'"):
        comparison.table("min")


@pytest.mark.parametrize("kwargs, error, message", [
    ({"repeats": 2.5}, TypeError, r"Benchmark: repeats must be an int, got 2.5"),
    ({"repeats": "3"}, TypeError, r"Benchmark: repeats must be an int, got '3'"),
    ({"warmup": None}, TypeError, r"Benchmark: warmup must be an int, got None"),
    ({"warmup": -1}, ValueError, r"Benchmark: warmup must be >= 0, got -1"),
    ({"number": True}, TypeError, r"Benchmark: number must be an int, got True"),
    ({"clock": 5}, TypeError, r"Benchmark: clock must be callable, got int"),
])
def test_benchmark_settings(kwargs, error, message):
    with pytest.raises(error, match=message):
        Benchmark(**kwargs)


def test_benchmark_run_and_compare_arguments():
    bench = Benchmark(warmup=0, repeats=1)
    with pytest.raises(TypeError, match=r"Benchmark.run: fn must be callable, got int"):
        bench.run(5)
    with pytest.raises(TypeError, match=r"Benchmark.run: name must be a str, got 7"):
        bench.run(lambda: None, name=7)
    with pytest.raises(TypeError, match=r"Benchmark.compare: contenders must be a dict name -> function, got list"):
        bench.compare([lambda: None])
    with pytest.raises(TypeError, match=r"Benchmark.compare: contenders\['a'\] must be callable, got int"):
        bench.compare({"a": 5})
    with pytest.raises(TypeError, match=r"Benchmark.compare: args must be a tuple of arguments, got int"):
        bench.compare({"a": lambda x: x}, args=3)
    calls = []
    with pytest.raises(KeyError, match=r"Benchmark.compare: baseline 'z' is not one of \['a'\]"):
        bench.compare({"a": lambda: calls.append(1)}, baseline="z")
    assert calls == []                                     # refused before timing anything


@pytest.mark.parametrize("call, error, message", [
    (lambda: pareto_frontier([{"accuracy": 1.0}]), KeyError, r"pareto_frontier: points\[0\] has no 'latency'"),
    (lambda: pareto_frontier([1, 2]), TypeError, r"pareto_frontier: points\[0\] must be a dict, got int"),
    (lambda: pareto_frontier([dict(accuracy="a", latency=1, bytes=1)]), ValueError,
     r"pareto_frontier: points\[0\]\['accuracy'\] must be a finite number, got 'a'"),
    (lambda: pareto_frontier([dict(accuracy=np.nan, latency=1, bytes=1)]), ValueError,
     r"pareto_frontier: points\[0\]\['accuracy'\] must be a finite number, got nan"),
    (lambda: pareto_frontier([], maximize="accuracy"), TypeError,
     r"pareto_frontier: maximize must be a tuple of key names, got 'accuracy'"),
    (lambda: time_to_quality(lambda: None, lambda: 1.0, 0.5, 0), ValueError, r"time_to_quality: max_epochs must be >= 1, got 0"),
    (lambda: time_to_quality(lambda: None, lambda: 1.0, 0.5, 2.5), TypeError, r"time_to_quality: max_epochs must be an int"),
    (lambda: time_to_quality(lambda: None, lambda: 1.0, np.nan, 3), ValueError, r"time_to_quality: target must be a finite number"),
    (lambda: time_to_quality(5, lambda: 1.0, 0.5, 3), TypeError, r"time_to_quality: train_epoch must be callable"),
    (lambda: time_to_quality(lambda: None, None, 0.5, 3), TypeError, r"time_to_quality: evaluate must be callable"),
    (lambda: time_to_quality(lambda: None, lambda: "good", 0.5, 3), ValueError,
     r"time_to_quality: evaluate\(\) must return a finite number, got 'good' after epoch 1"),
    (lambda: time_to_quality(lambda: None, lambda: float("nan"), 0.5, 3), ValueError,
     r"time_to_quality: evaluate\(\) must return a finite number, got nan after epoch 1"),
])
def test_pareto_and_time_to_quality_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()
