"""Deliberately broken modules 02 and 11-13 (and 18's fused twins) must fail `make strict` on
milestone 05, naming a criterion.

Each test builds a copy of the book holding only chapter 05, applies one bug to the copied
tinytorch, and runs the strict build (as tests/harness/test_book.py does for earlier
milestones). Most copies are cut after module 13, so the chapter runs the composed modules
12-13 a reader has written by then; the fused-kernel mutant keeps module 18, whose layers the
chapter switches on when it exists. The bugs are the ones that break the chapter's story, not
cosmetic ones:

- attention that can see the future: training with the answer in view is easy, but the
  judge generates the answers itself, token by token, and there is no future to copy then;
- softmax over the wrong axis: weights no longer sum to 1 over the keys a query sees;
- wrong gradients that a transformer survives (an embedding that keeps one of several repeated
  ids' gradients, a GELU whose backward is the ReLU step, a LayerNorm or positional table that
  gets no gradient): Adam still trains the model, so only the judge's backprop check of the
  whole GPT catches them, before any training.

A last test builds the no-mask mutant without strictness: every criterion of the chapter is
then measured, and the loss and answers of a model that sees the future must read "not run",
not "met".
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from milestones import registry
from milestones.tools.bookbuild import break_file, build, copy_book, cut_after, records


@dataclass(frozen=True)
class Mutant:
    """One deliberate bug in milestone 05's modules, and the criterion that must name it."""

    file: str
    old: str
    new: str
    criterion: str
    cut: int | None = 13  # the last module kept (None: every module, so the fused path runs)


NO_MASK = Mutant("tinytorch/core/attention.py",
                 "        allowed = causal_mask(query_len, key_len, start)\n",
                 "        allowed = None\n",
                 "reversal_accuracy")

MUTANTS = {
    "12 attention sees the future": NO_MASK,
    "12 softmax over the wrong axis": Mutant(
        "tinytorch/core/attention.py",
        "    weights = softmax(scores, dim=-1)\n",
        "    weights = softmax(scores, dim=-2)\n",
        "reversal_accuracy"),
    "11 embedding gradient drops repeated ids": Mutant(
        "tinytorch/core/embeddings.py",
        "    out[sorted_ids[starts]] = np.add.reduceat(rows[order], starts, axis=0)\n",
        "    out[ids] = rows  # repeated ids: the last one wins\n",
        "gpt_backprop_error"),  # part 1's backprop check sees it first; part 2 probes the embedding alone
    "11 learned positions get no gradient": Mutant(
        "tinytorch/core/embeddings.py",
        "        return x + self.weight[start:start + length]\n",
        "        return x + self.weight.data[start:start + length]  # a plain array: the table never learns\n",
        "gpt_backprop_error"),
    "02 GELU backward is the ReLU step": Mutant(
        "tinytorch/core/activations.py",
        "        return g * (0.5 * (1.0 + t) + 0.5 * a * (1.0 - t * t) * du)\n",
        "        return g * (a > 0)\n",
        "gpt_backprop_error"),
    "13 LayerNorm weight gets no gradient": Mutant(
        "tinytorch/core/transformers.py",
        "        out = out * weight\n",
        "        out = out * weight.data  # the scale as a plain array: no gradient reaches it\n",
        "gpt_backprop_error"),
    "18 fused LayerNorm backward forgets the weight's gradient": Mutant(
        "tinytorch/perf/fusion.py",
        "        dweight = _column_sums(np.multiply(rows, xhat.reshape(rows.shape))).reshape(shape) if need_w else None\n",
        "        dweight = np.zeros(shape) if need_w else None\n",
        "gpt_backprop_error", cut=None),
}

CHAPTER = "milestones/05_2017_transformer.md"


def broken_book(tmp_path, mutant: Mutant):
    book = copy_book(tmp_path, chapters=("05",))
    if mutant.cut is not None:
        cut_after(book, mutant.cut)
    break_file(book / mutant.file, mutant.old, mutant.new)
    return book


@pytest.mark.parametrize("name", MUTANTS, ids=list(MUTANTS))
def test_strict_build_fails_on_a_broken_transformer_naming_the_criterion(tmp_path, name):
    result = build(broken_book(tmp_path, MUTANTS[name]), strict=True)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert CHAPTER in output
    assert f"criterion '{MUTANTS[name].criterion}' missed" in output, output[-4000:]


def test_the_mutants_cover_modules_02_and_11_to_13_and_18():
    assert {int(name[:2]) for name in MUTANTS} >= {2, 11, 12, 13, 18}


def test_a_model_that_sees_the_future_gets_no_loss_or_answer_graded(tmp_path):
    """Without strictness the whole chapter runs: causality is missed, and what it invalidates
    (the validation loss, the answers) reads "not run" with the reason, never "met"."""
    book = broken_book(tmp_path, NO_MASK)
    result = build(book, strict=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    found = records(book)
    assert found[("05", "causal")]["status"] == "missed"
    for criterion in registry.milestone("05").part(2).criteria:
        if "causal" in criterion.requires:
            entry = found[("05", criterion.key)]
            assert entry["status"] == "not run", (criterion.key, entry)
            assert "causal is missed" in entry["detail"], entry
            assert entry["value"] is None
    assert found[("05", "talk_backprop_error")]["status"] == "met"  # the gradients are right: only the mask is gone
