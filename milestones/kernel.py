"""The judge inside a chapter's IPython kernel: skip the cells of a locked or failed part, judge
every exception.

Installed once per kernel by a start-up file in the kernel's IPython profile (never as a side
effect of importing the judge): :func:`milestones.book.prepare` writes it for the book's kernels,
Binder's ``postBuild`` and ``python -m milestones.kernel`` for a reader's own Jupyter, and the
Colab set-up cell calls :func:`install` itself. ``tito`` runs chapters without IPython and calls
the same two judge functions from :mod:`milestones.runner`.
"""

from __future__ import annotations

from pathlib import Path

from milestones import judge


def _skip_cell(lines: list[str]) -> list[str]:
    """IPython input transformer: a skipped cell becomes ``pass``."""
    return ["pass\n"] if judge.should_skip("".join(lines)) else lines


def _judge_exception(shell, etype, value, tb, tb_offset=None):
    """IPython's custom exception handler: the judge's verdict replaces the raw traceback."""
    judge.on_exception(value)
    return []


def install(shell=None) -> None:
    """Hook the judge into this IPython shell (idempotent; nothing outside IPython)."""
    if shell is None:
        from IPython import get_ipython
        shell = get_ipython()
    if shell is None:
        return
    if _skip_cell not in shell.input_transformers_post:
        shell.input_transformers_post.append(_skip_cell)
    shell.set_custom_exc((Exception,), _judge_exception)


STARTUP_FILE = "50-tinytorch-judge.py"
STARTUP_CODE = ("# The TinyTorch judge in every kernel of this profile (milestones/kernel.py).\n"
                "try:\n    from milestones import kernel as _tinytorch_kernel\nexcept ImportError:\n    pass\n"
                "else:\n    _tinytorch_kernel.install()\n")


def write_startup(profile: Path) -> Path:
    """Write the start-up file that installs the judge into ``profile/startup`` (an IPython profile folder)."""
    startup = profile / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    path = startup / STARTUP_FILE
    path.write_text(STARTUP_CODE)
    return path


def main() -> int:
    """``python -m milestones.kernel``: install the judge into your default IPython profile (Binder, your Jupyter)."""
    from IPython.paths import get_ipython_dir

    path = write_startup(Path(get_ipython_dir()) / "profile_default")
    print(f"TinyTorch judge installed for every IPython kernel: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
