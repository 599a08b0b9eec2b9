"""Blame: turn an exception raised by the reader's tinytorch into one readable verdict line.

The reader needs to know *where* their code went wrong, not where the harness noticed: the
innermost frame inside their tinytorch folder (for a SyntaxError, the file and line it names),
which module that file belongs to, and, for a skeleton stub's ``NotImplementedError``, which
function is still to be written.
"""

from __future__ import annotations

import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from milestones import registry, settings

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
_STUB_MESSAGE = re.compile(r"module (\d+) \(([^)]+)\): implement (\S+)")  # what ``tito init`` writes


@dataclass(frozen=True)
class Blame:
    """What went wrong and where, as the reader should read it."""

    kind: str                 # exception class name, e.g. "NameError"
    message: str              # its message, first line only
    file: str | None          # path inside the reader's tinytorch folder, e.g. "tinytorch/core/losses.py"
    line: int | None
    function: str | None      # qualified name of the function that raised, e.g. "Linear.forward"
    module: int | None        # the registry module owning ``file`` (or named by a stub's message)
    traceback: str            # the full traceback, plain text

    @property
    def not_implemented(self) -> bool:
        """A stub the reader has not filled in yet (raised inside their tinytorch), not an error."""
        return self.kind == "NotImplementedError" and self.file is not None

    @property
    def where(self) -> str:
        """``tinytorch/core/losses.py line 12`` (or ``the chapter`` when no tinytorch file is involved)."""
        if self.file is None:
            return "the chapter"
        return f"{self.file} line {self.line}" if self.line else self.file

    def summary(self) -> str:
        """One line: ``NameError: name 'x' is not defined (tinytorch/core/losses.py line 12)``."""
        text = f"{self.kind}: {self.message}" if self.message else self.kind
        return f"{text} ({self.where})"

    def stub(self) -> str:
        """For a NotImplementedError: ``Linear.forward (module 03, tinytorch/core/layers.py)``."""
        name = self.function or "a function"
        place = ", ".join(([f"module {self.module:02d}"] if self.module else []) + ([self.file] if self.file else []))
        return f"{name} ({place})" if place else name


def tinytorch_folder() -> Path | None:
    """The folder holding the reader's ``tinytorch`` package (the one imported, else TINYTORCH_SRC)."""
    package = sys.modules.get("tinytorch")
    if package is not None and getattr(package, "__file__", None):
        return Path(package.__file__).resolve().parent.parent
    try:
        return settings.tinytorch_root()
    except FileNotFoundError:
        return None


def _inside(path: str | None, root: Path | None) -> str | None:
    """``path`` relative to ``root`` when it lies in root/tinytorch, else None."""
    if not path or root is None:
        return None
    try:
        relative = Path(path).resolve().relative_to(root)
    except ValueError:
        return None
    return relative.as_posix() if relative.parts[:1] == ("tinytorch",) else None


def blame(exc: BaseException, root: Path | None = None) -> Blame:
    """Describe ``exc``: the innermost frame in the reader's tinytorch, its module, one message line."""
    root = tinytorch_folder() if root is None else root
    file = line = function = None
    if isinstance(exc, SyntaxError) and _inside(exc.filename, root):
        file, line = _inside(exc.filename, root), exc.lineno
    else:
        for frame, lineno in traceback.walk_tb(exc.__traceback__):
            relative = _inside(frame.f_code.co_filename, root)
            if relative:
                file, line = relative, lineno
                function = getattr(frame.f_code, "co_qualname", frame.f_code.co_name)
    owner = registry.module_owning(file) if file else None
    module = owner.number if owner else None
    text = exc.msg if isinstance(exc, SyntaxError) and exc.msg else str(exc)  # the location is said once, below
    message = text.strip().splitlines()[0] if text.strip() else ""
    stub = _STUB_MESSAGE.search(message)
    if isinstance(exc, NotImplementedError) and stub:
        module, function = int(stub.group(1)), stub.group(3)
        file = file or stub.group(2)
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return Blame(type(exc).__name__, ANSI_ESCAPE.sub("", message), file, line, function, module,
                 ANSI_ESCAPE.sub("", text))
