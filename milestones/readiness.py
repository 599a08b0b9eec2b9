"""Is a module of the reader's tinytorch ready? Written, importable, and exporting its key names.

Four answers, each with the line a reader needs:

- ``ready``;
- ``absent``: its file is not written yet, or it imports an earlier module whose file is not
  written yet (the parts that need it are *locked*);
- ``incomplete``: the file exists but lacks key names (also *locked*; the names are listed);
- ``broken``: the file exists but importing it raises, for whatever reason, an import of a
  file that is not written yet included (an *error*: the file and line that raised are named).

This imports the reader's code, so it runs where that is safe: in a chapter's kernel, in
``tito``'s child processes, and (via :func:`probe`) in a child process for the Sphinx build.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from milestones import registry
from milestones.blame import blame

READY, ABSENT, INCOMPLETE, BROKEN = "ready", "absent", "incomplete", "broken"
STUB_MARK = 'raise NotImplementedError("module '  # what ``tito init`` writes in every body


@dataclass(frozen=True)
class ModuleState:
    """One module's readiness and the line that explains it."""

    number: int
    status: str
    detail: str = ""
    stubs: int = 0  # bodies still raising a ``tito init`` NotImplementedError in the module's files

    @property
    def label(self) -> str:
        return registry.module(self.number).label


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


def module_state(number: int) -> ModuleState:
    """Import module ``number`` of the tinytorch on ``sys.path`` and say whether it is ready."""
    mod = registry.module(number)
    root = _package_folder()
    if root is None:
        return ModuleState(number, ABSENT, "no tinytorch package found")
    if not (root / mod.main_file).exists():
        return ModuleState(number, ABSENT, f"not written yet: {mod.main_file}")
    try:
        imported = importlib.import_module(mod.import_path)
    except ModuleNotFoundError as exc:
        earlier = _earlier_module_not_written(exc, mod, root)
        if earlier is not None:  # it imports an earlier module the reader has not written: write that first
            return ModuleState(number, ABSENT, f"needs module {earlier.label}, not written yet: {earlier.main_file}")
        return ModuleState(number, BROKEN, blame(exc, root).summary())
    except Exception as exc:  # written but raising on import (a later or unknown file included): broken
        return ModuleState(number, BROKEN, blame(exc, root).summary())
    lacking = [name for name in mod.names if not hasattr(imported, name)]
    if lacking:
        return ModuleState(number, INCOMPLETE, f"{mod.import_path} has no {', '.join(lacking)}")
    stubs = sum((root / path).read_text().count(STUB_MARK) for path in mod.files if (root / path).exists())
    return ModuleState(number, READY, f"{stubs} stubs still to implement" if stubs else "", stubs)


def states(numbers=None) -> dict[int, ModuleState]:
    """The state of every module (or of ``numbers``), in this process."""
    numbers = [m.number for m in registry.MODULES] if numbers is None else numbers
    return {n: module_state(n) for n in numbers}


# ---------------------------------------------------------------- in a child process

_PROBE = "import json; from milestones import readiness; print(readiness.report_json())"


def report_json() -> str:
    """Every module's state as JSON (what :func:`probe` reads from its child process)."""
    return json.dumps({n: asdict(state) for n, state in states().items()})


def probe(tinytorch_root: Path, book_root: Path = registry.BOOK_ROOT, timeout: float = 120) -> dict[int, ModuleState]:
    """Every module's state, found by importing the reader's tinytorch in a child process.

    A tinytorch that hangs or kills the interpreter at import cannot take the caller with it:
    every module then reads ``broken`` with what the child said.
    """
    from milestones import book

    env = dict(os.environ, PYTHONPATH=book.python_path(tinytorch_root, book_root))
    command = [sys.executable, "-P", "-c", _PROBE]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, cwd=book_root)
        report = json.loads(done.stdout.strip().splitlines()[-1])
        return {int(n): ModuleState(**fields) for n, fields in report.items()}
    except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        reason = "importing tinytorch hung" if isinstance(exc, subprocess.TimeoutExpired) else (
            "importing tinytorch crashed: " + (done.stderr.strip().splitlines() or ["no output"])[-1])
        return {m.number: ModuleState(m.number, BROKEN, reason) for m in registry.MODULES}


__all__ = ["ModuleState", "module_state", "states", "probe", "report_json",
           "READY", "ABSENT", "INCOMPLETE", "BROKEN"]
