"""Module 10: CharTokenizer and BPETokenizer round trips, special tokens, determinism, speed of training."""

import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modulegraph import imported_tinytorch_modules

from tinytorch.core.tensor import Tensor
from tinytorch.core.tokenization import (
    BOS,
    EOS,
    PAD,
    SPECIAL_TOKENS,
    UNK,
    BPETokenizer,
    CharTokenizer,
    _chunks,
    _pair_hits,
)

ROOT = Path(__file__).resolve().parents[3]
import tinytorch.core.tokenization as tokenization_module  # noqa: E402

CORPUS = "Q: what is two plus three?\nA: five\nQ: hello!\nA: hi there.\n"
TEXT = CORPUS + tokenization_module.__doc__  # ~1.5 KB of prose: enough pairs for a few hundred merges


# ------------------------------------------------------------------ CharTokenizer

def test_char_vocabulary_is_specials_then_sorted_characters():
    tok = CharTokenizer("banana")
    assert tok.vocab == [PAD, BOS, EOS, UNK, "a", "b", "n"]
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id) == (0, 1, 2, 3)
    assert tok.vocab_size == len(tok) == 7


def test_char_encode_decode_known_text():
    tok = CharTokenizer(CORPUS)
    ids = tok.encode("A: five\n")
    assert all(isinstance(i, int) for i in ids) and min(ids) >= len(SPECIAL_TOKENS)
    assert tok.decode(ids) == "A: five\n"
    assert tok.encode_array("A: five\n").dtype == np.int64


def test_unknown_characters_become_unk():
    tok = CharTokenizer("abc")
    assert tok.encode("aXc") == [4, tok.unk_id, 6]
    assert tok.decode(tok.encode("aXc")) == "a" + UNK + "c"
    assert tok.encode("\u00e9\U0001F600") == [tok.unk_id, tok.unk_id]


def test_special_tokens_wrap_and_can_be_skipped():
    tok = CharTokenizer("ab")
    ids = tok.encode("ab", add_special_tokens=True)
    assert ids == [tok.bos_id, 4, 5, tok.eos_id]
    assert tok.decode(ids) == BOS + "ab" + EOS
    assert tok.decode(ids + [tok.pad_id], skip_special_tokens=True) == "ab"


def test_char_decode_accepts_arrays_and_tensors_and_rejects_bad_ids():
    tok = CharTokenizer("abc")
    assert tok.decode(np.array([4, 5])) == "ab"
    assert tok.decode(Tensor(np.array([6, 4]))) == "ca"
    assert tok.decode([]) == ""
    with pytest.raises(ValueError, match=r"decode each row on its own\), got shape \(2, 1\)"):
        tok.decode(np.array([[6], [4]]))  # a batch is never glued into one string
    with pytest.raises(ValueError, match="ragged"):
        tok.decode([[4], [5, 6]])
    with pytest.raises(IndexError, match="token id 7 is out of range for a vocabulary of 7"):
        tok.decode([4, 7])
    with pytest.raises(IndexError, match="token id -1"):
        tok.decode([-1])
    with pytest.raises(TypeError, match="must be integers"):
        tok.decode(np.array([1.0]))


def test_empty_corpus_knows_only_the_specials():
    tok = CharTokenizer("")
    assert tok.vocab_size == 4
    assert tok.encode("hi") == [tok.unk_id, tok.unk_id]


def test_corpus_may_be_an_iterable_of_texts():
    assert CharTokenizer(["ab", "c"]).vocab == CharTokenizer("abc").vocab


@given(st.text(max_size=60))
def test_char_round_trip_for_text_over_the_corpus_alphabet(text):
    tok = CharTokenizer(text + CORPUS)
    assert tok.decode(tok.encode(text)) == text
    assert len(tok.encode(text)) == len(text)


@given(st.text(max_size=40), st.text(max_size=40))
def test_char_unknown_characters_map_to_unk_exactly(corpus, text):
    tok = CharTokenizer(corpus)
    ids = np.array(tok.encode(text), dtype=np.int64)
    unknown = np.array([c not in corpus for c in text], dtype=bool)
    assert ((ids == tok.unk_id) == unknown).all()


# ------------------------------------------------------------------ BPE helpers

def test_pre_tokenization_covers_the_text_exactly():
    text = "def f(x_1):\n    return x_1 + 42  # it's  done\n\n"
    chunks = _chunks(text)
    assert "".join(chunks) == text
    assert " return" in chunks and "x_1" in chunks and " 42" in chunks and "'s" in chunks


@pytest.mark.parametrize("tokens,pair,expected", [
    ([1, 1, 1], (1, 1), [0]),                   # a a a -> (aa) a: every other, from the run's start
    ([1, 1, 1, 1], (1, 1), [0, 2]),
    ([1, 1, 2, 1, 1, 1], (1, 1), [0, 3]),
    ([1, 2, 1, 2], (1, 2), [0, 2]),
    ([2, 1, 3], (1, 2), []),
])
def test_pair_hits_match_a_left_to_right_scan(tokens, pair, expected):
    assert _pair_hits(np.array(tokens), *pair).tolist() == expected


# ------------------------------------------------------------------ BPETokenizer

