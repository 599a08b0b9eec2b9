"""Module 19, benchmarking: speed claims that others can check.

A single timing is an anecdote. ``Benchmark`` follows the rules that make timings comparable:

* **warm-up** calls first, untimed (caches, lazy allocations, the first BLAS call);
* **repeats**, each timing ``number`` calls, so one result is a *distribution*;
* the **median** as the summary (one slow run from another process barely moves it), the
  **IQR** (middle 50%) as the spread, and a **95% confidence interval for the median** that
  assumes nothing about the distribution (order statistics: the true median lies between the
  j-th and (n+1-j)-th sorted times with binomial probability; see :func:`median_ci`);
* contenders are **interleaved** (A, B, A, B, ...) so drift in machine load hits them equally.

MLPerf (2018) added rules for whole tasks: fix a **quality target** in advance, measure the
**time to reach it** (training and evaluation included), run several times and report the
mean without the fastest and slowest run (:func:`olympic_mean`). :func:`time_to_quality`
implements one such run.

Optimizations trade accuracy, latency and size against each other; :func:`pareto_frontier`
keeps the variants that no other variant beats on every axis at once.

The clock is injectable everywhere (``clock=`` any function returning seconds), so the
statistics are testable with a fake clock. tinytorch needs NumPy only: the book draws its
plots of these results with the harness (``milestones.plots``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from tinytorch.perf.profiling import _check_callable, _check_count

__all__ = ["Benchmark", "BenchmarkResult", "Comparison", "median_ci", "pareto_frontier",
           "time_to_quality", "TimeToQuality", "olympic_mean"]


UNITS = {"s": 1.0, "ms": 1e3, "us": 1e6}


# ----------------------------------------------------------------------------- argument checks

def _finite(call: str, name: str, value) -> float:
    """A finite real number, as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value):
        raise ValueError(f"{call}: {name} must be a finite number, got {value!r}")
    return float(value)


