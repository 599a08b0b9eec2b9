"""The judge: grades a chapter's results against the registry, independently of tinytorch.

How a verdict travels from a chapter cell to the page, the scoreboard and the exit code:

1. ``judge.begin(ID, part=N)`` names the milestone and part (:mod:`registry`); :mod:`readiness`
   says whether the reader's modules can run it; if not, its criteria are recorded *locked* or
   *error* at once and :func:`should_skip` turns the part's remaining cells into no-ops.
2. ``judge.check(key, value)`` compares the measured value with the registry's threshold, shows a
   coloured box in the page (:mod:`status`) and writes a record (:mod:`records`) into the results
   folder that :mod:`settings` names: one folder per fingerprint of the code that ran.
3. An exception in a cell (a strict miss, ``CriterionMissed``, included) reaches :func:`on_exception`
   (in a kernel through :mod:`kernel`, installed by the start-up profile :mod:`book` writes; in
   ``tito`` through :mod:`runner`): it records *error*, *not implemented* or *not run* and skips on.
4. :mod:`scoreboard` reads the records for the results page and the printed table, and
   :mod:`sphinxext` fails a strict build, one line per problem, with a non-zero exit code.

What the judge grades is recomputed in NumPy (:mod:`measure`, :mod:`measure_language`,
:mod:`measure_perf`) from the reader's raw outputs; exceptions never escape as crashes.
"""

from __future__ import annotations

import html
import sys

from milestones import measure, readiness, records, registry, settings, status
from milestones.blame import blame
from milestones.cells import judge_calls
from milestones.registry import Milestone, Part
from milestones.status import Status


class CriterionMissed(AssertionError):
    """Raised under STRICT=1 when a measured value misses its threshold: it stops the chapter."""

    def __init__(self, message: str, stone: Milestone, key: str):
        super().__init__(message)
        self.stone, self.key = stone, key


# ---------------------------------------------------------------- display

def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    return bool(shell and shell.get_ipython() is not None and "ipykernel" in sys.modules)


def _show(state: Status, text: str, folded: str = "") -> None:
    """Show a coloured box in a notebook (``folded`` text behind a disclosure), a plain line in a terminal."""
    plain = f"[{state.name.upper()}] {text}"
    if not _in_notebook():
        print(plain + (f"\n{folded}" if folded and settings.verbose() else ""), flush=True)
        return
    from IPython.display import display
    details = (f'<details style="margin-top:4px"><summary>full traceback</summary>'
               f'<pre style="white-space:pre-wrap;font-size:85%">{html.escape(folded)}</pre></details>'
               if folded else "")
    block = (f'<div class="tinytorch-judge tinytorch-{state.css}" style="background:{state.background};'
             f'border-left:4px solid {state.colour};padding:6px 10px;margin:4px 0;color:{state.colour};'
             f'font-family:monospace;white-space:pre-wrap">{state.mark} {html.escape(text)}{details}</div>')
    display({"text/html": block, "text/plain": plain}, raw=True)


# ---------------------------------------------------------------- the run in progress

class _Run:
    """What this kernel (or tito run) is doing: the current part, what was graded, what to skip."""

    def __init__(self):
        self.stone: Milestone | None = None
        self.part: Part | None = None
        self.skip: str | None = None  # None, "part" (until the next begin) or "chapter"
        self.graded: dict[tuple[str, str], Status] = {}  # (milestone, criterion) -> state, in this run
        self.begun: set[tuple[str, int]] = set()


_run = _Run()


def _record(stone: Milestone, part: Part, key: str, state: Status, value=None, detail: str = "") -> None:
    records.write(stone, part, stone.criterion(key)[1], state, value, detail)
    _run.graded[(stone.id, key)] = state


def should_skip(source: str) -> bool:
    """Is this cell skipped? After a locked or failed part until the next ``begin``; after a
    strict miss, everything; ``judge.summary`` always runs."""
    if _run.skip is None:
        return False
    calls = judge_calls(source)
    if "summary" in calls:
        return False
    return not (_run.skip == "part" and "begin" in calls)


def _settle_part(state: Status, detail: str) -> None:
    """Give every criterion of the current part not yet graded in this run the state ``state``."""
    stone, part = _run.stone, _run.part
    for criterion in part.criteria:
        if (stone.id, criterion.key) not in _run.graded:
            _record(stone, part, criterion.key, state, None, detail)


def _stop_chapter(stone: Milestone, key: str) -> None:
    """After a strict miss: every criterion not graded yet reads 'not run (chapter stopped at KEY)'."""
    for part in stone.parts:
        for criterion in part.criteria:
            if (stone.id, criterion.key) not in _run.graded:
                _record(stone, part, criterion.key, status.NOT_RUN, None, f"chapter stopped at {key}")
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
        state, detail = status.NOT_IMPLEMENTED, found.stub()
        _show(state, f"{where}: not implemented yet: {detail}. Write it, and this part runs.")
    else:
        state, detail = status.ERROR, found.summary()
        _show(state, f"{where} stopped: your code raised\n{found.kind}: {found.message}\n"
              f"at {found.where}" + (f", in {found.function}" if found.function else ""),
              folded=found.traceback)
    if _run.part is not None:
        _settle_part(state, detail)
        _run.skip = "part"
    else:
        _run.skip = "chapter"


