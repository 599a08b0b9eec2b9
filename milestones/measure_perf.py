"""Judge-side probes for milestone 06: what a model really stores, and timings the judge takes itself.

Size claims are graded from the arrays a model holds, never from what it reports about
itself. :func:`stored_arrays` walks the module tree (every module's attributes: parameters,
buffers, plain arrays and Tensors, and the arrays inside any helper object or container it
keeps) and lists each distinct piece of memory once, with its dtype. A view counts as the
whole array it looks into, so nothing can hide behind a small slice, and an array reachable
twice is counted once.

Gradients (``.grad``) are not part of what a model stores: they are training scratch space.
Everything here uses NumPy only and never imports tinytorch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from milestones import measure


@dataclass(frozen=True)
class StoredArray:
    """One distinct block of memory a model keeps: where it was found, its dtype, shape and bytes."""

    path: str
    dtype: str
    shape: tuple
    nbytes: int


def _root(array: np.ndarray) -> np.ndarray:
    """The array that owns the memory a view looks into."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def _is_module(value) -> bool:
    return hasattr(value, "_modules") and hasattr(value, "_parameters")


def _children(value):
    """(name, value) pairs to look inside: a module's or object's attributes, containers' items, a Tensor's data."""
    if _is_module(value):
        return list(vars(value).items())
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [(str(i), v) for i, v in enumerate(value)]
    if hasattr(value, "data") and hasattr(value, "requires_grad") and not hasattr(value, "__dict__"):
        return [(None, value.data)]  # a Tensor: its values (not its .grad), under the Tensor's own name
    if hasattr(value, "__dict__") and not isinstance(value, type) and not callable(value):
        return list(vars(value).items())  # helper objects: quantization parameters, sparse formats
    return []


_SKIPPED = ("grad", "training", "_ctx")
_ATOMS = (str, bytes, int, float, bool, np.generic)


def _walk(model):
    """Yield (path, array) for every distinct block of memory reachable from ``model`` (views as their base)."""
    owners: set[int] = set()
    seen: set[int] = set()
    stack = [("", model)]
    while stack:
        path, value = stack.pop()
        if value is None or isinstance(value, _ATOMS) or id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, np.ndarray):
            root = _root(value)
            if id(root) not in owners:
                owners.add(id(root))
                yield path, root
            continue
        registry = _is_module(value)
        for name, child in reversed(_children(value)):
            if name in _SKIPPED:
                continue
            if name is None or (registry and name in ("_parameters", "_buffers", "_modules")):
                stack.append((path, child))  # registries' keys repeat the attribute names
            else:
                stack.append((f"{path}.{name}" if path else name, child))


def stored_arrays(model) -> list[StoredArray]:
    """Every distinct array a model (or any object) keeps, found by walking its attributes.

    Sub-modules are walked as part of the tree; ``.grad`` arrays and the ``training`` flag
    are skipped; any other attribute (lists, dicts, dataclasses, sparse-format objects) is
    searched for arrays.
    """
    return [StoredArray(path, str(a.dtype), tuple(a.shape), int(a.nbytes)) for path, a in _walk(model)]


def model_bytes(model) -> int:
    """Bytes of every distinct array the model stores."""
    return sum(a.nbytes for a in stored_arrays(model))


def bytes_by_dtype(model) -> dict[str, int]:
    """Stored bytes per dtype, e.g. ``{'int8': 9472, 'float32': 1120}``."""
    totals: dict[str, int] = {}
    for array in stored_arrays(model):
        totals[array.dtype] = totals.get(array.dtype, 0) + array.nbytes
    return dict(sorted(totals.items()))


def weight_arrays(model) -> list[StoredArray]:
    """The weight matrices and kernels: every stored array with two or more dimensions."""
    return [a for a in stored_arrays(model) if len(a.shape) >= 2]


def weights_are_int8(model) -> bool:
    """True when the model stores weight matrices/kernels and every one of them is int8."""
    weights = weight_arrays(model)
    return bool(weights) and all(a.dtype == "int8" for a in weights)


def non_int8_weights(model) -> list[str]:
    """The weight arrays that are not int8, as ``path (dtype shape)`` lines for a report."""
    return [f"{a.path} ({a.dtype} {a.shape})" for a in weight_arrays(model) if a.dtype != "int8"]


def size_ratio(model, reference) -> float:
    """Stored bytes of ``model`` divided by stored bytes of ``reference``."""
    return model_bytes(model) / model_bytes(reference)