def _measurements(call: str, name: str, values, nonnegative: bool = True) -> np.ndarray:
    """A non-empty 1-D float array of finite numbers (times: also >= 0)."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{call}: {name} must be numbers, got {values!r}") from None
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{call}: {name} must be a non-empty list of numbers, got shape {array.shape}")
    if not np.isfinite(array).all() or (nonnegative and (array < 0).any()):
        raise ValueError(f"{call}: {name} must be finite{' and >= 0' if nonnegative else ''}, got {values!r}")
    return array


def _factor(call: str, unit: str) -> float:
    if unit not in UNITS:
        raise ValueError(f"{call}: unit must be one of {', '.join(map(repr, UNITS))}, got {unit!r}")
    return UNITS[unit]


# ----------------------------------------------------------------------------- statistics

def median_ci(times, confidence: float = 0.95) -> tuple[float, float, float]:
    """Distribution-free confidence interval for the median: (low, high, actual coverage).

    With n sorted times x_(1) <= ... <= x_(n), the interval [x_(j), x_(n+1-j)] contains the
    true median with probability ``1 - 2 P(B <= j - 1)``, B ~ Binomial(n, 1/2). The largest j
    reaching ``confidence`` is used; with too few runs (n < 6 for 95%) the widest interval
    [min, max] is returned with its lower coverage.

    Examples:
        >>> from tinytorch.perf.benchmarking import median_ci
        >>> low, high, coverage = median_ci([5, 1, 4, 2, 3, 9, 7, 6, 8, 10])
        >>> low, high, round(coverage, 4)     # x_(2) and x_(9) of 10 runs
        (2.0, 9.0, 0.9785)
    """
    values = np.sort(_measurements("median_ci", "times", times))
    confidence = _finite("median_ci", "confidence", confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"median_ci: confidence must be in (0, 1), got {confidence}")
    n = values.size
    cdf, best = 0.0, 1
    coverage_of = {}
    for j in range(1, n // 2 + 1):           # P(B <= j - 1), accumulated term by term
        cdf += math.comb(n, j - 1) / 2.0 ** n
        coverage_of[j] = 1.0 - 2.0 * cdf
        if coverage_of[j] >= confidence:
            best = j
    return float(values[best - 1]), float(values[n - best]), float(coverage_of.get(best, 0.0))


def olympic_mean(values) -> float:
    """Mean without the fastest and slowest run (MLPerf's rule for reporting several runs).

    Examples:
        >>> from tinytorch.perf.benchmarking import olympic_mean
        >>> olympic_mean([10.0, 12.0, 11.0, 30.0, 9.0])
        11.0
    """
    values = np.sort(_measurements("olympic_mean", "values", values, nonnegative=False))
    if values.size < 3:
        raise ValueError(f"olympic_mean: need at least 3 runs, got {values.size}")
    return float(values[1:-1].mean())


@dataclass
class BenchmarkResult:
    """The timings of one contender: seconds per call, one entry per timed repeat.

    Examples:
        >>> from tinytorch.perf.benchmarking import BenchmarkResult
        >>> r = BenchmarkResult("f", [0.004, 0.001, 0.002, 0.003, 0.005])
        >>> r.median, r.iqr
        (0.003, 0.002)
    """

    name: str
    times: list[float] = field(repr=False)
    warmup: int = 0
    number: int = 1

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise TypeError(f"BenchmarkResult: name must be a str, got {self.name!r}")
        _measurements("BenchmarkResult", "times", self.times)
        _check_count("BenchmarkResult", "warmup", self.warmup, 0)
        _check_count("BenchmarkResult", "number", self.number, 1)

    @property
    def median(self) -> float:
        """Median seconds per call."""
        return float(np.median(self.times))

    @property
    def mean(self) -> float:
        """Mean seconds per call."""
        return float(np.mean(self.times))

    @property
    def std(self) -> float:
        """Sample standard deviation of the seconds per call (0 for a single run)."""
        return float(np.std(self.times, ddof=1)) if len(self.times) > 1 else 0.0

    @property
    def min(self) -> float:
        """Fastest seconds per call."""
        return float(np.min(self.times))

    @property
    def q1(self) -> float:
        """First quartile (25th percentile, linear interpolation)."""
        return float(np.percentile(self.times, 25))

    @property
    def q3(self) -> float:
        """Third quartile (75th percentile)."""
        return float(np.percentile(self.times, 75))

    @property
    def iqr(self) -> float:
        """Interquartile range q3 - q1: the spread of the middle half of the runs."""
        return float(np.percentile(self.times, 75) - np.percentile(self.times, 25))

    @property
    def p90(self) -> float:
        """90th percentile seconds per call."""
        return float(np.percentile(self.times, 90))

    def ci(self, confidence: float = 0.95) -> tuple[float, float]:
        """Confidence interval for the median (see :func:`median_ci`)."""
        low, high, _ = median_ci(self.times, confidence)
        return low, high

    def __str__(self) -> str:
        low, high = self.ci()
        return (f"{self.name}: median {self.median * 1e3:.3f} ms (95% CI {low * 1e3:.3f}-{high * 1e3:.3f}, "
                f"IQR {self.iqr * 1e3:.3f}) over {len(self.times)} runs")


class Comparison:
    """Several BenchmarkResults measured together, and their speedups over a baseline.

    Attributes:
        results: dict name -> BenchmarkResult, in the order given.
        baseline: the name the speedups are relative to (the first contender by default).
    """

    def __init__(self, results: dict[str, BenchmarkResult], baseline: str | None = None):
        if not isinstance(results, dict) or not results:
            raise ValueError(f"Comparison: results must be a non-empty dict name -> BenchmarkResult, got {results!r}")
        for name, result in results.items():
            if not isinstance(result, BenchmarkResult):
                raise TypeError(f"Comparison: results[{name!r}] must be a BenchmarkResult, got {type(result).__name__}")
        self.results = results
        self.baseline = baseline if baseline is not None else next(iter(results))
        if self.baseline not in results:
            raise KeyError(f"Comparison: baseline {self.baseline!r} is not one of {list(results)}")

    def __getitem__(self, name: str) -> BenchmarkResult:
        if name not in self.results:
            raise KeyError(f"Comparison: no contender named {name!r}; have {list(self.results)}")
        return self.results[name]

    def speedup(self, name: str) -> float:
        """How many times faster ``name`` is than the baseline (ratio of medians; inf for a median of 0 s)."""
        median = self[name].median
        return self.results[self.baseline].median / median if median > 0 else math.inf

    def table(self, unit: str = "ms") -> str:
        """A text table: median, 95% CI of the median, IQR and speedup of every contender."""
        factor = _factor("Comparison.table", unit)
        width = max(len(n) for n in self.results) + 2
        lines = [f"{'':<{width}}{'median':>10} {'95% CI':>19} {'IQR':>9} {'speedup':>9}   ({unit} per call)"]
        for name, result in self.results.items():
            low, high = result.ci()
            lines.append(f"{name:<{width}}{result.median * factor:>10.3f} "
                         f"{f'{low * factor:.3f}-{high * factor:.3f}':>19} {result.iqr * factor:>9.3f} "
                         f"{self.speedup(name):>8.2f}x")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


class Benchmark:
    """Times functions with warm-up, repeats and robust statistics.

    Args:
        warmup: untimed calls before measuring (default 3).
        repeats: timed repeats, one result per repeat (default 10).
        number: calls per repeat; a result is their mean (raise it for sub-millisecond calls).
        clock: function returning seconds (default ``time.perf_counter``); inject a fake to test.

    Examples:
        >>> from tinytorch.perf.benchmarking import Benchmark
        >>> ticks = iter(range(100))
        >>> bench = Benchmark(warmup=1, repeats=5, clock=lambda: float(next(ticks)))
        >>> bench.run(lambda: None, name="noop").times     # each call "takes" one tick
        [1.0, 1.0, 1.0, 1.0, 1.0]
    """

    def __init__(self, warmup: int = 3, repeats: int = 10, number: int = 1, clock: Callable[[], float] = time.perf_counter):
        _check_count("Benchmark", "warmup", warmup, 0)
        _check_count("Benchmark", "repeats", repeats, 1)
        _check_count("Benchmark", "number", number, 1)
        _check_callable("Benchmark", "clock", clock)
        self.warmup, self.repeats, self.number, self.clock = warmup, repeats, number, clock

    def _time_once(self, fn, args) -> float:
        start = self.clock()
        for _ in range(self.number):
            fn(*args)
        return (self.clock() - start) / self.number

    def run(self, fn, *args, name: str | None = None) -> BenchmarkResult:
        """Benchmark one function called as ``fn(*args)``."""
        _check_callable("Benchmark.run", "fn", fn)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Benchmark.run: name must be a str, got {name!r}")
        name = name or getattr(fn, "__name__", "fn")
        return self.compare({name: fn}, args=args)[name]

    def compare(self, contenders: dict[str, Callable], args: tuple = (), baseline: str | None = None) -> Comparison:
        """Benchmark several functions interleaved (A, B, A, B, ...); speedups relative to ``baseline``."""
        if not isinstance(contenders, dict):
            raise TypeError(f"Benchmark.compare: contenders must be a dict name -> function, got "
                            f"{type(contenders).__name__}")
        if not contenders:
            raise ValueError("Benchmark.compare: no contenders")
        for name, fn in contenders.items():
            _check_callable("Benchmark.compare", f"contenders[{name!r}]", fn)
        if not isinstance(args, tuple):
            raise TypeError(f"Benchmark.compare: args must be a tuple of arguments, got {type(args).__name__}")
        if baseline is not None and baseline not in contenders:
            raise KeyError(f"Benchmark.compare: baseline {baseline!r} is not one of {list(contenders)}")
        for fn in contenders.values():
            for _ in range(self.warmup):
                fn(*args)
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(self.repeats):
            for name, fn in contenders.items():
                times[name].append(self._time_once(fn, args))
        results = {name: BenchmarkResult(name, t, self.warmup, self.number) for name, t in times.items()}
        return Comparison(results, baseline)


# ----------------------------------------------------------------------------- Pareto frontier

def pareto_frontier(points: Iterable[dict], maximize: tuple[str, ...] = ("accuracy",),
                    minimize: tuple[str, ...] = ("latency", "bytes")) -> list[dict]:
    """The points no other point beats on every objective at once (ties kept), in input order.

    A point dominates another if it is at least as good on every objective and strictly
    better on one.

    Examples:
        >>> from tinytorch.perf.benchmarking import pareto_frontier
        >>> variants = [dict(name="float32", accuracy=0.97, bytes=400),
        ...             dict(name="int8", accuracy=0.97, bytes=100),
        ...             dict(name="tiny", accuracy=0.80, bytes=50),
        ...             dict(name="bad", accuracy=0.90, bytes=200)]
        >>> [p["name"] for p in pareto_frontier(variants, minimize=("bytes",))]
        ['int8', 'tiny']
    """
    points = list(points)
    for name, keys in (("maximize", maximize), ("minimize", minimize)):
        if isinstance(keys, str) or not all(isinstance(k, str) for k in keys):
            raise TypeError(f"pareto_frontier: {name} must be a tuple of key names, got {keys!r}")
    signs = [(key, 1.0) for key in maximize] + [(key, -1.0) for key in minimize]
    for i, p in enumerate(points):
        if not isinstance(p, dict):
            raise TypeError(f"pareto_frontier: points[{i}] must be a dict, got {type(p).__name__}")
        for key, _ in signs:
            if key not in p:
                raise KeyError(f"pareto_frontier: points[{i}] has no {key!r} (objectives: {[k for k, _ in signs]})")
            _finite("pareto_frontier", f"points[{i}][{key!r}]", p[key])
    if not points:
        return []
    scores = np.array([[sign * float(p[key]) for key, sign in signs] for p in points])  # higher is better

    def dominated(i: int) -> bool:
        better_or_equal = (scores >= scores[i]).all(axis=1)
        strictly = (scores > scores[i]).any(axis=1)
        return bool((better_or_equal & strictly).any())

    return [p for i, p in enumerate(points) if not dominated(i)]


# ----------------------------------------------------------------------------- MLPerf-style runs

@dataclass
class TimeToQuality:
    """One MLPerf-style run: did it reach the target, how long it took, and the quality per epoch."""

    target: float
    reached: bool
    seconds: float
    epochs: int
    history: list[tuple[int, float, float]] = field(default_factory=list)  # (epoch, seconds so far, quality)

    def __str__(self) -> str:
        verdict = f"reached {self.target:g} in {self.seconds:.2f} s ({self.epochs} epochs)" if self.reached else \
            f"did not reach {self.target:g} within {self.epochs} epochs ({self.seconds:.2f} s)"
        return f"time to quality: {verdict}"


def time_to_quality(train_epoch: Callable[[], object], evaluate: Callable[[], float], target: float,
                    max_epochs: int, higher_is_better: bool = True,
                    clock: Callable[[], float] = time.perf_counter) -> TimeToQuality:
    """Train until ``evaluate()`` first meets a quality target fixed in advance; time all of it.

    The clock runs from the first training epoch until the evaluation that meets the target:
    evaluation time counts, as in MLPerf. The run stops there (no training past the target)
    or after ``max_epochs``.

    Examples:
        >>> from tinytorch.perf.benchmarking import time_to_quality
        >>> quality = iter([0.5, 0.8, 0.95, 0.99])
        >>> ticks = iter(range(100))
        >>> run = time_to_quality(lambda: None, lambda: next(quality), 0.9, 10,
        ...                       clock=lambda: float(next(ticks)))
        >>> run.reached, run.epochs, run.seconds
        (True, 3, 3.0)
    """
    _check_callable("time_to_quality", "train_epoch", train_epoch)
    _check_callable("time_to_quality", "evaluate", evaluate)
    _check_callable("time_to_quality", "clock", clock)
    target = _finite("time_to_quality", "target", target)
    _check_count("time_to_quality", "max_epochs", max_epochs, 1)
    history = []
    start = clock()
    for epoch in range(1, max_epochs + 1):
        train_epoch()
        quality = evaluate()
        if isinstance(quality, bool) or not isinstance(quality, (int, float, np.integer, np.floating)) \
                or not math.isfinite(quality):
            raise ValueError(f"time_to_quality: evaluate() must return a finite number, got {quality!r} "
                             f"after epoch {epoch}")
        quality = float(quality)
        elapsed = clock() - start
        history.append((epoch, elapsed, quality))
        if (quality >= target) if higher_is_better else (quality <= target):
            return TimeToQuality(target, True, elapsed, epoch, history)
    elapsed = history[-1][1] if history else 0.0
    return TimeToQuality(target, False, elapsed, max_epochs, history)
