"""Judge-side measurements for language models (milestone 05), in NumPy only.

The chapter hands these functions the reader's model as a *logits function*: a callable
that takes an int64 array of token ids (N, T) and returns raw next-token logits (N, T, V),
as an array or anything with a ``.data`` array (a tinytorch Tensor). Everything the judge
grades is then computed here, from those raw numbers, without trusting the reader's code:

* ``greedy_decode`` / ``sequence_accuracy``: the judge itself picks every next token (argmax
  in NumPy) and feeds it back, so a model is graded on the sequences it really produces;
  a sequence counts only if every one of its tokens is right (exact whole-sequence match).
* ``cross_entropy``: mean negative log-likelihood (nats per token) by a float64 log-sum-exp.
* ``causality_probe``: changes later tokens and checks that no earlier position's logits
  move. A model that peeks at the future can score a low training loss and still be useless
  for generation; this catches it.
* ``greedy_answers``: answers to held-out questions by greedy decoding, compared exactly
  with the reference answers.
* ``next_token_accuracy``: how often the argmax of the logits is the true next token.
* ``nucleus`` / ``nucleus_probe``: top-p (nucleus) sampling checked from outside. The judge
  computes the nucleus of the model's own next-token distribution in NumPy, has the
  reader's sampler draw many tokens from it, and checks that every draw lies inside and
  that the draws follow the renormalised probabilities.
* ``embedding_gradient_error``: a mechanism probe. The gradient an embedding table receives
  must be the *sum* of the gradients of every position that looked a row up; an embedding
  that drops repeated ids still trains (Adam rescales what it gets), so only a direct
  comparison with a NumPy scatter-add catches it.

Nothing here imports tinytorch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

LogitsFn = Callable[[np.ndarray], object]

__all__ = ["logits_of", "greedy_decode", "sequence_accuracy", "cross_entropy", "perplexity",
           "causality_probe", "greedy_answers", "embedding_gradient_error", "next_token_accuracy", "nucleus",
           "nucleus_probe", "NucleusReport"]


def logits_of(logits_fn: LogitsFn, ids: np.ndarray) -> np.ndarray:
    """Call the model on ``ids`` and return its raw logits as a float64 (N, T, V) array, checked."""
    ids = np.asarray(ids, dtype=np.int64)
    out = np.asarray(_raw(logits_fn(ids)), dtype=np.float64)
    if out.ndim != 3 or out.shape[:2] != ids.shape:
        raise ValueError(f"measure_language: the model returned logits of shape {out.shape} for ids of shape "
                         f"{ids.shape}; expected (N, T, vocab) = {ids.shape + ('V',)}")
    return out


def _raw(value) -> np.ndarray:
    """The array behind a tensor (``.data``) or an array-like."""
    return np.asarray(getattr(value, "data", value))


def greedy_decode(logits_fn: LogitsFn, prompts, steps: int, context_length: int | None = None) -> np.ndarray:
    """Extend every prompt by ``steps`` tokens, each the argmax (in NumPy) of the model's last-position logits.

    Args:
        logits_fn: ids (N, T) -> logits (N, T, V).
        prompts: (N, T0) int array, all prompts the same length.
        steps: tokens to generate.
        context_length: if given, the model is shown only the last ``context_length`` tokens.

    Returns:
        (N, steps) int64 array of the generated tokens.
    """
    sequences = np.asarray(prompts, dtype=np.int64)
    if sequences.ndim != 2:
        raise ValueError(f"greedy_decode: prompts must be (N, T), got shape {sequences.shape}")
    start = sequences.shape[1]
    for _ in range(steps):
        window = sequences if context_length is None else sequences[:, -context_length:]
        last = logits_of(logits_fn, window)[:, -1, :]
        sequences = np.concatenate([sequences, last.argmax(axis=-1)[:, None]], axis=1)
    return sequences[:, start:]


def sequence_accuracy(logits_fn: LogitsFn, prompts, targets, context_length: int | None = None) -> float:
    """Fraction of prompts whose greedily generated continuation equals the target sequence exactly.

    The judge decodes (``greedy_decode``) as many tokens as the targets are long; one wrong
    token makes the whole sequence wrong.
    """
    targets = np.asarray(targets, dtype=np.int64)
    if targets.ndim != 2 or len(targets) != len(prompts) or len(targets) == 0:
        raise ValueError(f"sequence_accuracy: need one target row per prompt, got {targets.shape} for {len(prompts)}")
    generated = greedy_decode(logits_fn, prompts, targets.shape[1], context_length)
    return float((generated == targets).all(axis=1).mean())


def cross_entropy(logits, targets, mask=None) -> float:
    """Mean negative log-likelihood in nats of integer ``targets`` under raw ``logits`` (float64 log-sum-exp).

    Args:
        logits: (..., V) raw scores (array or tensor).
        targets: (...) int ids, the same leading shape.
        mask: optional bool (...) array: only True positions count.
    """
    scores = np.asarray(_raw(logits), dtype=np.float64)
    targets = np.asarray(_raw(targets)).astype(np.int64)
    if scores.shape[:-1] != targets.shape:
        raise ValueError(f"cross_entropy: logits {scores.shape} and targets {targets.shape} do not line up")
    if targets.size and (targets.min() < 0 or targets.max() >= scores.shape[-1]):
        raise ValueError(f"cross_entropy: targets must lie in [0, {scores.shape[-1]})")
    top = scores.max(axis=-1, keepdims=True)
    log_total = np.log(np.exp(scores - top).sum(axis=-1)) + top[..., 0]
    picked = np.take_along_axis(scores, targets[..., None], axis=-1)[..., 0]
    losses = log_total - picked
    if mask is not None:
        losses = losses[np.asarray(mask, dtype=bool)]
    if losses.size == 0:
        raise ValueError("cross_entropy: no positions to grade")
    return float(losses.mean())


def perplexity(cross_entropy_nats: float) -> float:
    """exp(cross-entropy): the effective number of equally likely choices per token."""
    return float(np.exp(cross_entropy_nats))


def causality_probe(logits_fn: LogitsFn, ids, vocab_size: int, cuts: Sequence[int] | None = None,
                    seed: int = 0, tolerance: float = 1e-5) -> tuple[bool, float]:
    """Does changing tokens at positions >= t leave the logits at positions < t unchanged, for every cut t?

    For each cut, every later token is replaced by a different random token; the largest
    change of any earlier logit, relative to the logits' scale, must stay below ``tolerance``
    (a causal model gives exactly zero). Returns ``(causal, largest relative change)``.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 2 or ids.shape[1] < 2:
        raise ValueError(f"causality_probe: need ids of shape (N, T >= 2), got {ids.shape}")
    rng = np.random.default_rng(seed)
    base = logits_of(logits_fn, ids)
    scale = max(1.0, float(np.abs(base).max()))
    cuts = range(1, ids.shape[1]) if cuts is None else cuts
    worst = 0.0
    for cut in cuts:
        changed = ids.copy()
        shift = rng.integers(1, vocab_size, changed[:, cut:].shape)
        changed[:, cut:] = (changed[:, cut:] + shift) % vocab_size  # always a different token
        moved = logits_of(logits_fn, changed)
        worst = max(worst, float(np.abs(moved[:, :cut] - base[:, :cut]).max()) / scale)
    return worst <= tolerance, worst