# ---------------------------------------------------------------- the chapter-facing API

def begin(milestone_id: str, part: int = 1, missing_data: str | None = None) -> None:
    """Start a part: if a module it needs cannot run it (or its downloaded data is absent), say why
    and skip its cells.

    ``missing_data`` is the chapter's how-to-get-it text when a dataset that must be downloaded
    is absent (``None`` when it is there); such a part renders its instructions instead.
    """
    stone = registry.milestone(milestone_id)
    section = stone.part(part)
    records.forget(stone, (part,))
    _run.stone, _run.part, _run.skip = stone, section, None
    _run.begun.add((stone.id, part))
    found = readiness.states(section.modules).values()
    broken = [s for s in found if s.status is status.ERROR]
    unready = [s for s in found if not s.runnable and s.status is not status.ERROR]
    title = f"Milestone {stone.id} part {part} ({section.title})"
    if broken:
        state, detail = status.ERROR, "; ".join(f"module {s.label}: {s.detail}" for s in broken)
        message = f"{title} cannot run: a module it needs raises when imported.\n" + "\n".join(
            f"module {s.label}: {s.detail}" for s in broken)
    elif unready:
        state = status.LOCKED
        detail = "needs " + "; ".join(f"{s.label}: {s.text()}" for s in unready)
        message = (f"{title} is locked: it needs modules {registry.module_range(section.modules)}.\n"
                   + "\n".join(f"{s.label}: {s.text()}" for s in unready))
    elif missing_data:
        state, detail = status.NO_DATA, "dataset not downloaded"
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


def _invalidated(stone: Milestone, key: str) -> str | None:
    """Why ``key``'s measurement means nothing (a criterion it requires is not met), or None."""
    for required in stone.criterion(key)[1].requires:
        state = _run.graded.get((stone.id, required))
        if state is None:
            raise RuntimeError(f"judge: {stone.chapter} checks {key!r} before {required!r}, which it requires; "
                               f"check {required!r} first")
        if state is not status.MET:
            return f"not measured: {required} is {state.name}"
    return None


def check(key: str, value, note: str = "") -> None:
    """Grade one measured value against its registry threshold; show, record, raise if strict.

    A value whose required criteria (``Criterion.requires``) are not met is not graded: it
    reads *not run* with the reason.
    """
    stone = _current()
    part, criterion = stone.criterion(key)
    reason = _invalidated(stone, key)
    if reason:
        _record(stone, part, key, status.NOT_RUN, None, reason)
        _show(status.NOT_RUN, f"Milestone {stone.id} part {part.number}: {criterion.description}: {reason}")
        return
    state = status.MET if criterion.passes(value) else status.MISSED
    _record(stone, part, key, state, value, note)
    text = (f"Milestone {stone.id} part {part.number}: {criterion.description}: "
            f"{records.format_value(value)} (required {criterion.requirement}) {state.name}")
    _show(state, text + (f"\n{note}" if note else ""))
    if state is status.MISSED and settings.strict():
        raise CriterionMissed(
            f"{stone.chapter}: milestone {stone.id} ({stone.title}) part {part.number}, criterion "
            f"'{criterion.key}' missed: measured {records.format_value(value)}, required {criterion.requirement}",
            stone, criterion.key)


def check_backprop(key: str, model, loss_fn, inputs, targets, directions: int = 3) -> None:
    """Grade the reader's backward pass: every parameter's ``.grad`` against float64 finite
    differences of the reader's own loss on this batch (see :func:`milestones.measure.backprop_error`)."""
    report = measure.backprop_error(model, loss_fn, inputs, targets, directions=directions)
    check(key, report.error,
          note=f"worst parameter: {report.parameter}; {report.checks} directional checks in {report.dtype}")


def summary() -> None:
    """Show every criterion of the parts this run began (all parts if none) with its latest result."""
    if _run.stone is None:
        _show(status.NOT_RUN, "No part of this chapter began: nothing to summarise.")
        return
    stone = _run.stone
    found = records.load(stone)
    begun = [part for part in stone.parts if (stone.id, part.number) in _run.begun
             or any((stone.id, c.key) in _run.graded for c in part.criteria)]
    for part in begun or stone.parts:
        for criterion in part.criteria:
            record = found.get(criterion.key)
            state = record.status if record else status.NOT_RUN
            detail = record.detail if record else "never checked"
            value = records.format_value(record.value if record else None)
            _show(state, f"part {part.number} {criterion.key}: {value} (required {criterion.requirement}) "
                         f"{state.name}" + (f": {detail}" if detail else ""))
