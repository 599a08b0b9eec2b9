"""A reader's broken or half-written tinytorch gets a verdict, never a crash.

Real book builds (one chapter each) against copies of the reference tinytorch broken the way
readers break it, and against the skeleton that ``tito init`` writes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from milestones.tools.bookbuild import build, copy_book, records

from milestones import registry, skeleton


def append_line(path: Path, line: str) -> int:
    """Append a line to a source file; return its line number."""
    text = path.read_text().rstrip("\n") + "\n" + line + "\n"
    path.write_text(text)
    return len(text.splitlines())


@pytest.mark.parametrize("bad_line, error", [("undefined_name", "NameError"), ("def broken(:", "SyntaxError")])
def test_an_error_in_a_module_file_is_a_verdict_naming_the_file_and_line(tmp_path, bad_line, error):
    book = copy_book(tmp_path, chapters=("01",))
    line = append_line(book / "tinytorch/core/losses.py", bad_line)
    result = build(book, strict=True)
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr and "sphinx-doc" not in result.stderr
    verdict = result.stderr.split("STRICT build failed:")[-1]
    assert f"{error}" in verdict and f"tinytorch/core/losses.py line {line}" in verdict
    found = records(book)
    assert {found[("01", c.key)]["status"] for p in registry.milestone("01").parts for c in p.criteria} == {"error"}
    page = (book / "_build/html/milestones/01_1957_perceptron.html").read_text()
    assert "tinytorch-error" in page and f"tinytorch/core/losses.py line {line}" in page
    assert "tinytorch-scoreboard" in (book / "_build/html/docs/results.html").read_text()


def test_an_init_that_imports_a_file_not_written_yet_is_an_error_not_a_lock(tmp_path):
    book = copy_book(tmp_path, chapters=("01",))
    line = append_line(book / "tinytorch/__init__.py", "from tinytorch.core.not_written_yet import Thing")
    result = build(book, strict=True)
    assert result.returncode != 0
    verdict = result.stderr.split("STRICT build failed:")[-1]
    assert "ModuleNotFoundError" in verdict and f"tinytorch/__init__.py line {line}" in verdict


def test_a_module_missing_names_locks_and_lists_them(tmp_path):
    book = copy_book(tmp_path, chapters=("01",))
    layers = book / "tinytorch/core/layers.py"
    layers.write_text(layers.read_text().replace("class Sequential(Module):", "class _NotYet(Module):"))
    result = build(book, strict=True)
    found = records(book)
    assert result.returncode == 0, result.stderr[-3000:]
    assert found[("01", "forward_max_error")]["status"] == "locked"
    assert "tinytorch.core.layers has no Sequential" in found[("01", "forward_max_error")]["detail"]


def test_the_bare_skeleton_builds_strict_with_nothing_met_and_nothing_crashing(tmp_path):
    skeleton.write_skeleton(tmp_path / "reader")
    book = copy_book(tmp_path / "book")
    result = build(book, strict=True, TINYTORCH_SRC=str(tmp_path / "reader"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    states = {entry["status"] for entry in records(book).values()}
    assert "met" not in states and "error" not in states and "not implemented" in states
    page = (book / "_build/html/milestones/01_1957_perceptron.html").read_text()
    assert "not implemented yet: manual_seed (module 01, tinytorch/core/random.py)" in page


def test_the_skeleton_with_modules_01_to_04_filled_in_meets_milestone_01_part_1(tmp_path):
    reader = tmp_path / "reader"
    skeleton.write_skeleton(reader)
    for mod in registry.MODULES[:4]:
        for path in mod.files:
            shutil.copy(registry.BOOK_ROOT / path, reader / path)
    book = copy_book(tmp_path / "book", chapters=("01",))
    result = build(book, strict=True, TINYTORCH_SRC=str(reader))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    found = records(book)
    for criterion in registry.milestone("01").part(1).criteria:
        assert found[("01", criterion.key)]["status"] == "met"
    part_two = found[("01", "train_accuracy")]
    assert part_two["status"] == "not implemented" and "(module 0" in part_two["detail"]


def test_the_skeleton_fails_the_module_tests(tmp_path):
    skeleton.write_skeleton(tmp_path / "reader")
    env = {"TINYTORCH_SRC": str(tmp_path / "reader"), "TINYTORCH_RESULTS_DIR": str(tmp_path / "results")}
    done = subprocess.run([sys.executable, "-m", "milestones.cli", "test", "1", "-x", "-q"],
                          cwd=registry.BOOK_ROOT, env={**__import__("os").environ, **env},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout[-2000:]
    assert "NotImplementedError: module 01 (tinytorch/core/" in done.stdout