def greedy_answers(logits_fn: LogitsFn, encode: Callable[[str], Sequence[int]], decode: Callable[[Sequence[int]], str],
                   prompts: Sequence[str], answers: Sequence[str], max_new_tokens: int,
                   context_length: int | None = None, stop: str = "\n") -> tuple[float, list[str]]:
    """Exact-match accuracy of greedy answers: generate after each prompt until ``stop``, compare with the answer.

    Prompts are grouped by encoded length so each group decodes as one batch without
    padding (nothing for a model to mis-handle). The answer is the generated text up to
    (not including) the first ``stop``; it must equal the reference exactly.

    Returns:
        ``(accuracy, generated answers in prompt order)``.
    """
    if len(prompts) != len(answers) or not prompts:
        raise ValueError(f"greedy_answers: {len(prompts)} prompts for {len(answers)} answers")
    encoded = [np.asarray(encode(p), dtype=np.int64) for p in prompts]
    generated: list[str] = [""] * len(prompts)
    lengths = np.array([len(e) for e in encoded])
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        tokens = greedy_decode(logits_fn, np.stack([encoded[i] for i in rows]), max_new_tokens, context_length)
        for row, continuation in zip(rows, tokens):
            generated[row] = decode(continuation.tolist()).split(stop)[0]
    correct = [g == a for g, a in zip(generated, answers)]
    return float(np.mean(correct)), generated


