"""Module boundaries are real: the reference tinytorch cut after module N builds the book strictly.

A reader writes the modules in the book's order. For every N, the reference with the files of
modules N+1.. deleted (nothing else edited) must import, build strictly, meet every part that
needs only modules 01..N, and lock every part that needs more.

Each cut builds only the milestone chapters with a part that unlocks exactly at N (chapter 01
when none does: everything in it locked or met), so every milestone part is graded at the first
cut that unlocks it. The cut after the last module is the reference itself: the session's
strict build of the whole book is that build. The extras are held to the same module order
statically (tests/harness/test_chapters.py: each part imports only the modules it declares).
"""

from __future__ import annotations

import pytest
from milestones.tools.bookbuild import build, copy_book, cut_after, records

from milestones import registry

WRITTEN = [s for s in registry.MILESTONES if s.chapter_path.exists()]
PROVIDED = [m.number for m in registry.MODULES if all((registry.BOOK_ROOT / f).exists() for f in m.files)]
DOWNLOADED = {"mnist-mlp", "cifar10-lenet", "fashion-mnist"}  # extras that may say "no data"


def chapters_unlocked_at(last: int) -> tuple[str, ...]:
    """Milestone chapters with a part whose highest module is ``last`` (or chapter 01 if there are none)."""
    found = tuple(s.id for s in WRITTEN if any(max(p.modules) == last for p in s.parts))
    return found or ("01",)


def assert_met_or_locked(found: dict, stones, last: int) -> None:
    """Parts needing only modules 01..last are met, the others locked (downloaded-data extras may say no data)."""
    for stone in stones:
        for part in stone.parts:
            expected = {"met"} if max(part.modules) <= last else {"locked"}
            if stone.id in DOWNLOADED:
                expected |= {"no data"}
            for criterion in part.criteria:
                entry = found[(stone.id, criterion.key)]
                assert entry["status"] in expected, (stone.id, part.number, criterion.key, entry["status"],
                                                     entry.get("detail"))


@pytest.mark.parametrize("last", PROVIDED[:-1], ids=lambda n: f"cut-after-{n:02d}")
def test_the_reference_cut_after_module_n_meets_what_it_can_and_locks_the_rest(tmp_path, last):
    chapters = chapters_unlocked_at(last)
    book = copy_book(tmp_path, chapters=chapters)
    cut_after(book, last)
    result = build(book, strict=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    assert_met_or_locked(records(book), [registry.milestone(c) for c in chapters], last)


def test_strict_book_is_the_cut_after_the_last_module(strict_book):
    book, result = strict_book
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    written = [s for s in registry.ALL_MILESTONES if s.chapter_path.exists()]
    assert_met_or_locked(records(book), written, PROVIDED[-1])


def test_every_module_up_to_the_last_written_is_cut_somewhere():
    assert PROVIDED == list(range(1, len(PROVIDED) + 1)), "modules must be written in the book's order"
