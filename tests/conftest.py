"""Test-wide settings and fixtures: property tests draw the same examples on every run (seeds fixed);
one strict build of the whole book is shared by every test that inspects it."""

import subprocess
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("reproducible", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("reproducible")


@pytest.fixture(scope="session")
def strict_book(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One strict build of the whole book (a copy in a temporary folder), shared by the session."""
    from milestones.tools.bookbuild import build, copy_book

    book = copy_book(tmp_path_factory.mktemp("book"))
    return book, build(book, strict=True)


def pytest_xdist_make_scheduler(config, log):
    """Under pytest-xdist (`make test` runs two workers): every test that reads the session's
    strict build (``strict_book`` in its name) runs on one worker, so the book is built once."""
    from xdist.scheduler import LoadScopeScheduling

    class StrictBookOnOneWorker(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "strict_book" if "strict_book" in nodeid else nodeid

    return StrictBookOnOneWorker(config, log)