def embedding_gradient_error(embedding, ids, seed: int = 0) -> float:
    """Largest error of the reader's embedding-table gradient against a float64 NumPy scatter-add, relative.

    Calls ``embedding(ids)`` (the reader's module: a ``weight`` table of shape (V, D)), sends a
    random upstream gradient back with ``output.backward(upstream)``, and compares
    ``embedding.weight.grad`` with ``reference[v] = sum of upstream rows at positions where
    ids == v``. ``ids`` should repeat ids (every real batch does). The table's ``.grad`` is
    reset to None before and after, so a model's training state is not disturbed.

    Returns:
        max |grad - reference| / max(1, max |reference|): about 1e-7 for a correct float32 table.
    """
    ids = np.asarray(ids, dtype=np.int64)
    weight = embedding.weight
    table = _raw(weight)
    weight.grad = None
    out = embedding(ids)
    shape = _raw(out).shape
    if shape != ids.shape + table.shape[1:]:
        raise ValueError(f"embedding_gradient_error: embedding returned shape {shape} for ids {ids.shape} "
                         f"and a table of shape {table.shape}")
    upstream = np.random.default_rng(seed).standard_normal(shape).astype(table.dtype)
    out.backward(upstream)
    grad = weight.grad
    weight.grad = None
    if grad is None:
        return float("inf")
    reference = np.zeros(table.shape, dtype=np.float64)
    np.add.at(reference, ids.reshape(-1), upstream.reshape(ids.size, -1).astype(np.float64))
    error = np.abs(np.asarray(_raw(grad), dtype=np.float64) - reference).max()
    return float(error / max(1.0, np.abs(reference).max()))


def next_token_accuracy(logits, targets, mask=None) -> float:
    """Fraction of positions whose argmax logit (in NumPy) is the target token.

    Args:
        logits: (..., V) raw scores (array or tensor).
        targets: (...) int ids, the same leading shape.
        mask: optional bool (...) array: only True positions count.

    >>> next_token_accuracy(np.array([[[0.1, 2.0], [3.0, 0.0]]]), np.array([[1, 1]]))
    0.5
    """
    scores = np.asarray(_raw(logits))
    targets = np.asarray(_raw(targets)).astype(np.int64)
    if scores.shape[:-1] != targets.shape:
        raise ValueError(f"next_token_accuracy: logits {scores.shape} and targets {targets.shape} do not line up")
    right = scores.argmax(axis=-1) == targets
    if mask is not None:
        right = right[np.asarray(mask, dtype=bool)]
    if right.size == 0:
        raise ValueError("next_token_accuracy: no positions to grade")
    return float(right.mean())


