"""Is a module of the reader's tinytorch written? Importable, exporting its key names, stubs left?

One state per module (:mod:`milestones.status`), each with the line a reader needs:

- ``not written``: its file is absent, or lacks key names (listed);
- ``locked``: it imports an earlier module whose file is not written yet (write that first);
- ``error``: the file exists but importing it raises (the file and line that raised are named);
- ``stubs left``: it imports, but ``n of m`` of its functions still raise ``tito init``'s stub;
- ``written``: it imports and every function is written (its tests say whether it is right).

This imports the reader's code, so it runs where that is safe: in a chapter's kernel, in
``tito``'s child processes, and (via :func:`probe`) in a child process for the Sphinx build.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from milestones import registry, settings, skeleton, status
from milestones.blame import blame
from milestones.status import Status

STUB_MARK = 'raise NotImplementedError("module '  # what ``tito init`` writes in every body


@dataclass(frozen=True)
class ModuleState:
    """One module's state and the line that explains it."""

    number: int
    status: Status
    detail: str = ""
    stubs: int = 0  # bodies still raising a ``tito init`` NotImplementedError in the module's files
    where: str = ""  # for an error: the exception and the file and line, short ("SyntaxError in ... line 3")

    @property
    def label(self) -> str:
        return registry.module(self.number).label

    @property
    def runnable(self) -> bool:
        """Can a part that needs this module run (it imports and has its names)?"""
        return self.status in (status.STUBS_LEFT, status.WRITTEN)

    def text(self) -> str:
        """``stubs left: 12 of 14``, ``error (SyntaxError: ... (tinytorch/core/losses.py line 3))``."""
        return self.status.label(self.detail)

    def to_json(self) -> dict:
        return {"number": self.number, "status": self.status.name, "detail": self.detail, "stubs": self.stubs,
                "where": self.where}

    @classmethod
    def from_json(cls, entry: dict) -> "ModuleState":
        return cls(entry["number"], status.of(entry["status"]), entry["detail"], entry["stubs"], entry["where"])


def _package_folder() -> Path | None:
    """The reader's tinytorch folder without importing tinytorch (its __init__ may be broken)."""
    spec = importlib.util.find_spec("tinytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).resolve().parent


def _earlier_module_not_written(exc: ModuleNotFoundError, mod: registry.Module, root: Path):
    """The earlier registry module whose absent file made this import fail, if that is what happened."""
    for other in registry.MODULES:
        if other.import_path == exc.name and other.number < mod.number and not (root / other.main_file).exists():
            return other
    return None


@functools.lru_cache(maxsize=None)
def _functions_to_write(number: int) -> int:
    """How many functions module ``number`` asks of the reader: the stubs ``tito init`` writes for it."""
    return sum(skeleton.stub_count((registry.BOOK_ROOT / path).read_text()) for path in registry.module(number).files
               if path not in registry.SCAFFOLDING and (registry.BOOK_ROOT / path).exists())


def _stubs_left(mod: registry.Module, root: Path) -> tuple[int, int]:
    """(stubs still in the reader's files of ``mod``, functions the module has to write in all)."""
    left = sum((root / path).read_text().count(STUB_MARK) for path in mod.files if (root / path).exists())
    return left, (max(_functions_to_write(mod.number), left) if left else 0)


def _error(number: int, exc: BaseException, root: Path) -> ModuleState:
    found = blame(exc, root)
    return ModuleState(number, status.ERROR, found.summary(), where=f"{found.kind} in {found.where}")


def module_state(number: int) -> ModuleState:
    """Import module ``number`` of the tinytorch on ``sys.path`` and say what state it is in."""
    mod = registry.module(number)
    root = _package_folder()
    if root is None:
        return ModuleState(number, status.NOT_WRITTEN, "no tinytorch package found")
    if not (root / mod.main_file).exists():
        return ModuleState(number, status.NOT_WRITTEN, mod.main_file)
    try:
        imported = importlib.import_module(mod.import_path)
    except ModuleNotFoundError as exc:
        earlier = _earlier_module_not_written(exc, mod, root)
        if earlier is not None:  # it imports an earlier module the reader has not written: write that first
            return ModuleState(number, status.LOCKED, f"needs {earlier.number:02d}, {earlier.main_file} not written")
        return _error(number, exc, root)
    except Exception as exc:  # written but raising on import (a later or unknown file included): an error
        return _error(number, exc, root)
    lacking = [name for name in mod.names if not hasattr(imported, name)]
    if lacking:
        return ModuleState(number, status.NOT_WRITTEN, f"{mod.import_path} has no {', '.join(lacking)}")
    left, total = _stubs_left(mod, root)
    if left:
        return ModuleState(number, status.STUBS_LEFT, f"{left} of {total}", left)
    return ModuleState(number, status.WRITTEN)


def states(numbers=None) -> dict[int, ModuleState]:
    """The state of every module (or of ``numbers``), in this process."""
    numbers = [m.number for m in registry.MODULES] if numbers is None else numbers
    return {n: module_state(n) for n in numbers}


# ---------------------------------------------------------------- in a child process

_PROBE = "import json; from milestones import readiness; print(readiness.report_json())"


def report_json() -> str:
    """Every module's state as JSON (what :func:`probe` reads from its child process)."""
    return json.dumps({n: state.to_json() for n, state in states().items()})


def probe(tinytorch_root: Path, book_root: Path = registry.BOOK_ROOT, timeout: float = 120) -> dict[int, ModuleState]:
    """Every module's state, found by importing the reader's tinytorch in a child process.

    A tinytorch that hangs or kills the interpreter at import cannot take the caller with it:
    every module then reads ``error`` with what the child said.
    """
    env = {**os.environ, "PYTHONPATH": settings.python_path(tinytorch_root, book_root)}
    command = [sys.executable, "-P", "-c", _PROBE]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, cwd=book_root)
        report = json.loads(done.stdout.strip().splitlines()[-1])
        return {int(n): ModuleState.from_json(entry) for n, entry in report.items()}
    except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        reason = "importing tinytorch hung" if isinstance(exc, subprocess.TimeoutExpired) else (
            "importing tinytorch crashed: " + (done.stderr.strip().splitlines() or ["no output"])[-1])
        return {m.number: ModuleState(m.number, status.ERROR, reason, where=reason) for m in registry.MODULES}


__all__ = ["ModuleState", "module_state", "states", "probe", "report_json", "STUB_MARK"]
