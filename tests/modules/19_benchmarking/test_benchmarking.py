"""Module 19 benchmarking: statistics on a fake clock, interleaving, the order-statistic
confidence interval against the binomial distribution, the Pareto frontier against brute
force, MLPerf-style time to quality, and the lazy plotting helpers."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinytorch.perf.benchmarking import (
    Benchmark,
    BenchmarkResult,
    Comparison,
    median_ci,
    olympic_mean,
    pareto_frontier,
    time_to_quality,
)


class FakeClock:
    """A clock that only moves when a benchmarked function says how long it 'took'."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def task(self, durations, log=None, name=None):
        durations = iter(durations)

        def fn(*args):
            if log is not None:
                log.append((name, args))
            self.now += next(durations)
        return fn


def test_warmup_is_untimed_and_each_repeat_is_one_result():
    clock = FakeClock()
    log = []
    fn = clock.task([100.0, 100.0, 3.0, 1.0, 2.0, 5.0, 4.0], log, "f")
    result = Benchmark(warmup=2, repeats=5, clock=clock).run(fn, "x", name="f")
    assert log == [("f", ("x",))] * 7
    assert result.times == [3.0, 1.0, 2.0, 5.0, 4.0]
    assert (result.median, result.mean, result.min) == (3.0, 3.0, 1.0)
    assert (result.q1, result.q3, result.iqr) == (2.0, 4.0, 2.0)
    assert result.p90 == pytest.approx(4.6)
    assert result.std == pytest.approx(math.sqrt(2.5))
    assert result.warmup == 2 and "median 3000.000 ms" in str(result)


def test_number_averages_several_calls_per_repeat():
    clock = FakeClock()
    fn = clock.task([1.0, 3.0, 2.0, 2.0, 10.0, 0.0])
    result = Benchmark(warmup=0, repeats=3, number=2, clock=clock).run(fn)
    assert result.times == [2.0, 2.0, 5.0] and result.number == 2 and result.name == "fn"


def test_compare_interleaves_contenders_and_computes_speedups():
    clock = FakeClock()
    log = []
    slow = clock.task([9.0] + [4.0, 4.0, 6.0], log, "slow")
    fast = clock.task([9.0] + [1.0, 2.0, 2.0], log, "fast")
    comparison = Benchmark(warmup=1, repeats=3, clock=clock).compare({"slow": slow, "fast": fast})
    assert [name for name, _ in log] == ["slow", "fast"] + ["slow", "fast"] * 3
    assert comparison["slow"].times == [4.0, 4.0, 6.0] and comparison["fast"].times == [1.0, 2.0, 2.0]
    assert comparison.baseline == "slow" and comparison.speedup("fast") == 2.0 and comparison.speedup("slow") == 1.0
    table = comparison.table(unit="s")
    assert "speedup" in table and "2.00x" in table and "95% CI" in table
    with pytest.raises(KeyError, match="baseline"):
        Comparison(comparison.results, baseline="medium")


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match=r"Benchmark: repeats must be >= 1, got 0"):
        Benchmark(repeats=0)
    with pytest.raises(ValueError, match="no contenders"):
        Benchmark().compare({})


def _binomial_coverage(n, j):
    """P(x_(j) <= median <= x_(n+1-j)) = 1 - 2 P(Binomial(n, 1/2) <= j - 1), from scipy."""
    from scipy.stats import binom
    return 1 - 2 * binom.cdf(j - 1, n, 0.5)


@given(st.lists(st.floats(0.001, 10.0), min_size=6, max_size=60), st.sampled_from([0.9, 0.95, 0.99]))
def test_median_ci_is_the_tightest_order_statistic_interval_with_enough_coverage(times, confidence):
    n = len(times)
    low, high, coverage = median_ci(times, confidence)
    ordered = sorted(times)
    j = max((j for j in range(1, n // 2 + 1) if _binomial_coverage(n, j) >= confidence), default=1)
    assert (low, high) == (ordered[j - 1], ordered[n - j])
    assert coverage == pytest.approx(_binomial_coverage(n, j))
    assert low <= float(np.median(times)) <= high


def test_median_ci_with_too_few_runs_is_min_to_max_with_its_real_coverage():
    low, high, coverage = median_ci([3.0, 1.0, 2.0, 5.0, 4.0])
    assert (low, high) == (1.0, 5.0) and coverage == pytest.approx(1 - 2 / 32)
    assert median_ci([7.0]) == (7.0, 7.0, 0.0)
    with pytest.raises(ValueError):
        median_ci([])


def test_result_ci_uses_median_ci():
    result = BenchmarkResult("r", [float(t) for t in range(1, 11)])
    assert result.ci() == (2.0, 9.0)


def test_olympic_mean_drops_fastest_and_slowest():
    assert olympic_mean([5.0, 1.0, 100.0, 3.0, 4.0]) == 4.0
    with pytest.raises(ValueError, match="at least 3"):
        olympic_mean([1.0, 2.0])


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=12))
def test_pareto_frontier_equals_brute_force(triples):
    points = [dict(name=i, accuracy=a, latency=l, bytes=b) for i, (a, l, b) in enumerate(triples)]

    def dominates(p, q):
        no_worse = p["accuracy"] >= q["accuracy"] and p["latency"] <= q["latency"] and p["bytes"] <= q["bytes"]
        better = p["accuracy"] > q["accuracy"] or p["latency"] < q["latency"] or p["bytes"] < q["bytes"]
        return no_worse and better

    expected = [q["name"] for q in points if not any(dominates(p, q) for p in points)]
    assert [p["name"] for p in pareto_frontier(points)] == expected
    assert expected  # a finite set always has a non-dominated point


def test_time_to_quality_stops_at_the_target_and_counts_evaluation_time():
    clock = FakeClock()
    trained = []
    qualities = iter([0.5, 0.85, 0.91, 0.99])

    def train_epoch():
        trained.append(1)
        clock.now += 10.0

    def evaluate():
        clock.now += 1.0
        return next(qualities)

    run = time_to_quality(train_epoch, evaluate, target=0.9, max_epochs=10, clock=clock)
    assert run.reached and run.epochs == 3 and run.seconds == 33.0 and len(trained) == 3
    assert [h[1] for h in run.history] == [11.0, 22.0, 33.0]
    assert "reached 0.9 in 33.00 s" in str(run)


def test_time_to_quality_reports_a_miss_and_supports_lower_is_better():
    clock = FakeClock()
    losses = iter([3.0, 2.0, 1.5])
    run = time_to_quality(lambda: None, lambda: next(losses), target=1.0, max_epochs=3, higher_is_better=False,
                          clock=clock)
    assert not run.reached and run.epochs == 3 and "did not reach" in str(run)
    losses = iter([3.0, 0.5])
    assert time_to_quality(lambda: None, lambda: next(losses), 1.0, 5, higher_is_better=False, clock=clock).epochs == 2


def test_tinytorch_does_not_import_matplotlib():
    import subprocess
    import sys
    code = ("import sys, tinytorch.perf.benchmarking, tinytorch.perf.profiling, tinytorch.perf.quantization, "
            "tinytorch.perf.compression, tinytorch.perf.memoization, tinytorch.perf.acceleration; "
            "print('matplotlib' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
