"""Build-time plumbing for the book: the kernels' environment, the Colab twins, the repository setting.

conf.py calls :func:`prepare`; the chapters run in separate kernel processes, so everything
they need (import path, results folder, plot backend, strictness; see :mod:`milestones.settings`)
travels as environment variables, and the judge reaches each kernel through its IPython profile.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from milestones import execute, kernel, registry, settings


@dataclass(frozen=True)
class BookSettings:
    """What conf.py needs to configure Sphinx and myst-nb for this build."""

    tinytorch_root: Path
    fingerprint: str
    cache_path: Path
    results_dir: Path
    strict: bool
    verbose: bool


def _kernel_profile(folder: Path) -> Path:
    """The IPython profile of the chapters' kernels: the judge installed, start-up chatter kept off the build output."""
    profile = folder / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    level = "INFO" if settings.verbose() else "ERROR"
    (profile / "ipython_kernel_config.py").write_text(f'c.IPKernelApp.log_level = "{level}"\n')
    kernel.write_startup(profile)
    # A kernel can log tornado/zmq tracebacks of its own plumbing (e.g. while shutting down): not the
    # reader's business unless VERBOSE. Their code's errors reach the page through the judge.
    quiet = "" if settings.verbose() else 'import logging\nlogging.getLogger("tornado").setLevel(logging.CRITICAL)\n'
    (profile / "startup" / "00-tinytorch-quiet.py").write_text(quiet)
    return folder


def prepare(book_root: Path = registry.BOOK_ROOT) -> BookSettings:
    """Export the kernels' environment and choose the cache and results folders for this build."""
    root = settings.tinytorch_root()
    execute.jobs()  # a bad TINYTORCH_JOBS is said before anything runs
    stamp = settings.fingerprint(root, book_root)
    build = book_root / "_build"
    chosen = BookSettings(root, stamp, build / ".jupyter_cache" / stamp, build / "results" / stamp,
                          settings.strict(), settings.verbose())
    if chosen.strict:  # a fresh start: every chapter runs, no record of an earlier run survives
        for folder in (chosen.results_dir, chosen.cache_path):
            if folder.exists():
                shutil.rmtree(folder)
    os.environ["PYTHONPATH"] = settings.python_path(root, book_root)
    os.environ.update(settings.RUN_ENV)
    os.environ["IPYTHONDIR"] = str(_kernel_profile(build / "ipython"))
    os.environ[settings.RESULTS_ENV] = str(chosen.results_dir)
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    os.environ[settings.STRICT_ENV] = "1" if chosen.strict else "0"
    return chosen


# ---------------------------------------------------------------- the repository setting

REPOSITORY_ENV = "TINYTORCH_REPOSITORY_URL"
BRANCH_ENV = "TINYTORCH_REPOSITORY_BRANCH"
DEFAULT_BRANCH = "main"
_GITHUB = re.compile(r"^(?:https?://(?:www\.)?github\.com/|(?:ssh://)?git@github\.com[:/]|git://github\.com/)"
                     r"(?P<owner>[A-Za-z0-9_.-]+)/(?P<name>[A-Za-z0-9_.-]+?)(?:\.git)?/?$")


@dataclass(frozen=True)
class Repository:
    """The GitHub repository the book's buttons, the Colab set-up and the docs point at."""

    url: str  # normalised: https://github.com/OWNER/REPO
    branch: str
    source: str  # where the setting came from, for messages

    @property
    def owner(self) -> str:
        return self.url.split("/")[-2]

    @property
    def name(self) -> str:
        return self.url.split("/")[-1]


def github_url(text: str) -> str | None:
    """``https://github.com/OWNER/REPO`` for a GitHub URL in https or ssh form, else None."""
    found = _GITHUB.match(text.strip())
    return f"https://github.com/{found['owner']}/{found['name']}" if found else None


