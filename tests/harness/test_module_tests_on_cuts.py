"""A module's tests pass with only that module and the earlier ones written.

A reader who has written modules 01..N runs ``tito test N``: it must pass on the reference cut
after module N (the files of modules N+1.. deleted, nothing else edited), so a test that
needs a later module (a gradient needs module 05) lives in that later module's folder.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from milestones.tools.bookbuild import HOST_SETTINGS, copy_book, cut_after

from milestones import registry

# Modules whose tests are reordered on other branches fail here until they land (none now).
PENDING: dict[int, str] = {}


def cut(mod: registry.Module):
    """One module's cut; one known to be pending is marked as an expected failure (never skipped)."""
    marks = [pytest.mark.xfail(reason=PENDING[mod.number], strict=False)] if mod.number in PENDING else []
    return pytest.param(mod.number, marks=marks, id=f"tito-test-{mod.number:02d}")


@pytest.mark.parametrize("last", [cut(mod) for mod in registry.MODULES if mod.tests])
def test_tito_test_n_passes_on_the_reference_cut_after_module_n(tmp_path, last):
    book = copy_book(tmp_path / "book", chapters=())
    cut_after(book, last)
    env = {k: v for k, v in os.environ.items() if k not in HOST_SETTINGS} | {"TINYTORCH_SRC": str(book)}
    command = [sys.executable, "-m", "milestones.cli", "test", str(last), "-q", "-p", "no:cacheprovider"]
    done = subprocess.run(command, cwd=registry.BOOK_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"tito test {last} on the cut after module {last}:\n{done.stdout[-4000:]}{done.stderr[-2000:]}"
