"""The judge's language probes (milestones/measure_language.py) on NumPy oracles with known answers."""

import numpy as np
import pytest

from milestones import measure_language as ml

V = 7


def one_hot_logits(next_tokens, vocab=V, confidence=5.0):
    """Logits (N, T, V) that put ``confidence`` on the given next token at every position."""
    logits = np.zeros(next_tokens.shape + (vocab,))
    np.put_along_axis(logits, next_tokens[..., None], confidence, axis=-1)
    return logits


def reverser(ids):
    """Oracle for 'x1..x4 SEP -> x4..x1': at position 4 + j it predicts x_{3-j}."""
    nxt = np.zeros_like(ids)
    for j in range(ids.shape[1] - 4):
        nxt[:, 4 + j] = ids[:, 3 - j]
    return one_hot_logits(nxt)


class Tensorish:
    """Something with a ``.data`` array, as a tinytorch Tensor."""

    def __init__(self, data):
        self.data = data


def test_greedy_decode_feeds_back_its_own_argmax():
    prompts = np.array([[1, 2, 3, 4, 6], [5, 5, 1, 2, 6]])
    np.testing.assert_array_equal(ml.greedy_decode(reverser, prompts, 4), [[4, 3, 2, 1], [2, 1, 5, 5]])
    np.testing.assert_array_equal(ml.greedy_decode(lambda ids: Tensorish(reverser(ids)), prompts, 2), [[4, 3], [2, 1]])


def test_greedy_decode_shows_the_model_only_its_context():
    seen = []

    def model(ids):
        seen.append(ids.shape[1])
        return one_hot_logits(ids)  # predicts its own input token: copies the last token forever
    out = ml.greedy_decode(model, np.array([[1, 2, 3]]), 4, context_length=4)
    assert seen == [3, 4, 4, 4]
    np.testing.assert_array_equal(out, [[3, 3, 3, 3]])


def test_sequence_accuracy_counts_whole_sequences_only():
    prompts = np.array([[1, 2, 3, 4, 6]] * 4)
    targets = np.array([[4, 3, 2, 1], [4, 3, 2, 1], [4, 3, 2, 0], [0, 3, 2, 1]])
    assert ml.sequence_accuracy(reverser, prompts, targets) == 0.5


def test_sequence_accuracy_rejects_mismatched_targets():
    with pytest.raises(ValueError, match="one target row per prompt"):
        ml.sequence_accuracy(reverser, np.zeros((3, 5), int), np.zeros((2, 4), int))


def test_wrong_logit_shapes_are_reported():
    with pytest.raises(ValueError, match=r"returned logits of shape \(2, 7\) for ids of shape \(2, 5\)"):
        ml.greedy_decode(lambda ids: np.zeros((2, 7)), np.zeros((2, 5), int), 1)


def test_cross_entropy_matches_the_definition():
    rng = np.random.default_rng(0)
    logits, targets = rng.standard_normal((3, 4, V)), rng.integers(0, V, (3, 4))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    expected = -np.log(np.take_along_axis(probs, targets[..., None], -1)).mean()
    assert ml.cross_entropy(logits, targets) == pytest.approx(expected, rel=1e-12)
    assert ml.cross_entropy(np.zeros((5, V)), np.arange(5)) == pytest.approx(np.log(V))
    mask = np.zeros((3, 4), bool)
    mask[1, 2] = True
    assert ml.cross_entropy(logits, targets, mask) == pytest.approx(-np.log(probs[1, 2, targets[1, 2]]))
    assert ml.perplexity(np.log(V)) == pytest.approx(V)


def test_cross_entropy_is_stable_for_huge_logits_and_checks_inputs():
    assert ml.cross_entropy(np.array([[1e4, 0.0]]), np.array([0])) == pytest.approx(0.0)
    assert ml.cross_entropy(np.array([[0.0, 1e4]]), np.array([0])) == pytest.approx(1e4)
    with pytest.raises(ValueError, match="do not line up"):
        ml.cross_entropy(np.zeros((2, 3, V)), np.zeros((2, 2), int))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 7\)"):
        ml.cross_entropy(np.zeros((2, V)), np.array([0, 7]))


def prefix_sums(ids):
    """A causal model: position t's logits depend on tokens 0..t only."""
    return np.cumsum(one_hot_logits(ids, confidence=1.0), axis=1)


def suffix_sums(ids):
    """A model that peeks at the future: position t's logits depend on tokens t..T-1."""
    return np.cumsum(one_hot_logits(ids, confidence=1.0)[:, ::-1], axis=1)[:, ::-1]


