"""The scoreboard: every criterion of every milestone with its latest recorded result.

Built from the registry and the judge's records; the book's results page, the end-of-build
printout and ``tito milestone list`` all read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from milestones import judge, registry
from milestones.registry import Milestone

NOT_RUN, NOT_WRITTEN = "not run", "not written"
ANSI_COLOURS = {judge.MET: "32", judge.MISSED: "31", NOT_RUN: "31", judge.LOCKED: "90",
                judge.NO_DATA: "33", NOT_WRITTEN: "90"}  # every status a criterion can have


@dataclass(frozen=True)
class Row:
    """One criterion's line on the scoreboard."""

    milestone: str
    title: str
    year: int
    part: int
    criterion: str
    description: str
    requirement: str
    value: str
    status: str
    chapter: str


def rows(milestones: tuple[Milestone, ...] = registry.ALL_MILESTONES) -> list[Row]:
    """Every criterion's row, in registry order."""
    table = []
    for stone in milestones:
        written = stone.chapter_path.exists()
        records = judge.load_records(stone) if written else {}
        for part in stone.parts:
            for criterion in part.criteria:
                entry = records.get(criterion.key)
                status = entry["status"] if entry else (NOT_RUN if written else NOT_WRITTEN)
                value = judge.format_value(entry["value"]) if entry else "-"
                table.append(Row(stone.id, stone.title, stone.year, part.number, criterion.key,
                                 criterion.description, criterion.requirement, value, status,
                                 stone.chapter))
    return table


def failures(table: list[Row]) -> list[Row]:
    """Rows that must fail a strict build: a missed criterion, or one a written chapter never checked."""
    return [row for row in table if row.status in (judge.MISSED, NOT_RUN)]


def render_text(table: list[Row], colour: bool = False) -> str:
    """The scoreboard as a fixed-width terminal table (ANSI colours optional)."""
    header = f"{'milestone':<24} {'part':>4}  {'criterion':<28} {'value':>10}  {'required':<10} status"
    lines = ["Scoreboard", header, "-" * len(header)]
    for row in table:
        name = f"{row.milestone} {row.title}"[:24]
        status = row.status
        if colour:
            status = f"\033[{ANSI_COLOURS[row.status]}m{status}\033[0m"
        lines.append(f"{name:<24} {row.part:>4}  {row.criterion:<28} {row.value:>10}  "
                     f"{row.requirement:<10} {status}")
    counts = {s: sum(r.status == s for r in table) for s in ANSI_COLOURS}
    lines.append("-" * len(header))
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return "\n".join(lines)
