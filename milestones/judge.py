"""The judge: grades a chapter's results against the registry, independently of tinytorch.

Chapters hand the judge raw outputs (arrays or the reader's tensors); the judge recomputes
what it grades in NumPy (:mod:`milestones.measure`), shows a coloured line in the page,
records the result for the scoreboard and, under ``STRICT=1``, raises so the chapter stops.

Every part of a chapter ends in exactly one state per criterion (:mod:`milestones.status`):
met or missed; locked (a module it needs is not written); not implemented (the reader's
code raised ``NotImplementedError``); error (anything else the reader's code raised, named
by file and line); no data; not run (the chapter stopped earlier). Exceptions never escape
as crashes: in a notebook the judge installs itself as the kernel's exception handler, and
``tito`` runs chapters through :mod:`milestones.runner`, which calls the same handler.
"""

from __future__ import annotations

import ast
import html
import json
import os
import sys
from pathlib import Path

from milestones import measure, readiness, registry, status
from milestones.blame import blame
from milestones.registry import Criterion, Milestone, Part

MET, MISSED, LOCKED, NO_DATA = "met", "missed", "locked", "no data"
ERROR, NOT_IMPLEMENTED, NOT_RUN = "error", "not implemented", "not run"


class CriterionMissed(AssertionError):
    """Raised under STRICT=1 when a measured value misses its threshold: it stops the chapter."""

    def __init__(self, message: str, stone: Milestone, key: str):
        super().__init__(message)
        self.stone, self.key = stone, key


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


def _record(stone: Milestone, part: Part, criterion: Criterion, state: str, value, detail: str = "") -> None:
    entry = {
        "milestone": stone.id, "part": part.number, "criterion": criterion.key,
        "description": criterion.description, "requirement": criterion.requirement,
        "status": state, "value": None if value is None else _jsonable(value), "detail": detail,
    }
    records = load_records(stone)
    records[criterion.key] = entry
    _save_records(stone, records)
    _run.seen.add((stone.id, criterion.key))


def forget(stone: Milestone, parts: tuple[int, ...]) -> None:
    """Drop the records of these parts, so a run that crashes early cannot look passed."""
    records = {k: v for k, v in load_records(stone).items() if v["part"] not in parts}
    _save_records(stone, records)
    _run.seen -= {(stone.id, c.key) for p in stone.parts if p.number in parts for c in p.criteria}


def _jsonable(value):
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    return float(value)


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


# ---------------------------------------------------------------- display

def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    return bool(shell and shell.get_ipython() is not None and "ipykernel" in sys.modules)


def _show(state: str, text: str, folded: str = "") -> None:
    """Show a coloured box in a notebook (``folded`` text behind a disclosure), a plain line in a terminal."""
    look = status.of(state)
    plain = f"[{state.upper()}] {text}"
    if not _in_notebook():
        print(plain + (f"\n{folded}" if folded and os.environ.get("VERBOSE") else ""), flush=True)
        return
    from IPython.display import display
    details = (f'<details style="margin-top:4px"><summary>full traceback</summary>'
               f'<pre style="white-space:pre-wrap;font-size:85%">{html.escape(folded)}</pre></details>'
               if folded else "")
    block = (f'<div class="tinytorch-judge tinytorch-{look.css}" style="background:{look.background};'
             f'border-left:4px solid {look.colour};padding:6px 10px;margin:4px 0;color:{look.colour};'
             f'font-family:monospace;white-space:pre-wrap">{look.mark} {html.escape(text)}{details}</div>')
    display({"text/html": block, "text/plain": plain}, raw=True)


# ---------------------------------------------------------------- the run in progress

class _Run:
    """What this kernel (or tito run) is doing: the current part, what was checked, what to skip."""

    def __init__(self):
        self.stone: Milestone | None = None
        self.part: Part | None = None
        self.skip: str | None = None  # None, "part" (until the next begin) or "chapter"
        self.seen: set[tuple[str, str]] = set()
        self.begun: set[tuple[str, int]] = set()


_run = _Run()