def test_causality_probe_accepts_a_causal_model_and_catches_a_peeking_one():
    ids = np.random.default_rng(1).integers(0, V, (3, 6))
    assert ml.causality_probe(prefix_sums, ids, V) == (True, 0.0)
    causal, leak = ml.causality_probe(suffix_sums, ids, V)
    assert not causal and leak > 0.1


def test_causality_probe_catches_a_small_leak_from_the_last_token():
    def leaks_last_token(ids):
        out = prefix_sums(ids)
        out[:, 0] += 1e-3 * ids[:, -1:]  # position 0 sees the final token, slightly
        return out
    ids = np.random.default_rng(2).integers(0, V, (2, 5))
    assert not ml.causality_probe(leaks_last_token, ids, V)[0]
    assert ml.causality_probe(leaks_last_token, ids, V, cuts=[1, 2])[0] is False
    with pytest.raises(ValueError, match=r"need ids of shape \(N, T >= 2\)"):
        ml.causality_probe(prefix_sums, np.zeros((2, 1), int), V)


CHARS = "\nAQ: abcdefgh?!"


def encode(text):
    return [CHARS.index(c) for c in text]


def decode(ids):
    return "".join(CHARS[i] for i in ids)


def knows(table):
    """A character model that completes 'Q: <q>\\nA: ' with table[q] + newline, then babbles 'x'."""
    def model(ids):
        logits = np.zeros(ids.shape + (len(CHARS),))
        for row, seq in enumerate(ids):
            text = decode(seq)
            question = text.split("\n")[0][3:]
            answer = table.get(question, "?") + "\n"
            start = text.index("A: ") + 3 if "A: " in text else len(text)
            for t in range(len(seq)):
                done = t + 1 - start
                nxt = answer[done] if 0 <= done < len(answer) else "!"
                logits[row, t, CHARS.index(nxt)] = 1.0
        return logits
    return model


def test_greedy_answers_groups_prompts_by_length_and_stops_at_the_newline():
    table = {"ab": "c", "abc": "hh", "d": "ge", "gg": "a"}
    prompts = [f"Q: {q}\nA: " for q in table]
    answers = ["c", "hh", "ge", "b"]  # the last one is wrong on purpose
    accuracy, generated = ml.greedy_answers(knows(table), encode, decode, prompts, answers, max_new_tokens=4)
    assert generated == ["c", "hh", "ge", "a"]
    assert accuracy == 0.75


def test_greedy_answers_needs_matching_lists():
    with pytest.raises(ValueError, match="2 prompts for 1 answers"):
        ml.greedy_answers(knows({}), encode, decode, ["Q: a\nA: "] * 2, ["a"], 3)


def test_probes_on_a_tinytorch_gpt():
    """Integration: the real GPT is causal; the same GPT without its causal mask is caught."""
    import tinytorch
    from tinytorch.core import transformers
    from tinytorch.core.autograd import no_grad

    tinytorch.manual_seed(0)
    model = transformers.GPT(transformers.GPTConfig(vocab_size=V, context_length=6, n_layer=1, n_head=2, n_embd=8,
                                                    init_std=0.3))

    def logits(ids):
        with no_grad():
            return model(ids)
    ids = np.random.default_rng(3).integers(0, V, (2, 6))
    assert ml.causality_probe(logits, ids, V) == (True, 0.0)
    block = model.blocks[0]
    original = block.forward
    block.forward = lambda x, **kw: original(x, **{**kw, "is_causal": False})  # a model that sees the future
    try:
        assert not ml.causality_probe(logits, ids, V)[0]
    finally:
        block.forward = original


def test_embedding_gradient_probe_accepts_a_correct_table_and_catches_dropped_repeats(monkeypatch):
    import tinytorch.core.embeddings as embeddings

    emb = embeddings.Embedding(6, 4)
    ids = np.array([[1, 1, 1, 2], [2, 5, 1, 0]])
    assert ml.embedding_gradient_error(emb, ids) < 1e-6
    assert emb.weight.grad is None  # left as found

    def last_one_wins(ids, rows, num_rows):
        out = np.zeros((num_rows, rows.shape[-1]), dtype=rows.dtype)
        out[ids.reshape(-1)] = rows.reshape(ids.size, -1)
        return out
    monkeypatch.setattr(embeddings, "scatter_add_rows", last_one_wins)
    assert ml.embedding_gradient_error(emb, ids) > 0.1


def test_embedding_gradient_probe_reports_a_missing_gradient_and_wrong_shapes():
    class NoGrad:
        weight = Tensorish(np.zeros((3, 2)))

        def __call__(self, ids):
            class Out:
                data = np.zeros(ids.shape + (2,))

                def backward(self, grad):
                    pass
            return Out()
    NoGrad.weight.grad = None
    assert ml.embedding_gradient_error(NoGrad(), np.array([[0, 1]])) == float("inf")

    class Wrong(NoGrad):
        def __call__(self, ids):
            return Tensorish(np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"returned shape \(1, 2\) for ids \(1, 2\)"):
        ml.embedding_gradient_error(Wrong(), np.array([[0, 1]]))


