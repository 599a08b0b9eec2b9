"""The judge's records: one JSON file per milestone, one entry per criterion, in the results folder.

The judge writes them while a chapter runs; the scoreboard, the results page, the strict verdict,
``tito`` and ``tito grade`` read them. The folder is keyed by the fingerprint of the code that ran
(:func:`milestones.settings.fingerprint`), so a record always belongs to the code that earned it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from milestones import settings, status
from milestones.registry import Criterion, Milestone, Part
from milestones.status import Status


@dataclass(frozen=True)
class Record:
    """One criterion's latest result."""

    milestone: str
    part: int
    criterion: str
    description: str
    requirement: str
    status: Status
    value: float | bool | None
    detail: str = ""

    @property
    def shown_value(self) -> str:
        """The value as the scoreboard prints it."""
        return format_value(self.value)

    def to_json(self) -> dict:
        return {"milestone": self.milestone, "part": self.part, "criterion": self.criterion,
                "description": self.description, "requirement": self.requirement,
                "status": self.status.name, "value": self.value, "detail": self.detail}

    @classmethod
    def from_json(cls, entry: dict) -> "Record":
        return cls(entry["milestone"], entry["part"], entry["criterion"], entry["description"],
                   entry["requirement"], status.of(entry["status"]), entry["value"], entry.get("detail") or "")


def format_value(value) -> str:
    """A measured value as the scoreboard prints it."""
    if value is None:
        return "-"
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return str(bool(value))
    value = float(value)
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.3g}"
    return f"{value:.4g}"


def _jsonable(value):
    if value is None:
        return None
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    return float(value)


def _file(stone: Milestone, folder: Path | None = None) -> Path:
    return (folder or settings.results_dir()) / f"{stone.id}.json"


def load(stone: Milestone, folder: Path | None = None) -> dict[str, Record]:
    """The recorded results of one milestone, keyed by criterion (from ``folder`` or the results folder)."""
    path = _file(stone, folder)
    if not path.exists():
        return {}
    return {key: Record.from_json(entry) for key, entry in json.loads(path.read_text()).items()}


def _save(stone: Milestone, found: dict[str, Record]) -> None:
    path = _file(stone)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({k: r.to_json() for k, r in found.items()}, indent=1, sort_keys=True))
    tmp.replace(path)


def write(stone: Milestone, part: Part, criterion: Criterion, state: Status, value=None, detail: str = "") -> Record:
    """Record one criterion's result (replacing the previous one)."""
    record = Record(stone.id, part.number, criterion.key, criterion.description, criterion.requirement,
                    state, _jsonable(value), detail)
    found = load(stone)
    found[criterion.key] = record
    _save(stone, found)
    return record


def forget(stone: Milestone, parts: tuple[int, ...]) -> None:
    """Drop the records of these parts, so a run that stops early cannot look passed."""
    _save(stone, {k: r for k, r in load(stone).items() if r.part not in parts})