def nucleus(probs, top_p: float, slack: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """The top-p nucleus of one distribution: the fewest most likely tokens whose mass reaches ``top_p``.

    Tokens are ranked by probability (ties by id). A token belongs to the nucleus when the
    mass ranked ahead of it is below ``top_p``. Rounding can make a token sit exactly on the
    boundary; tokens whose mass ahead is within ``slack`` of ``top_p`` are returned apart, as
    *optional* (a sampler may keep them or not).

    Returns:
        ``(required, optional)``: sorted token ids.

    >>> nucleus(np.array([0.1, 0.5, 0.3, 0.1]), 0.7)
    (array([1, 2]), array([], dtype=int64))
    """
    probs = np.asarray(probs, dtype=np.float64)
    order = np.argsort(-probs, kind="stable")
    ahead = np.cumsum(probs[order]) - probs[order]
    required = order[ahead < top_p - slack]
    optional = order[np.abs(ahead - top_p) <= slack]
    return np.sort(required), np.sort(optional)


class NucleusReport(NamedTuple):
    """What ``nucleus_probe`` found: whether the sampler passed, and the numbers behind it."""

    passed: bool
    nucleus_size: int         # tokens in the judge's nucleus
    vocab_size: int
    outside: int              # draws that fell outside the nucleus (must be 0)
    total_variation: float    # distance between the draws' frequencies and the renormalised nucleus
    tolerance: float

    def __str__(self) -> str:
        return (f"nucleus of {self.nucleus_size} of {self.vocab_size} tokens; draws outside it: {self.outside}; "
                f"total variation from its probabilities {self.total_variation:.3f} (allowed {self.tolerance})")


def nucleus_probe(logits_fn: LogitsFn, sample_fn: Callable[[np.ndarray], object], prompt, top_p: float,
                  draws: int = 2000, tolerance: float = 0.05) -> NucleusReport:
    """Check a top-p sampler against the judge's own nucleus of the model's next-token distribution.

    The judge reads the model's logits after ``prompt`` (temperature 1), takes the softmax and
    its nucleus (``nucleus``) in float64, then calls ``sample_fn`` on ``draws`` copies of the
    prompt (an int array (draws, T)); it must return the sampled next token of each row (an
    array (draws,) or the whole extended sequences (draws, T + k), whose column T is used).
    The sampler passes when no draw falls outside the nucleus and the total variation
    distance between the draws' frequencies and the renormalised nucleus probabilities is at
    most ``tolerance`` (for 2,000 draws a correct sampler's is typically about 0.02).
    """
    prompt = np.asarray(prompt, dtype=np.int64).reshape(1, -1)
    if not 0 < top_p <= 1:
        raise ValueError(f"nucleus_probe: top_p must be in (0, 1], got {top_p}")
    last = logits_of(logits_fn, prompt)[0, -1]
    probs = np.exp(last - last.max())
    probs /= probs.sum()
    required, optional = nucleus(probs, top_p)
    sampled = np.asarray(_raw(sample_fn(np.repeat(prompt, draws, axis=0))))
    if sampled.ndim == 2 and sampled.shape[0] == draws and sampled.shape[1] > prompt.shape[1]:
        sampled = sampled[:, prompt.shape[1]]
    sampled = sampled.reshape(-1).astype(np.int64)
    if sampled.shape != (draws,) or sampled.min() < 0 or sampled.max() >= probs.size:
        raise ValueError(f"nucleus_probe: the sampler returned {sampled.shape} tokens (or ids outside the "
                         f"vocabulary of {probs.size}); expected one next token for each of {draws} rows")
    allowed = np.union1d(required, optional)
    outside = int((~np.isin(sampled, allowed)).sum())
    kept = allowed if outside == 0 and np.isin(optional, sampled).any() else required
    target = np.zeros_like(probs)
    target[kept] = probs[kept] / probs[kept].sum()
    frequencies = np.bincount(sampled, minlength=probs.size) / draws
    total_variation = float(0.5 * np.abs(frequencies - target).sum())
    return NucleusReport(outside == 0 and total_variation <= tolerance, int(len(required)), int(probs.size), outside,
                         total_variation, tolerance)
