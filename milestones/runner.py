"""Run a chapter's code cells in this Python process, judged exactly as in the book's kernels.

``tito milestone run`` starts ``python -m milestones.runner ID [--part N]`` in a child process
(with the reader's tinytorch first on ``PYTHONPATH``): the cells run in order in one
namespace; the judge decides which to skip (locked or failed parts, a stopped chapter) and
turns every exception into a verdict, as its IPython hooks do in a notebook.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from milestones import judge, registry
from milestones.cells import begun_part

_MAGIC = re.compile(r"^\s*[%!]")


@dataclass(frozen=True)
class Cell:
    """One code cell: its source and the part it belongs to (0 = set-up, before the first part)."""

    source: str
    part: int


def without_magics(source: str) -> str:
    """IPython magics (``%...``, ``!...``) cannot run in plain Python: comment them out."""
    return "\n".join(f"# skipped IPython magic: {line.strip()}" if _MAGIC.match(line) else line
                     for line in source.splitlines())


def chapter_cells(path: Path) -> list[Cell]:
    """A chapter's code cells in order, each labelled with its part (cells tagged skip-execution are left out)."""
    import jupytext

    cells, part = [], 0
    for cell in jupytext.read(path, fmt="md:myst").cells:
        if cell.cell_type != "code" or "skip-execution" in cell.metadata.get("tags", []):
            continue
        part = begun_part(cell.source) or part
        cells.append(Cell(without_magics(cell.source), part))
    return cells


def run(stone: registry.Milestone, parts: tuple[int, ...] | None = None, chapter: Path | None = None) -> None:
    """Execute the set-up cells and the chosen parts' cells (all parts when None), judged."""
    namespace = {"__name__": "__main__", "display": _display}
    for number, cell in enumerate(chapter_cells(chapter or stone.chapter_path), 1):
        if parts is not None and cell.part not in (0, *parts):
            continue
        if judge.should_skip(cell.source):
            continue
        try:
            exec(compile(cell.source, f"<{stone.chapter} cell {number}>", "exec"), namespace)
        except Exception as exc:  # judged, never a crash: the verdict says what went wrong and where
            judge.on_exception(exc)


def _display(*objects, **kwargs) -> None:
    """``display`` outside a notebook: print what a terminal can show."""
    for obj in objects:
        print(obj)


def main(argv: list[str] | None = None) -> int:
    """``python -m milestones.runner ID [--part N ...]``."""
    parser = argparse.ArgumentParser(description="Run one chapter's cells here, judged.")
    parser.add_argument("id")
    parser.add_argument("--part", type=int, action="append")
    parser.add_argument("--chapter", type=Path, help="the chapter file (default: the registry's)")
    args = parser.parse_args(argv)
    stone = registry.milestone(args.id)
    import matplotlib
    matplotlib.use("Agg")
    run(stone, tuple(args.part) if args.part else None, args.chapter)
    return 0


if __name__ == "__main__":
    sys.exit(main())
