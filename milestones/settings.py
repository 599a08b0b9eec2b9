"""The build's settings, read from the environment: the bottom layer every harness file may read.

Which tinytorch is under test (``TINYTORCH_SRC``), its fingerprint, where criterion records go
(``TINYTORCH_RESULTS_DIR``), whether the run is strict (``STRICT``) or verbose (``VERBOSE``),
and the environment of every process that runs chapters. Chapters run in separate processes
(kernels, ``tito``'s children), so these travel as environment variables; this module reads
them and imports nothing of the harness but the registry.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from milestones import registry

SOURCE_ENV = "TINYTORCH_SRC"
RESULTS_ENV = "TINYTORCH_RESULTS_DIR"
STRICT_ENV = "STRICT"
VERBOSE_ENV = "VERBOSE"

HASHED_SUFFIXES = (".py", ".npz", ".npy", ".json", ".gz", ".txt", ".csv")

# The chapters' matrices are small: one BLAS thread is faster than two fighting over 2 cores,
# and it makes timings (KV-cache speedups, benchmarks) repeatable. Same threads as `make bench`.
ONE_BLAS_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# NumPy allocates every temporary afresh. By default glibc hands large freed blocks back to the
# operating system, and the next temporary of that size page-faults its memory in again: on the
# 2-core machine the book is measured on, a fifth of a GPT training step. Keeping freed memory
# (up to 512 MiB) in the process removes that cost. glibc reads these only when a process starts.
KEEP_FREED_MEMORY = {"MALLOC_MMAP_THRESHOLD_": str(256 << 20), "MALLOC_TRIM_THRESHOLD_": str(512 << 20),
                     "MALLOC_TOP_PAD_": str(64 << 20)}

# The environment of every process that runs chapters or benchmarks (kernels, tito, make bench).
RUN_ENV = {**ONE_BLAS_THREAD, **KEEP_FREED_MEMORY}


def _flag(name: str) -> bool:
    return os.environ.get(name, "0").lower() not in ("", "0", "false", "no")


def strict() -> bool:
    """``STRICT=1``: a missed criterion or an error fails the build (and stops its chapter)."""
    return _flag(STRICT_ENV)


def verbose() -> bool:
    """``VERBOSE=1``: print the kernels' raw tracebacks and logs too (they always go to _build/execution.log)."""
    return _flag(VERBOSE_ENV)


def results_dir() -> Path:
    """Where criterion records go: ``$TINYTORCH_RESULTS_DIR``, else ``_build/results`` in the book."""
    return Path(os.environ.get(RESULTS_ENV) or registry.BOOK_ROOT / "_build" / "results")


def tinytorch_root() -> Path:
    """The folder holding the ``tinytorch`` package under test: ``$TINYTORCH_SRC`` or this book."""
    root = Path(os.environ.get(SOURCE_ENV) or registry.BOOK_ROOT).expanduser().resolve()
    if not (root / "tinytorch" / "__init__.py").exists():
        raise FileNotFoundError(
            f"{SOURCE_ENV}={root} has no tinytorch/__init__.py; point it at the folder that "
            "contains your tinytorch package")
    return root


def python_path(tinytorch_at: Path, book_root: Path = registry.BOOK_ROOT) -> str:
    """``PYTHONPATH`` for chapter processes: the tinytorch under test first, then the harness."""
    paths = [str(tinytorch_at), str(book_root)]
    paths += [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join(dict.fromkeys(paths))


def _hashed_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and p.suffix in HASHED_SUFFIXES and "__pycache__" not in p.parts)


def fingerprint(tinytorch_at: Path, book_root: Path = registry.BOOK_ROOT) -> str:
    """A short hash of what a chapter's results depend on: the tinytorch sources, the data, the harness.

    Results are stored under it (the book's execution cache and records, ``tito``'s records), so
    a result is only ever shown for the code that produced it.
    """
    digest = hashlib.sha256()
    sources = [(tinytorch_at, f) for f in _hashed_files(tinytorch_at / "tinytorch")]
    sources += [(book_root, f) for f in _hashed_files(book_root / "data")]
    sources += [(book_root, f) for f in sorted((book_root / "milestones").glob("*.py"))]
    for base, path in sources:
        digest.update(path.relative_to(base).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
