"""Deliberately broken attention and embeddings must fail `make strict` on milestone 05, naming a criterion.

Each test builds a copy of the book holding only chapter 05, cut after module 13 (so the chapter
runs the composed modules 12-13 a reader has written by then, not module 18's fused twins),
applies one bug to the copied tinytorch, and runs the strict build (as tests/harness/test_book.py
does for earlier milestones). The bugs are the ones that break the chapter's story, not cosmetic
ones:

- attention that can see the future: training with the answer in view is easy, but the
  judge generates the answers itself, token by token, and there is no future to copy then;
- softmax over the wrong axis: weights no longer sum to 1 over the keys a query sees;
- an embedding whose gradient keeps only one of several repeated ids: Adam still trains
  the model, so only the judge's direct gradient comparison catches it.
"""

from __future__ import annotations

import pytest
from milestones.tools.bookbuild import break_file, build, copy_book, cut_after

MUTANTS = {
    "attention sees the future": (
        "tinytorch/core/attention.py",
        "        allowed = causal_mask(query_len, key_len, start)\n",
        "        allowed = None\n",
        "reversal_accuracy"),
    "softmax over the wrong axis": (
        "tinytorch/core/attention.py",
        "    weights = softmax(scores, dim=-1)\n",
        "    weights = softmax(scores, dim=-2)\n",
        "reversal_accuracy"),
    "embedding gradient drops repeated ids": (
        "tinytorch/core/embeddings.py",
        "    out[sorted_ids[starts]] = np.add.reduceat(rows[order], starts, axis=0)\n",
        "    out[ids] = rows  # repeated ids: the last one wins\n",
        "embedding_gradient_error"),
}


@pytest.mark.parametrize("name", MUTANTS, ids=list(MUTANTS))
def test_strict_build_fails_on_a_broken_transformer_naming_the_criterion(tmp_path, name):
    path, old, new, criterion = MUTANTS[name]
    book = copy_book(tmp_path, chapters=("05",))
    cut_after(book, 13)
    break_file(book / path, old, new)
    result = build(book, strict=True)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "milestones/05_2017_transformer.md" in output
    assert f"criterion '{criterion}' missed" in output, output[-4000:]
