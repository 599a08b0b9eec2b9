"""The judge: grades a chapter's results against the registry, independently of tinytorch.

Chapters hand the judge raw outputs (arrays or the reader's tensors); the judge recomputes
what it grades in NumPy, shows a pass/fail line in the page, records the result for the
scoreboard and, under ``STRICT=1``, raises so the build fails naming chapter and criterion.
"""

from __future__ import annotations

import html
import json
import os
import sys
from pathlib import Path

import numpy as np

from milestones import registry
from milestones.registry import Criterion, Milestone, Part

MET, MISSED, LOCKED, NO_DATA = "met", "missed", "locked", "no data"


class CriterionMissed(AssertionError):
    """Raised under STRICT=1 when a measured value misses its threshold."""


class PartLocked(RuntimeError):
    """Raised outside a notebook when a part needs modules the reader has not built yet."""


# ---------------------------------------------------------------- measurements (NumPy only)

def as_array(value) -> np.ndarray:
    """The raw numbers behind a tensor or array, as a float64 NumPy array."""
    return np.asarray(getattr(value, "data", value), dtype=np.float64)


def predictions(outputs) -> np.ndarray:
    """Class predictions: argmax over logits (N, C), or a 0.5 threshold on probabilities (N,)/(N, 1)."""
    scores = as_array(outputs)
    if scores.ndim == 2 and scores.shape[1] > 1:
        return scores.argmax(axis=1)
    return (scores.reshape(-1) > 0.5).astype(np.int64)


def accuracy(outputs, labels) -> float:
    """Fraction of predictions equal to the labels, recomputed from the model's raw outputs."""
    preds = predictions(outputs)
    truth = np.asarray(getattr(labels, "data", labels)).reshape(-1).astype(np.int64)
    if preds.shape != truth.shape:
        raise ValueError(f"judge.accuracy: {preds.shape[0]} predictions for {truth.shape[0]} labels")
    if truth.size == 0:
        raise ValueError("judge.accuracy: no examples to grade")
    return float((preds == truth).mean())


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function in float64."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    positive = z >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-z[positive]))
    exp_z = np.exp(z[~positive])
    out[~positive] = exp_z / (1.0 + exp_z)
    return out


def binary_cross_entropy(probabilities, targets) -> float:
    """Mean binary cross-entropy of probabilities against 0/1 targets (log clamped at -100, as torch)."""
    p = as_array(probabilities).reshape(-1)
    y = as_array(targets).reshape(-1)
    log_p = np.maximum(np.log(np.where(p > 0, p, 1.0)), -100.0)
    log_p = np.where(p > 0, log_p, -100.0)
    log_q = np.maximum(np.log(np.where(p < 1, 1 - p, 1.0)), -100.0)
    log_q = np.where(p < 1, log_q, -100.0)
    return float(-(y * log_p + (1 - y) * log_q).mean())


def mse(predicted, targets) -> float:
    """Mean squared error in float64."""
    return float(((as_array(predicted) - as_array(targets)) ** 2).mean())


# ---------------------------------------------------------------- records

def results_dir() -> Path:
    """Where criterion records go: ``$TINYTORCH_RESULTS_DIR`` or ``_build/results`` in the book."""
    default = registry.BOOK_ROOT / "_build" / "results"
    return Path(os.environ.get("TINYTORCH_RESULTS_DIR", default))


def strict() -> bool:
    """Is this a strict run (``STRICT=1``), where a missed criterion must fail the build?"""
    return os.environ.get("STRICT", "0").lower() not in ("", "0", "false", "no")


def _records_file(stone: Milestone) -> Path:
    return results_dir() / f"{stone.id}.json"


def load_records(stone: Milestone) -> dict[str, dict]:
    """The recorded results of one milestone, keyed by criterion."""
    path = _records_file(stone)
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def _save_records(stone: Milestone, records: dict[str, dict]) -> None:
    path = _records_file(stone)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(records, indent=1, sort_keys=True))
    tmp.replace(path)


def _record(stone: Milestone, part: Part, criterion: Criterion, status: str, value) -> None:
    entry = {
        "milestone": stone.id, "part": part.number, "criterion": criterion.key,
        "description": criterion.description, "requirement": criterion.requirement,
        "status": status, "value": None if value is None else _jsonable(value),
    }
    records = load_records(stone)
    records[criterion.key] = entry
    _save_records(stone, records)


def forget(stone: Milestone, parts: tuple[int, ...]) -> None:
    """Drop the records of these parts, so a run that crashes early cannot look passed."""
    records = {k: v for k, v in load_records(stone).items() if v["part"] not in parts}
    _save_records(stone, records)