# ------------------------------------------------------------------ next-token accuracy and the nucleus probe

def test_next_token_accuracy_counts_argmax_hits_and_honours_the_mask():
    logits = one_hot_logits(np.array([[1, 2, 3], [4, 5, 6]]))
    targets = np.array([[1, 0, 3], [4, 5, 0]])
    assert ml.next_token_accuracy(logits, targets) == pytest.approx(4 / 6)
    assert ml.next_token_accuracy(Tensorish(logits), targets, mask=targets > 0) == 1.0
    with pytest.raises(ValueError, match="do not line up"):
        ml.next_token_accuracy(logits, targets[:, :2])
    with pytest.raises(ValueError, match="no positions"):
        ml.next_token_accuracy(logits, targets, mask=np.zeros((2, 3), bool))


@pytest.mark.parametrize("p,expected", [(0.2, [1]), (0.49, [1]), (0.51, [1, 2]), (0.79, [1, 2]), (0.81, [0, 1, 2]),
                                        (0.96, [0, 1, 2, 3]), (1.0, [0, 1, 2, 3])])
def test_nucleus_is_the_smallest_most_likely_set_reaching_p(p, expected):
    required, optional = ml.nucleus(np.array([0.15, 0.5, 0.3, 0.05]), p)
    assert required.tolist() == expected and optional.size == 0


def test_nucleus_leaves_a_token_on_the_boundary_optional():
    probs = np.array([0.1, 0.2, 0.7])
    required, optional = ml.nucleus(probs, probs[2] + probs[1])  # the mass ahead of token 0 equals p
    assert required.tolist() == [1, 2] and optional.tolist() == [0]


NUCLEUS_PROBS = np.array([0.02, 0.3, 0.05, 0.25, 0.2, 0.1, 0.08])  # nucleus at 0.8: tokens 1, 3, 4, 5


def nucleus_model(ids):
    """Logits whose softmax is NUCLEUS_PROBS at every position."""
    return np.broadcast_to(np.log(NUCLEUS_PROBS), ids.shape + (7,)).copy()


def sampler(probs_of):
    """A sampler that draws each row's next token from ``probs_of(NUCLEUS_PROBS)``, seeded."""
    rng = np.random.default_rng(0)

    def sample(prompts):
        probs = probs_of(NUCLEUS_PROBS)
        return np.concatenate([prompts, rng.choice(7, size=(len(prompts), 1), p=probs / probs.sum())], axis=1)
    return sample


def keep(tokens):
    def probs_of(probs):
        out = np.zeros_like(probs)
        out[tokens] = probs[tokens]
        return out
    return probs_of


def test_nucleus_probe_passes_a_correct_top_p_sampler():
    report = ml.nucleus_probe(nucleus_model, sampler(keep([1, 3, 4, 5])), np.array([0, 1, 2]), 0.8)
    assert report.passed and report.outside == 0 and report.nucleus_size == 4 and report.vocab_size == 7
    assert report.total_variation < 0.04
    assert "nucleus of 4 of 7 tokens" in str(report)
    only_tokens = ml.nucleus_probe(nucleus_model, lambda p: sampler(keep([1, 3, 4, 5]))(p)[:, -1], [0, 1], 0.8)
    assert only_tokens.passed  # the sampler may return just the sampled tokens


@pytest.mark.parametrize("probs_of,why", [
    (lambda probs: probs, "top-p ignored: draws from the whole distribution"),
    (keep([1, 3, 4]), "one token too few: the mass of the kept set stays below p"),
    (keep([1, 3, 4, 5, 6]), "one token too many"),
    (lambda probs: keep([1, 3, 4, 5])(np.sqrt(probs)), "the nucleus at the wrong proportions (temperature 2)"),
])
def test_nucleus_probe_fails_a_wrong_sampler(probs_of, why):
    report = ml.nucleus_probe(nucleus_model, sampler(probs_of), np.array([0, 1, 2]), 0.8)
    assert not report.passed, why


def test_nucleus_probe_rejects_what_is_not_one_token_per_row():
    with pytest.raises(ValueError, match="one next token for each of 100 rows"):
        ml.nucleus_probe(nucleus_model, lambda p: np.zeros(3, np.int64), [0, 1], 0.8, draws=100)
    with pytest.raises(ValueError, match="top_p must be in"):
        ml.nucleus_probe(nucleus_model, lambda p: p, [0, 1], 1.5)
