"""Build-time plumbing for the book: which tinytorch runs, its fingerprint, the kernels' environment.

conf.py calls :func:`prepare`; the chapters run in separate kernel processes, so everything
they need (import path, results folder, plot backend, strictness) travels as environment
variables.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from milestones import judge, registry

HASHED_SUFFIXES = (".py", ".npz", ".npy", ".json", ".gz", ".txt", ".csv")


@dataclass(frozen=True)
class BookSettings:
    """What conf.py needs to configure Sphinx and myst-nb for this build."""

    tinytorch_root: Path
    fingerprint: str
    cache_path: Path
    results_dir: Path
    strict: bool
    verbose: bool


def tinytorch_root() -> Path:
    """The folder holding the ``tinytorch`` package to test: ``$TINYTORCH_SRC`` or this book."""
    root = Path(os.environ.get("TINYTORCH_SRC") or registry.BOOK_ROOT).expanduser().resolve()
    if not (root / "tinytorch" / "__init__.py").exists():
        raise FileNotFoundError(
            f"TINYTORCH_SRC={root} has no tinytorch/__init__.py; point it at the folder that "
            "contains your tinytorch package")
    return root


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and p.suffix in HASHED_SUFFIXES and "__pycache__" not in p.parts)


def fingerprint(tinytorch_at: Path, book_root: Path = registry.BOOK_ROOT) -> str:
    """A short hash of the tinytorch sources, the data and the harness the chapters run with."""
    digest = hashlib.sha256()
    sources = [(tinytorch_at, f) for f in _files(tinytorch_at / "tinytorch")]
    sources += [(book_root, f) for f in _files(book_root / "data")]
    sources += [(book_root, f) for f in sorted((book_root / "milestones").glob("*.py"))]
    for base, path in sources:
        digest.update(path.relative_to(base).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def python_path(tinytorch_at: Path, book_root: Path = registry.BOOK_ROOT) -> str:
    """``PYTHONPATH`` for chapter processes: the tinytorch under test first, then the harness."""
    paths = [str(tinytorch_at), str(book_root)]
    paths += [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join(dict.fromkeys(paths))


# The chapters' matrices are small: one BLAS thread is faster than two fighting over 2 cores,
# and it makes timings (KV-cache speedups, benchmarks) repeatable. Same threads as `make bench`.
ONE_BLAS_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def verbose() -> bool:
    """``VERBOSE=1``: print the kernels' raw tracebacks and logs too (they always go to _build/execution.log)."""
    return os.environ.get("VERBOSE", "0").lower() not in ("", "0", "false", "no")


def _quiet_ipython(folder: Path) -> Path:
    """An IPython profile for the chapters' kernels that keeps their start-up chatter off the build output."""
    profile = folder / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    level = "INFO" if verbose() else "ERROR"
    (profile / "ipython_kernel_config.py").write_text(f'c.IPKernelApp.log_level = "{level}"\n')
    return folder


def prepare(book_root: Path = registry.BOOK_ROOT) -> BookSettings:
    """Export the kernels' environment and choose the cache and results folders for this build."""
    root = tinytorch_root()
    stamp = fingerprint(root, book_root)
    build = book_root / "_build"
    settings = BookSettings(root, stamp, build / ".jupyter_cache" / stamp,
                            build / "results" / stamp, judge.strict(), verbose())
    if settings.strict and settings.results_dir.exists():
        shutil.rmtree(settings.results_dir)
    os.environ["PYTHONPATH"] = python_path(root, book_root)
    os.environ.update(ONE_BLAS_THREAD)
    os.environ["IPYTHONDIR"] = str(_quiet_ipython(build / "ipython"))
    os.environ["TINYTORCH_RESULTS_DIR"] = str(settings.results_dir)
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    os.environ["STRICT"] = "1" if settings.strict else "0"
    return settings


REPOSITORY_URL = "https://github.com/tinytorch-book/tinytorch-book"

COLAB_SETUP = '''# Colab only: fetch the book and install tinytorch + the harness (skipped elsewhere).
import sys
if "google.colab" in sys.modules:
    !git clone --depth 1 {repository} /content/tinytorch-book
    !pip install -q -e /content/tinytorch-book
    sys.path.insert(0, "/content/tinytorch-book")
    %cd /content/tinytorch-book/{folder}'''


def notebook_twin(chapter: Path, book_root: Path = registry.BOOK_ROOT,
                  repository: str = REPOSITORY_URL) -> str:
    """The ``.ipynb`` text of a chapter, led by a Colab install cell, with stable cell ids."""
    import jupytext
    from nbformat.v4 import new_code_cell

    notebook = jupytext.read(chapter)
    folder = chapter.parent.relative_to(book_root).as_posix()
    setup = new_code_cell(COLAB_SETUP.format(repository=repository, folder=folder))
    setup.metadata["tags"] = ["remove-cell"]
    notebook.cells.insert(0, setup)
    for number, cell in enumerate(notebook.cells):
        cell.id = f"cell-{number:03d}"  # stable ids: the committed twin changes only with its chapter
    return jupytext.writes(notebook, fmt="ipynb")


def write_notebooks(book_root: Path = registry.BOOK_ROOT, repository: str = REPOSITORY_URL) -> list[Path]:
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
        text = notebook_twin(source, book_root, repository)
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
        written.append(target)
    return written