def _jsonable(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return float(value)


def format_value(value) -> str:
    """A measured value as the scoreboard prints it."""
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    value = float(value)
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.3g}"
    return f"{value:.4g}"


# ---------------------------------------------------------------- display

_COLOURS = {MET: ("#e6f4ea", "#1e7d32", "\u2714"), MISSED: ("#fdecea", "#b3261e", "\u2718"),
            LOCKED: ("#f1f3f4", "#5f6368", "\U0001F512"), NO_DATA: ("#fef7e0", "#8a5a00", "\u2139")}


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    return bool(shell and shell.get_ipython() is not None and "ipykernel" in sys.modules)


def _show(status: str, text: str) -> None:
    """Show a coloured line in a notebook, a plain line in a terminal."""
    background, colour, mark = _COLOURS[status]
    plain = f"[{status.upper()}] {text}"
    if not _in_notebook():
        print(plain, flush=True)
        return
    from IPython.display import display
    block = (f'<div class="tinytorch-judge tinytorch-{status.replace(" ", "-")}" style="background:{background};'
             f'border-left:4px solid {colour};padding:6px 10px;margin:4px 0;color:{colour};'
             f'font-family:monospace;white-space:pre-wrap">{mark} {html.escape(text)}</div>')
    display({"text/html": block, "text/plain": plain}, raw=True)


# ---------------------------------------------------------------- the chapter-facing API

def check(milestone_id: str, key: str, value) -> None:
    """Grade one measured value against its registry threshold; show, record, raise if strict."""
    stone = registry.milestone(milestone_id)
    part, criterion = stone.criterion(key)
    passed = criterion.passes(value)
    status = MET if passed else MISSED
    _record(stone, part, criterion, status, value)
    text = (f"Milestone {stone.id} part {part.number}: {criterion.description}: "
            f"{format_value(value)} (required {criterion.requirement}) {status}")
    _show(status, text)
    if not passed and strict():
        raise CriterionMissed(
            f"{stone.chapter}: milestone {stone.id} ({stone.title}) part {part.number}, criterion "
            f"'{criterion.key}' missed: measured {format_value(value)}, required {criterion.requirement}")


def begin(milestone_id: str, part: int = 1, missing_data: str | None = None) -> None:
    """Start a part: if its modules (or its downloaded data) are missing, say so and skip its cells.

    ``missing_data`` is the chapter's how-to-get-it text when a dataset that must be downloaded
    is absent (``None`` when it is there); such a part renders its instructions instead of failing.
    """
    stone = registry.milestone(milestone_id)
    section = stone.part(part)
    forget(stone, (part,))
    _stop_skipping()
    missing = registry.missing_modules(section.modules)
    if missing:
        names = ", ".join(registry.module(n).label for n in missing)
        status, message = LOCKED, (
            f"Milestone {stone.id} part {part} ({section.title}) is locked: it needs modules "
            f"{registry.module_range(section.modules)}; not built yet: {names}.")
    elif missing_data:
        status, message = NO_DATA, (
            f"Milestone {stone.id} part {part} ({section.title}) needs data that is not here yet.\n"
            f"{missing_data}")
    else:
        return
    for criterion in section.criteria:
        _record(stone, section, criterion, status, None)
    _show(status, message)
    if not _in_notebook():
        raise PartLocked(message)
    _start_skipping()


def summary(milestone_id: str) -> None:
    """Show every criterion of a milestone with its latest recorded result."""
    stone = registry.milestone(milestone_id)
    records = load_records(stone)
    for part in stone.parts:
        for criterion in part.criteria:
            entry = records.get(criterion.key)
            status = entry["status"] if entry else MISSED
            value = entry["value"] if entry else None
            note = "" if entry else " (never checked)"
            _show(status, f"part {part.number} {criterion.key}: {format_value(value)} "
                          f"(required {criterion.requirement}) {status}{note}")


# ---------------------------------------------------------------- skipping locked cells

def _skip_locked_cell(lines: list[str]) -> list[str]:
    """IPython input transformer: a locked part's cells become no-ops until the next ``begin``."""
    if any("begin(" in line for line in lines):
        return lines
    return ["pass\n"]


def _start_skipping() -> None:
    shell = sys.modules["IPython"].get_ipython()
    if _skip_locked_cell not in shell.input_transformers_post:
        shell.input_transformers_post.append(_skip_locked_cell)


def _stop_skipping() -> None:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    if shell is not None and _skip_locked_cell in shell.input_transformers_post:
        shell.input_transformers_post.remove(_skip_locked_cell)
