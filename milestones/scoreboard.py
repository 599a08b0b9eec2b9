"""The scoreboard: every criterion of every milestone with its latest recorded result.

Built from the registry and the judge's records; the book's results page, the end-of-build
printout, the strict verdict and ``tito milestone list`` all read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from milestones import judge, registry, status
from milestones.registry import Milestone

NOT_RUN, NOT_WRITTEN = status.NOT_RUN.name, status.NOT_WRITTEN.name
ANSI_COLOURS = {s.name: s.ansi for s in status.ALL}


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
    detail: str = ""

    @property
    def name(self) -> str:
        """``01 Perceptron``."""
        return f"{self.milestone} {self.title}"


def rows(milestones: tuple[Milestone, ...] = registry.ALL_MILESTONES) -> list[Row]:
    """Every criterion's row, in registry order."""
    table = []
    for stone in milestones:
        written = stone.chapter_path.exists()
        records = judge.load_records(stone) if written else {}
        for part in stone.parts:
            for criterion in part.criteria:
                entry = records.get(criterion.key)
                state = entry["status"] if entry else (NOT_RUN if written else NOT_WRITTEN)
                value = judge.format_value(entry["value"]) if entry else "-"
                detail = entry.get("detail", "") if entry else ("never checked" if written else "")
                table.append(Row(stone.id, stone.title, stone.year, part.number, criterion.key,
                                 criterion.description, criterion.requirement, value, state,
                                 stone.chapter, detail or ""))
    return table


def failures(table: list[Row]) -> list[Row]:
    """Rows that fail a strict build: missed, error, or never checked. A criterion 'not run'
    because an earlier miss stopped its chapter is counted with that miss, not again."""
    return [row for row in table if status.of(row.status).fails_strict
            and not (row.status == NOT_RUN and row.detail.startswith("chapter stopped at"))]


def problem_lines(failed: list[Row]) -> list[str]:
    """The strict verdict, one line per problem: a missed criterion, a part in error (its criteria
    listed once), a criterion its chapter never reached."""
    lines, errors = [], {}
    for row in failed:
        where = f"{row.chapter}: milestone {row.milestone} ({row.title}) part {row.part}"
        if row.status == status.ERROR.name:
            errors.setdefault((where, row.detail), []).append(row.criterion)
        elif row.status == NOT_RUN:
            lines.append(f"{where}, criterion '{row.criterion}' never checked: the chapter did not reach it")
        else:
            lines.append(f"{where}, criterion '{row.criterion}' {row.status}: measured {row.value}, "
                         f"required {row.requirement}")
    lines += [f"{where}, error: {detail} (not graded: {', '.join(keys)})" for (where, detail), keys in errors.items()]
    return lines


def render_text(table: list[Row], colour: bool = False) -> str:
    """The scoreboard as a fixed-width terminal table (ANSI colours optional)."""
    name_width = max(len(row.name) for row in table)
    header = (f"{'milestone':<{name_width}} {'part':>4}  {'criterion':<28} {'value':>10}  "
              f"{'required':<10} status")
    lines = ["Scoreboard", header, "-" * len(header)]
    for row in table:
        state = row.status
        if colour:
            state = f"\033[{ANSI_COLOURS[row.status]}m{state}\033[0m"
        line = (f"{row.name:<{name_width}} {row.part:>4}  {row.criterion:<28} {row.value:>10}  "
                f"{row.requirement:<10} {state}")
        if row.detail and row.status not in (status.MET.name, status.MISSED.name):
            line += f": {row.detail}"
        lines.append(line)
    counts = {s.name: sum(r.status == s.name for r in table) for s in status.ALL}
    lines.append("-" * len(header))
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return "\n".join(lines)
