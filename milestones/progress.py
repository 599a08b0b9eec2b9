"""A progress line that updates in place, in a notebook and in a terminal (``tito milestone run``).

A chapter that trains for a while can show what is happening as it happens::

    with progress.Line() as line:
        for step in range(steps):
            ...
            line.update(f"step {step + 1}/{steps}  loss {loss:.3f}")

* In a Jupyter kernel (the book's build, Colab, Binder) the line is one output that each
  update replaces (``display(..., display_id=True)`` then ``update``), so the notebook shows
  it changing live and the saved page keeps the last state.
* In a terminal it is rewritten with a carriage return; when the output is not a terminal
  (a log file, a pipe, a test capturing it) a new line is printed at most every
  ``log_every`` seconds instead, so logs stay readable.

Updates closer together than ``every`` seconds are dropped (the last one is always shown on
``close``), so a fast loop costs nothing to report. Nothing here imports tinytorch.
"""

from __future__ import annotations

import sys
import time

__all__ = ["Line"]


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    return bool(shell and shell.get_ipython() is not None and "ipykernel" in sys.modules)


class Line:
    """One status line, updated in place (see the module docstring for where it shows).

    Args:
        every: least seconds between two shown updates (later ones in between are dropped).
        log_every: least seconds between two printed lines when the output is not a terminal.
        stream: where a terminal line goes (default ``sys.stdout``).

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> with Line(stream=out) as line:
        ...     line.update("step 1")
        ...     line.update("step 2", force=True)
        >>> out.getvalue().splitlines()
        ['step 1', 'step 2']
    """

    def __init__(self, every: float = 0.1, log_every: float = 2.0, stream=None):
        self.every, self.log_every = every, log_every
        self.stream = stream if stream is not None else sys.stdout
        self.notebook = stream is None and _in_notebook()
        self.terminal = not self.notebook and bool(getattr(self.stream, "isatty", lambda: False)())
        self.text, self._shown, self._last, self._width, self._handle = "", "", -float("inf"), 0, None

    def update(self, text: str, force: bool = False) -> None:
        """Show ``text`` as the line's new state (unless the last update was under ``every`` s ago)."""
        self.text = text
        now = time.perf_counter()
        pause = self.every if self.notebook or self.terminal else self.log_every
        if force or now - self._last >= pause:
            self._last = now
            self._show(text)

    def _show(self, text: str) -> None:
        if text == self._shown:
            return
        self._shown = text
        if self.notebook:
            from IPython.display import display
            data = {"text/plain": text}
            if self._handle is None:
                self._handle = display(data, raw=True, display_id=True)
            else:
                self._handle.update(data, raw=True)
        elif self.terminal:
            self.stream.write("\r" + text + " " * max(0, self._width - len(text)))
            self._width = len(text)
            self.stream.flush()
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self, text: str | None = None) -> None:
        """Show the final state (``text``, else the last update) and end the line."""
        self._show(self.text if text is None else text)
        if self.terminal and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0

    def __enter__(self) -> "Line":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
