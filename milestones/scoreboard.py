"""The scoreboard: every criterion of every milestone with its latest recorded result.

Built from the registry and the judge's records; the book's results page, the end-of-build
printout, the strict verdict and ``tito milestone list`` all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from milestones import records, registry, status
from milestones.registry import Milestone
from milestones.status import Status


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
    status: Status
    chapter: str
    detail: str = ""

    @property
    def name(self) -> str:
        """``01 Perceptron``."""
        return f"{self.milestone} {self.title}"


def rows(milestones: tuple[Milestone, ...] = registry.ALL_MILESTONES, folder: Path | None = None) -> list[Row]:
    """Every criterion's row, in registry order (records from ``folder`` or the results folder)."""
    table = []
    for stone in milestones:
        written = stone.chapter_path.exists()
        found = records.load(stone, folder) if written else {}
        for part in stone.parts:
            for criterion in part.criteria:
                record = found.get(criterion.key)
                if record:
                    state, value, detail = record.status, record.shown_value, record.detail
                elif written:
                    state, value, detail = status.NOT_RUN, "-", "never checked"
                else:
                    state, value, detail = status.NOT_WRITTEN, "-", stone.chapter
                table.append(Row(stone.id, stone.title, stone.year, part.number, criterion.key,
                                 criterion.description, criterion.requirement, value, state,
                                 stone.chapter, detail))
    return table


COUNTED_WITH_ANOTHER = ("chapter stopped at", "not measured:")  # details of a 'not run' caused by a miss


def failures(table: list[Row]) -> list[Row]:
    """Rows that fail a strict build: missed, error, or never checked. A criterion 'not run'
    because an earlier miss stopped its chapter, or because a criterion it requires was not
    met, is counted with that miss, not again."""
    return [row for row in table if row.status.fails_strict
            and not (row.status is status.NOT_RUN and row.detail.startswith(COUNTED_WITH_ANOTHER))]


def problem_lines(failed: list[Row]) -> list[str]:
    """The strict verdict, one line per problem: a missed criterion, a part in error (its criteria
    listed once), a criterion its chapter never reached."""
    lines, errors = [], {}
    for row in failed:
        where = f"{row.chapter}: milestone {row.milestone} ({row.title}) part {row.part}"
        if row.status is status.ERROR:
            errors.setdefault((where, row.detail), []).append(row.criterion)
        elif row.status is status.NOT_RUN:
            lines.append(f"{where}, criterion '{row.criterion}' never checked: the chapter did not reach it")
        else:
            lines.append(f"{where}, criterion '{row.criterion}' {row.status.name}: measured {row.value}, "
                         f"required {row.requirement}")
    lines += [f"{where}, error: {detail} (not graded: {', '.join(keys)})" for (where, detail), keys in errors.items()]
    return lines


def paint(text: str, state: Status, colour: bool) -> str:
    """``text`` in the state's terminal colour (plain when ``colour`` is False)."""
    return f"\033[{state.ansi}m{text}\033[0m" if colour else text


def render_text(table: list[Row], colour: bool = False) -> str:
    """The scoreboard as a fixed-width terminal table (ANSI colours optional)."""
    name_width = max(len(row.name) for row in table)
    header = (f"{'milestone':<{name_width}} {'part':>4}  {'criterion':<28} {'value':>10}  "
              f"{'required':<10} status")
    lines = ["Scoreboard", header, "-" * len(header)]
    for row in table:
        line = (f"{row.name:<{name_width}} {row.part:>4}  {row.criterion:<28} {row.value:>10}  "
                f"{row.requirement:<10} {paint(row.status.name, row.status, colour)}")
        if row.detail and row.status not in (status.MET, status.MISSED):
            line += f": {row.detail}"
        lines.append(line)
    counts = {s.name: sum(r.status is s for r in table) for s in status.CRITERION_STATES}
    lines.append("-" * len(header))
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return "\n".join(lines)