def origin_url(book_root: Path) -> str | None:
    """The checkout's ``origin`` remote URL, or None (no git, not a checkout, no origin)."""
    try:
        done = subprocess.run(["git", "-C", str(book_root), "config", "--get", "remote.origin.url"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def find_repository(book_root: Path = registry.BOOK_ROOT,
                    configured: str | None = None) -> tuple[Repository | None, str]:
    """The repository setting and a one-line account of it.

    In order: ``$TINYTORCH_REPOSITORY_URL``, the ``repository_url`` value of conf.py, the
    checkout's ``origin`` remote when it is on GitHub (so a fork's book points at the fork).
    The branch is ``$TINYTORCH_REPOSITORY_BRANCH`` or ``main``. Without a GitHub URL the
    repository is None and the line is the warning the build prints.
    """
    branch = os.environ.get(BRANCH_ENV) or DEFAULT_BRANCH
    for source, value in ((f"${REPOSITORY_ENV}", os.environ.get(REPOSITORY_ENV)),
                          ("repository_url in conf.py", configured)):
        if value:
            url = github_url(value)
            if url is None:
                return None, (f"{source}={value} is not a GitHub repository URL (https://github.com/OWNER/REPO "
                              "or git@github.com:OWNER/REPO.git); the book has no launch or repository buttons")
            return Repository(url, branch, source), f"repository {url} ({branch}), from {source}"
    origin = origin_url(book_root)
    url = github_url(origin) if origin else None
    if url:
        return Repository(url, branch, "git remote origin"), f"repository {url} ({branch}), from git remote origin"
    why = f"origin is {origin}, not GitHub" if origin else "no git remote origin"
    return None, (f"no GitHub repository for this book ({why}): set {REPOSITORY_ENV}=https://github.com/OWNER/REPO "
                  "for Colab, Binder and repository buttons")


COLAB_SETUP = """# @title Set up TinyTorch (Colab only) {{ display-mode: "form" }}
# Colab only (skipped elsewhere): clone this book's repository and install what the chapters need.
# Which repository: $TINYTORCH_REPOSITORY_URL (and $TINYTORCH_REPOSITORY_BRANCH) if set, else the
# GitHub repository and branch Colab opened this notebook from, so a fork's notebook clones the fork.
import sys
if "google.colab" in sys.modules:
    import json, os, re, subprocess, urllib.parse, urllib.request
    from pathlib import Path

    def _opened_from(notebook={notebook!r}):
        \"\"\"(repository, branch) of the GitHub notebook this Colab session opened, else (None, None).\"\"\"
        try:
            server = f"http://{{os.environ['COLAB_JUPYTER_IP']}}:{{os.environ['KMP_TARGET_PORT']}}"
            sessions = json.load(urllib.request.urlopen(server + "/api/sessions", timeout=10))
        except Exception:
            return None, None
        for session in sessions:
            path = urllib.parse.unquote(session.get("path", ""))
            found = re.search(r"github(?:\\.com)?/([^/]+)/([^/]+)/blob/(.+)/" + re.escape(notebook) + "$", path)
            if found:
                return f"https://github.com/{{found[1]}}/{{found[2]}}", found[3]
        return None, None

    def _run(what, command):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            said = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
            keys = [line for line in said if line.startswith(("fatal: ", "ERROR: ")) and line != "ERROR: Exception:"]
            why = keys[0] if keys else said[-1] if said else ""  # git's or pip's own first error line
            raise RuntimeError(f"TinyTorch set-up failed: {{what}}: {{why or 'exit status ' + str(done.returncode)}}")

    repository, branch = os.environ.get("TINYTORCH_REPOSITORY_URL"), os.environ.get("TINYTORCH_REPOSITORY_BRANCH")
    if not repository:
        repository, opened_branch = _opened_from()
        branch = branch or opened_branch
    if not repository:
        raise RuntimeError("TinyTorch set-up failed: cannot tell which repository this notebook came from; run "
                           "os.environ['TINYTORCH_REPOSITORY_URL'] = 'https://github.com/OWNER/REPO' and this cell again")
    book = Path(os.environ.get("TINYTORCH_CLONE_DIR", "/content/tinytorch-book"))
    if not (book / ".git").exists():
        clone = ["git", "clone", "--quiet", "--depth", "1", *(["--branch", branch] if branch else []), repository, str(book)]
        _run(f"git clone {{repository}} ({{branch or 'default branch'}})", clone)
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", f"{{book}}[chapters]"]
    _run(f"pip install -e {{book}}[chapters]", install)
    sys.path.insert(0, str(book))  # importable now, without restarting the runtime
    os.chdir(book / {folder!r})
    from milestones import kernel
    kernel.install()  # the judge in this runtime: verdicts instead of tracebacks, locked parts skipped
    print(f"TinyTorch set-up: {{repository}} ({{branch or 'default branch'}}) cloned into {{book}} and installed")"""


def notebook_twin(chapter: Path, book_root: Path = registry.BOOK_ROOT) -> str:
    """The ``.ipynb`` text of a chapter, led by the Colab set-up cell, with stable cell ids.

    The twin names no repository: its set-up cell finds the repository at run time (see
    :data:`COLAB_SETUP`), so the committed twins are the same in every fork and never stale.
    """
    import jupytext
    from nbformat.v4 import new_code_cell

    notebook = jupytext.read(chapter)
    relative = chapter.relative_to(book_root)
    setup = new_code_cell(COLAB_SETUP.format(notebook=relative.with_suffix(".ipynb").as_posix(),
                                             folder=relative.parent.as_posix()))
    setup.metadata["tags"] = ["remove-cell"]
    setup.metadata["cellView"] = "form"  # Colab shows the title line, the code folds away
    notebook.cells.insert(0, setup)
    for number, cell in enumerate(notebook.cells):
        cell.id = f"cell-{number:03d}"  # stable ids: the committed twin changes only with its chapter
    return jupytext.writes(notebook, fmt="ipynb")


def write_notebooks(book_root: Path = registry.BOOK_ROOT) -> list[Path]:
    """Write ``<chapter>.ipynb`` beside each chapter (for Colab and Binder).

    The twins are committed, since Colab opens notebooks straight from the repository; the
    build rewrites one only when its chapter changed, and a test checks they are current.
    """
    written = []
    for stone in registry.ALL_MILESTONES:
        source = book_root / stone.chapter
        if not source.exists():
            continue
        target = source.with_suffix(".ipynb")
        text = notebook_twin(source, book_root)
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
        written.append(target)
    return written


def main() -> int:
    """``python -m milestones.book``: check the build's settings before Sphinx starts, in one line."""
    try:
        settings.tinytorch_root()
        execute.jobs()
    except (FileNotFoundError, ValueError) as error:
        print(f"TinyTorch book: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
