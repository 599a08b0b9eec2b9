"""Module 13's sampling: temperature, top-k and top-p (nucleus) in ``sampling_probs``, ``sample_next`` and
``GPT.generate``."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import tinytorch
from tinytorch.core.transformers import GPT, GPTConfig, sample_next, sampling_probs

PROBS = np.array([[0.05, 0.4, 0.15, 0.3, 0.1]])  # ranked: 1 (0.4), 3 (0.3), 2 (0.15), 4 (0.1), 0 (0.05)


def nucleus_by_hand(probs, p):
    """The smallest set of most likely tokens whose mass reaches p, by a plain loop (the oracle)."""
    kept, mass = [], 0.0
    for token in sorted(range(len(probs)), key=lambda t: (-probs[t], t)):
        if mass >= p:
            break
        kept.append(token)
        mass += probs[token]
    return set(kept)


@pytest.mark.parametrize("p,expected", [(0.3, {1}), (0.4, {1}), (0.41, {1, 3}), (0.7, {1, 3}), (0.71, {1, 3, 2}),
                                        (0.9, {1, 3, 2, 4}), (0.96, {0, 1, 2, 3, 4}), (1.0, {0, 1, 2, 3, 4})])
def test_the_nucleus_is_the_smallest_set_of_most_likely_tokens_with_mass_at_least_p(p, expected):
    probs = sampling_probs(np.log(PROBS), top_p=p)[0]
    assert set(np.flatnonzero(probs)) == expected
    kept = sorted(expected)
    np.testing.assert_allclose(probs[kept], PROBS[0, kept] / PROBS[0, kept].sum())  # renormalised, in proportion
    assert probs.sum() == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(2, 9)), elements=st.floats(-6, 6)),
       st.floats(0.01, 1.0))
def test_top_p_matches_the_oracle_on_random_logits(logits, p):
    probs = sampling_probs(logits, top_p=p)
    full = sampling_probs(logits)
    for row in range(len(logits)):
        kept = set(np.flatnonzero(probs[row]))
        assert kept == nucleus_by_hand(full[row], p)
        assert full[row, sorted(kept)].sum() >= p - 1e-12
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0)


def test_temperature_then_top_k_then_top_p():
    logits = np.log(PROBS)
    hot = sampling_probs(logits, temperature=2.0)
    np.testing.assert_allclose(hot, np.sqrt(PROBS) / np.sqrt(PROBS).sum())
    # top-k 3 leaves 0.4, 0.3, 0.15 (renormalised: 0.47, 0.35, 0.18); their nucleus at 0.8 is the first two
    assert set(np.flatnonzero(sampling_probs(logits, top_k=3, top_p=0.8)[0])) == {1, 3}
    greedy = sampling_probs(logits, temperature=0, top_p=0.5)
    np.testing.assert_array_equal(greedy, [[0, 1, 0, 0, 0]])


def test_ties_are_ranked_by_token_id():
    probs = sampling_probs(np.zeros((1, 4)), top_p=0.5)
    np.testing.assert_allclose(probs, [[0.5, 0.5, 0.0, 0.0]])


def test_sampling_probs_rejects_bad_arguments():
    with pytest.raises(ValueError, match="top_p must be a finite number in \\(0, 1\\], got 0.0"):
        sampling_probs(np.zeros((1, 3)), top_p=0.0)
    with pytest.raises(ValueError, match="top_p must be a finite number in \\(0, 1\\], got 1.5"):
        sampling_probs(np.zeros((1, 3)), top_p=1.5)
    with pytest.raises(ValueError, match="shape \\(N, V\\)"):
        sampling_probs(np.zeros(3))
    with pytest.raises(ValueError, match="shape \\(N, V\\)"):
        sampling_probs(np.zeros((2, 0)))
    with pytest.raises(ValueError, match="temperature must be a finite number in \\[0, inf\\), got -0.5"):
        sampling_probs(np.zeros((1, 3)), temperature=-0.5)
    with pytest.raises(ValueError, match="top_k must be an int >= 1 or None, got 0"):
        sampling_probs(np.zeros((1, 3)), top_k=0)
    for bad in ([[0.0, np.nan]], [[np.inf, 0.0]], [[-np.inf, -np.inf]]):
        with pytest.raises(ValueError, match="sampling_probs: the logits contain NaN, \\+inf or a row of -inf only"):
            sampling_probs(np.array(bad))
    with pytest.raises(TypeError, match="sampling_probs: logits must be an \\(N, V\\) array of numbers, got str"):
        sampling_probs("abc")


def test_sample_next_with_top_p_draws_only_from_the_nucleus_in_proportion():
    tinytorch.manual_seed(0)
    draws = np.concatenate([sample_next(np.log(PROBS), 1.0, top_p=0.7) for _ in range(3000)])[:, 0]
    assert set(draws) == {1, 3}
    np.testing.assert_allclose((draws == 1).mean(), 0.4 / 0.7, atol=0.03)


def tiny_gpt():
    tinytorch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=11, context_length=8, n_layer=1, n_head=2, n_embd=16, init_std=0.5)).eval()


def test_generate_with_top_p_is_reproducible_under_a_seed_and_stays_in_the_nucleus():
    model = tiny_gpt()
    prompt = np.array([[1, 2, 3]] * 200)
    tinytorch.manual_seed(7)
    a = model.generate(prompt, 1, temperature=1.0, top_p=0.6).data
    tinytorch.manual_seed(7)
    b = model.generate(prompt, 1, temperature=1.0, top_p=0.6).data
    tinytorch.manual_seed(8)
    c = model.generate(prompt, 1, temperature=1.0, top_p=0.6).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    logits = model(prompt[:1]).data[:, -1]
    nucleus = np.flatnonzero(sampling_probs(logits, top_p=0.6)[0])
    assert 1 < len(nucleus) < 11  # a real cut: several tokens kept, some dropped
    assert set(a[:, -1]) <= set(nucleus)


def test_top_p_one_changes_nothing():
    model = tiny_gpt()
    prompt = np.array([[4, 5], [6, 7]])
    tinytorch.manual_seed(3)
    plain = model.generate(prompt, 6, temperature=1.2).data
    tinytorch.manual_seed(3)
    nucleus = model.generate(prompt, 6, temperature=1.2, top_p=1.0).data
    np.testing.assert_array_equal(plain, nucleus)


def test_generate_rejects_a_bad_top_p():
    with pytest.raises(ValueError, match="GPT.generate: top_p must be a finite number in \\(0, 1\\]"):
        tiny_gpt().generate(np.zeros((1, 1), np.int64), 2, top_p=0)