def zero_fraction(model) -> float:
    """Fraction of exactly-zero entries over all weight matrices and kernels (ndim >= 2) of a dense model."""
    arrays = [a for _, a in _walk(model) if a.ndim >= 2]
    total = sum(a.size for a in arrays)
    if total == 0:
        raise ValueError("zero_fraction: the model stores no weight matrices")
    return float(sum(a.size - np.count_nonzero(a) for a in arrays) / total)


def accuracy_drop(reference_outputs, outputs, labels) -> float:
    """Accuracy of the reference minus accuracy of the variant, both recomputed from raw outputs."""
    return measure.accuracy(reference_outputs, labels) - measure.accuracy(outputs, labels)


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1,
                   clock: Callable[[], float] = time.perf_counter) -> float:
    """The judge's own timing: median seconds of ``repeats`` calls of ``fn()`` after ``warmup`` calls."""
    if repeats < 1:
        raise ValueError(f"median_seconds: repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return float(np.median(times))


def describe(model) -> str:
    """A table of what a model stores: path, dtype, shape, bytes; then the total per dtype."""
    lines = [f"{'array':<32} {'dtype':<8} {'shape':<16} {'bytes':>8}"]
    for a in stored_arrays(model):
        lines.append(f"{a.path:<32} {a.dtype:<8} {str(a.shape):<16} {a.nbytes:>8,}")
    lines.append("total: " + ", ".join(f"{k} {v:,} B" for k, v in bytes_by_dtype(model).items())
                 + f" = {model_bytes(model):,} bytes")
    return "\n".join(lines)


def same_tokens(expected, actual) -> bool:
    """True when two generations are the same integer token ids, shape and values."""
    a, b = (np.asarray(t if isinstance(t, np.ndarray) else getattr(t, "data", t)) for t in (expected, actual))
    return a.shape == b.shape and a.dtype.kind in "iu" and b.dtype.kind in "iu" and bool(np.array_equal(a, b))


def benchmark_speedup(comparison, baseline: str, candidate: str, min_runs: int = 5) -> float:
    """Speedup of ``candidate`` over ``baseline`` recomputed from a reader's Benchmark's raw times.

    The medians are taken here from the recorded per-run times (not the reader's summary),
    and each side must have at least ``min_runs`` runs.
    """
    times = {name: np.asarray(comparison.results[name].times, dtype=np.float64) for name in (baseline, candidate)}
    short = {name: len(t) for name, t in times.items() if len(t) < min_runs}
    if short:
        raise ValueError(f"benchmark_speedup: need at least {min_runs} timed runs each, got {short}")
    return float(np.median(times[baseline]) / np.median(times[candidate]))


def gpt_training_flops(batch: int, length: int, vocab: int, n_embd: int, n_layer: int,
                       mlp_ratio: float = 4.0) -> int:
    """Matrix-product FLOPs of one GPT training step (forward and backward), from the sizes alone.

    A multiply-add is 2 FLOPs; biases, normalisation and other elementwise work are not counted.
    Forward, per block, on B sequences of T tokens (BT rows) of width E with H = mlp_ratio * E:
    the QKV projection ``2 BT E 3E``, attention's scores and mix ``2 * 2 B T T E`` (all heads;
    the causal mask does not skip the masked scores), the output projection ``2 BT E E``, the
    MLP ``2 * 2 BT E H``; then the head ``2 BT E V``. The embedding lookup is not a product.
    Backward computes two products of each forward product's size (the gradient of its input
    and of its weight, or of both attention operands), so a step is three forwards.

    >>> gpt_training_flops(batch=1, length=1, vocab=1, n_embd=1, n_layer=1)  # 3 * (6 + 4 + 2 + 16 + 2)
    90
    """
    rows, e = batch * length, n_embd
    hidden = int(mlp_ratio * e)
    block = 2 * rows * e * 3 * e + 2 * 2 * batch * length * length * e + 2 * rows * e * e + 2 * 2 * rows * e * hidden
    return 3 * (n_layer * block + 2 * rows * e * vocab)


def interleaved_speedup(baseline: Callable[[], object], candidate: Callable[[], object], repeats: int = 5,
                        warmup: int = 0, clock: Callable[[], float] = time.perf_counter) -> float:
    """The judge's own speedup: median seconds of ``baseline()`` over median seconds of ``candidate()``.

    The two are called alternately (baseline, candidate, baseline, ...), ``repeats`` timed
    calls each after ``warmup`` untimed ones, so that a change of load on the machine during
    the measurement slows both alike instead of only the one that happened to run then.
    """
    if repeats < 1:
        raise ValueError(f"interleaved_speedup: repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        baseline()
        candidate()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, record in zip((baseline, candidate), times):
            start = clock()
            fn()
            record.append(clock() - start)
    return float(np.median(times[0]) / np.median(times[1]))