def judge_calls(source: str) -> set[str]:
    """Names of the ``judge.<name>(...)`` calls in a cell's source (``begin``, ``check``, ``summary``...)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.func.attr for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "judge"}


def should_skip(source: str) -> bool:
    """Is this cell skipped? After a locked or failed part until the next ``begin``; after a
    strict miss, everything; ``judge.summary`` always runs."""
    if _run.skip is None:
        return False
    calls = judge_calls(source)
    if "summary" in calls:
        return False
    return not (_run.skip == "part" and "begin" in calls)


def _skip_cell(lines: list[str]) -> list[str]:
    """IPython input transformer: a skipped cell becomes ``pass``."""
    return ["pass\n"] if should_skip("".join(lines)) else lines


def _settle_part(state: str, detail: str) -> None:
    """Give every criterion of the current part not yet graded in this run the state ``state``."""
    stone, part = _run.stone, _run.part
    for criterion in part.criteria:
        if (stone.id, criterion.key) not in _run.seen:
            _record(stone, part, criterion, state, None, detail)


def _stop_chapter(stone: Milestone, key: str) -> None:
    """After a strict miss: every criterion not graded yet reads 'not run (chapter stopped at KEY)'."""
    for part in stone.parts:
        for criterion in part.criteria:
            if (stone.id, criterion.key) not in _run.seen:
                _record(stone, part, criterion, NOT_RUN, None, f"chapter stopped at {key}")
    _run.skip = "chapter"


def on_exception(exc: BaseException) -> None:
    """Turn an exception raised in a chapter cell into a verdict; the rest of its part is skipped.

    ``NotImplementedError`` from the reader's tinytorch reads *not implemented* (a stub to
    write, like locked); any other exception reads *error*, naming the reader's file and line;
    a strict miss stops the chapter.
    """
    if isinstance(exc, CriterionMissed):
        _stop_chapter(exc.stone, exc.key)
        return
    found = blame(exc)
    where = (f"Milestone {_run.stone.id} part {_run.part.number} ({_run.part.title})"
             if _run.part else "The chapter's set-up")
    if found.not_implemented:
        state, detail = NOT_IMPLEMENTED, found.stub()
        _show(NOT_IMPLEMENTED, f"{where}: not implemented yet: {detail}. "
              "Write it, and this part runs.")
    else:
        state, detail = ERROR, found.summary()
        _show(ERROR, f"{where} stopped: your code raised\n{found.kind}: {found.message}\n"
              f"at {found.where}" + (f", in {found.function}" if found.function else ""),
              folded=found.traceback)
    if _run.part is not None:
        _settle_part(state, detail)
        _run.skip = "part"
    else:
        _run.skip = "chapter"


def _custom_exception(shell, etype, value, tb, tb_offset=None):
    """IPython's custom exception handler: the judge's verdict replaces the raw traceback."""
    on_exception(value)
    return []


def _install_in_kernel() -> None:
    """In a notebook: skip cells of locked or failed parts, and judge every exception."""
    shell = sys.modules["IPython"].get_ipython()
    if _skip_cell not in shell.input_transformers_post:
        shell.input_transformers_post.append(_skip_cell)
    shell.set_custom_exc((Exception,), _custom_exception)


# ---------------------------------------------------------------- the chapter-facing API

def begin(milestone_id: str, part: int = 1, missing_data: str | None = None) -> None:
    """Start a part: if a module it needs is not ready (or its downloaded data is absent), say why
    and skip its cells.

    ``missing_data`` is the chapter's how-to-get-it text when a dataset that must be downloaded
    is absent (``None`` when it is there); such a part renders its instructions instead.
    """
    stone = registry.milestone(milestone_id)
    section = stone.part(part)
    forget(stone, (part,))
    _run.stone, _run.part, _run.skip = stone, section, None
    _run.begun.add((stone.id, part))
    found = readiness.states(section.modules)
    broken = [s for s in found.values() if s.status == readiness.BROKEN]
    unready = [s for s in found.values() if s.status in (readiness.ABSENT, readiness.INCOMPLETE)]
    title = f"Milestone {stone.id} part {part} ({section.title})"
    if broken:
        state, detail = ERROR, "; ".join(f"module {s.label}: {s.detail}" for s in broken)
        message = f"{title} cannot run: a module it needs raises when imported.\n" + "\n".join(
            f"module {s.label}: {s.detail}" for s in broken)
    elif unready:
        state, detail = LOCKED, "; ".join(f"{s.label}: {s.detail}" for s in unready)
        message = (f"{title} is locked: it needs modules {registry.module_range(section.modules)}.\n"
                   + "\n".join(f"{s.label}: {s.detail}" for s in unready))
    elif missing_data:
        state, detail = NO_DATA, "dataset not downloaded"
        message = f"{title} needs data that is not here yet.\n{missing_data}"
    else:
        return
    _settle_part(state, detail)
    _show(state, message)
    _run.skip = "part"


def _current() -> Milestone:
    """The milestone the chapter named in its last ``judge.begin(ID, part=N)``."""
    if _run.stone is None:
        raise RuntimeError("judge: call judge.begin(ID, part=N) before judge.check, so the judge knows the milestone")
    return _run.stone


def check(key: str, value, note: str = "") -> None:
    """Grade one measured value against its registry threshold; show, record, raise if strict."""
    stone = _current()
    part, criterion = stone.criterion(key)
    passed = criterion.passes(value)
    state = MET if passed else MISSED
    _record(stone, part, criterion, state, value, note)
    text = (f"Milestone {stone.id} part {part.number}: {criterion.description}: "
            f"{format_value(value)} (required {criterion.requirement}) {state}")
    _show(state, text + (f"\n{note}" if note else ""))
    if not passed and strict():
        raise CriterionMissed(
            f"{stone.chapter}: milestone {stone.id} ({stone.title}) part {part.number}, criterion "
            f"'{criterion.key}' missed: measured {format_value(value)}, required {criterion.requirement}",
            stone, criterion.key)


def check_backprop(key: str, model, loss_fn, inputs, targets) -> None:
    """Grade the reader's backward pass: every parameter's ``.grad`` against float64 finite
    differences of the reader's own loss on this batch (see :func:`milestones.measure.backprop_error`)."""
    report = measure.backprop_error(model, loss_fn, inputs, targets)
    check(key, report.error,
          note=f"worst parameter: {report.parameter}; {report.checks} directional checks in {report.dtype}")


def summary() -> None:
    """Show every criterion of the parts this run began (all parts if none) with its latest result."""
    if _run.stone is None:
        _show(NOT_RUN, "No part of this chapter began: nothing to summarise.")
        return
    stone = _run.stone
    records = load_records(stone)
    begun = [part for part in stone.parts if (stone.id, part.number) in _run.begun
             or any((stone.id, c.key) in _run.seen for c in part.criteria)]
    for part in begun or stone.parts:
        for criterion in part.criteria:
            entry = records.get(criterion.key)
            state = entry["status"] if entry else NOT_RUN
            value = entry["value"] if entry else None
            detail = (entry or {}).get("detail") or ("" if entry else "never checked")
            _show(state, f"part {part.number} {criterion.key}: {format_value(value)} "
                         f"(required {criterion.requirement}) {state}" + (f": {detail}" if detail else ""))


if _in_notebook():
    _install_in_kernel()