def test_bpe_learns_the_vocabulary_size_asked_for():
    tok = BPETokenizer(vocab_size=300).train(TEXT)
    assert tok.vocab_size == len(tok) == 300
    assert len(tok.merges) == 44
    assert tok.token_bytes(ord("Q")) == b"Q"


def test_bpe_first_merge_is_the_most_frequent_pair():
    tok = BPETokenizer(vocab_size=257).train("aaab aab ab")
    # chunks "aaab", " aab", " ab": pair (a, b) occurs 3 times, (a, a) 3 times too (a a | a b and a a):
    # the scan counts (a,a) in "aaab" twice, in " aab" once -> 3; (a, b) 3 -> tie, smallest pair (97, 97) wins
    assert tok.merges == [(97, 97)]
    assert tok.token_bytes(256) == b"aa"


def test_bpe_training_is_deterministic():
    a = BPETokenizer(320).train(TEXT)
    b = BPETokenizer(320).train(TEXT)
    assert a.merges == b.merges


def test_bpe_compresses_the_text_it_was_trained_on():
    tok = BPETokenizer(400).train(TEXT)
    assert len(tok.encode(TEXT)) < 0.5 * len(TEXT.encode())


def test_bpe_encoding_equals_the_merges_applied_one_by_one():
    """Reference: apply every merge in rank order to each chunk with a plain Python loop."""
    tok = BPETokenizer(330).train(TEXT)
    text = "what is three plus two? hello there"
    expected = []
    for chunk in _chunks(text):
        ids = list(chunk.encode())
        for rank, (left, right) in enumerate(tok.merges):
            merged, i = [], 0
            while i < len(ids):
                if i + 1 < len(ids) and ids[i] == left and ids[i + 1] == right:
                    merged.append(256 + rank)
                    i += 2
                else:
                    merged.append(ids[i])
                    i += 1
            ids = merged
        expected += ids
    assert tok.encode(text) == expected


def test_bpe_rejects_bad_sizes_and_ids():
    for size in (100, 300.5, "512", None, True):
        with pytest.raises(ValueError, match=f"BPETokenizer: vocab_size must be an int >= 256 \\(the byte values\\), "
                                             f"got {size!r}"):
            BPETokenizer(size)
    with pytest.raises(ValueError, match="supports only 258 tokens"):
        BPETokenizer(300).train("abc")
    tok = BPETokenizer(256).train("")
    with pytest.raises(IndexError, match="token id 256 is out of range for a vocabulary of 256"):
        tok.decode([256])


def test_bpe_encodes_characters_it_never_saw_through_their_bytes():
    tok = BPETokenizer(280).train(CORPUS)
    assert tok.decode(tok.encode("caf\u00e9 \U0001F600")) == "caf\u00e9 \U0001F600"
    assert tok.encode("") == []


_BPE = BPETokenizer(400).train(TEXT + "def forward(self, x):\n    return x\n")


@settings(max_examples=150)
@given(st.text(max_size=80))
def test_bpe_round_trip_for_any_text(text):
    assert _BPE.decode(_BPE.encode(text)) == text


@given(st.text(alphabet="ab ", max_size=30))
def test_bpe_round_trip_after_training_on_the_same_text(text):
    tok = BPETokenizer(258).train(text + "ab ab aab")
    assert tok.decode(tok.encode(text)) == text


def test_bpe_trains_on_the_framework_source_in_seconds():
    """The CodeBot extra trains on tinytorch's own source: ~200 KB must take a few seconds at most."""
    files = sorted((ROOT / "tinytorch").rglob("*.py")) + sorted((ROOT / "milestones").glob("*.py"))
    text = "".join(path.read_text() for path in files)[:200_000]
    start = time.perf_counter()
    tok = BPETokenizer(1024).train(text)
    ids = tok.encode_array(text)
    seconds = time.perf_counter() - start
    assert tok.decode(ids) == text
    assert len(ids) < len(text) / 2.5
    assert seconds < 10, f"BPE training + encoding of {len(text)} characters took {seconds:.1f} s"


def test_tokenization_imports_no_later_module():
    assert imported_tinytorch_modules(ROOT / "tinytorch/core/tokenization.py") <= {"tinytorch.core.tensor"}


@pytest.mark.parametrize("call, match", [
    (lambda: CharTokenizer(123), "CharTokenizer: corpus must be a str or an iterable of str, got int"),
    (lambda: CharTokenizer(["ab", 3]), "CharTokenizer: corpus must be a str or an iterable of str, got an item of "
                                       "type int"),
    (lambda: CharTokenizer("ab").encode(None), "CharTokenizer.encode: text must be a str, got NoneType"),
    (lambda: CharTokenizer("ab").encode(b"ab"), "CharTokenizer.encode: text must be a str, got bytes"),
    (lambda: BPETokenizer(260).train(7), "BPETokenizer.train: corpus must be a str or an iterable of str, got int"),
    (lambda: BPETokenizer(256).encode(None), "BPETokenizer.encode: text must be a str, got NoneType"),
    (lambda: BPETokenizer(256).encode(5), "BPETokenizer.encode: text must be a str, got int"),
    (lambda: BPETokenizer(256).token_bytes("a"), "BPETokenizer.token_bytes: token ids must be integers"),
])
def test_text_and_corpus_of_the_wrong_type_are_named(call, match):
    with pytest.raises(TypeError, match=match):
        call()
