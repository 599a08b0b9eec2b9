"""Build copies of the book in temporary folders, as `make html` / `make strict` do.

Shared by the tests that build the book (tests/harness/test_book.py and others): each copy gets its
own _build, so the repository's own build is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from milestones import registry

ROOT = registry.BOOK_ROOT
SPHINX_BUILD = Path(sys.executable).with_name("sphinx-build")
COPIED = ("conf.py", "docs", "milestones", "tinytorch", "data")
DOWNLOADED = ("mnist", "fashion-mnist", "cifar-10-batches-py")  # a reader's downloads stay out: the copy builds what CI builds
HOST_SETTINGS = ("TINYTORCH_RESULTS_DIR", "TINYTORCH_SRC", "TINYTORCH_DATA_DIR", "TINYTORCH_MNIST_DIR",
                 "TINYTORCH_FASHION_MNIST_DIR", "TINYTORCH_CIFAR10_DIR", "TINYTORCH_REPOSITORY_URL", "TINYTORCH_REPOSITORY_BRANCH")
# A copy is no git checkout, so it has no origin remote: its builds get this repository setting
# (the launch buttons are then checked against this checkout's files; nothing is fetched from it).
TEST_REPOSITORY_URL = "https://github.com/tinytorch-tests/tinytorch"


def copy_book(target: Path, chapters: tuple[str, ...] | None = None) -> Path:
    """Copy the book's sources; keep only the given milestone chapters (all when None)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.ipynb", ".ipynb_checkpoints", *DOWNLOADED))
        else:
            shutil.copy2(source, target / name)
    if chapters is not None:
        keep = {registry.milestone(c).chapter for c in chapters}
        for stone in registry.ALL_MILESTONES:
            if stone.chapter not in keep:
                (target / stone.chapter).unlink(missing_ok=True)
    return target


def build(book: Path, strict: bool, **settings: str) -> subprocess.CompletedProcess:
    """Run sphinx-build on a book copy the way `make html` / `make strict` do.

    ``settings`` are environment variables; ``TINYTORCH_REPOSITORY_URL`` defaults to
    :data:`TEST_REPOSITORY_URL` (pass ``TINYTORCH_REPOSITORY_URL=""`` for a build without one) and
    ``TINYTORCH_JOBS`` to 1 (chapters one at a time; pass ``TINYTORCH_JOBS="2"`` to run them in parallel).
    """
    env = {k: v for k, v in os.environ.items() if k not in HOST_SETTINGS}
    # The tests already run two builds side by side (pytest -n 2): each runs its chapters one at a time.
    env = env | {"TINYTORCH_REPOSITORY_URL": TEST_REPOSITORY_URL, "TINYTORCH_JOBS": "1"} | settings
    env["STRICT"] = "1" if strict else "0"
    env["PYTHONPATH"] = ""
    command = [str(SPHINX_BUILD), "-b", "html", "-q", *(["-E"] if strict else []), str(book),
               str(book / "_build" / "html")]
    return subprocess.run(command, cwd=book, env=env, capture_output=True, text=True, timeout=900)


def break_file(path: Path, old: str, new: str) -> None:
    """Apply one deliberate bug to a copied tinytorch source, failing loudly if the code moved."""
    text = path.read_text()
    assert old in text, f"{path.name} no longer contains {old!r}; update the sabotage in this test"
    path.write_text(text.replace(old, new, 1))


def records(book: Path) -> dict[tuple[str, str], dict]:
    """Every criterion record a build of ``book`` wrote, keyed by (milestone id, criterion key)."""
    import json

    found = {}
    for path in (book / "_build" / "results").glob("*/*.json"):
        for key, entry in json.loads(path.read_text()).items():
            found[(entry["milestone"], key)] = entry
    return found


def cut_after(book: Path, last: int) -> None:
    """Delete the files of modules after ``last`` from a book copy's tinytorch (nothing else is edited)."""
    for mod in registry.MODULES:
        if mod.number > last:
            for path in mod.files:
                (book / path).unlink(missing_ok=True)
