"""`make html` runs the chapters in parallel before Sphinx reads them (milestones/execute.py).

A build of three small chapters, two at a time: one progress line per chapter as it finishes,
the serial sum reported, every criterion graded as in a one-at-a-time build. A chapter whose
kernel dies is reported, fails a strict build, and is not kept in the cache.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from milestones.tools.bookbuild import build, copy_book, records

from milestones import registry

CHAPTERS = ("01", "02", "perceptron-trained")


def test_chapters_run_two_at_a_time_with_one_line_each_and_every_criterion_met(tmp_path):
    book = copy_book(tmp_path, chapters=CHAPTERS)
    chapter = book / "milestones/01_1957_perceptron.md"  # counts its own runs: Sphinx must not run it again
    chapter.write_text(chapter.read_text() + "\n```{code-cell} ipython3\nopen('runs.txt', 'a').write('ran\\n')\n```\n")
    result = build(book, strict=True, TINYTORCH_JOBS="2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Running 3 chapters, 2 at a time:" in result.stdout
    lines = re.findall(r"^  (milestones/\S+)\.md ran in [\d.]+ s: (.+)$", result.stdout, flags=re.M)
    assert sorted(name for name, _ in lines) == ["milestones/01_1957_perceptron", "milestones/02_1969_xor_crisis",
                                                 "milestones/extras/1958_rosenblatt_trained"]
    assert dict(lines)["milestones/01_1957_perceptron"] == "6 met"
    assert re.search(r"Chapters ran in [\d.]+ s of wall time \([\d.]+ s one after another\)", result.stdout)
    assert (book / "milestones/runs.txt").read_text() == "ran\n"  # Sphinx rendered it from the cache
    assert {entry["status"] for entry in records(book).values()} == {"met"}
    page = (book / "_build/html/milestones/01_1957_perceptron.html").read_text()
    assert "tinytorch-met" in page and page.count('<img alt=') >= 1


def test_a_chapter_whose_kernel_dies_fails_the_build_and_is_not_cached(tmp_path):
    book = copy_book(tmp_path, chapters=("01", "perceptron-trained"))
    chapter = book / "milestones/01_1957_perceptron.md"
    chapter.write_text(chapter.read_text() + "\n```{code-cell} ipython3\nimport os\nos._exit(3)\n```\n")
    result = build(book, strict=True, TINYTORCH_JOBS="2")
    assert result.returncode != 0
    assert "01_1957_perceptron.md did not finish running" in result.stderr
    again = build(book, strict=False, TINYTORCH_JOBS="2")
    assert re.search(r"^  milestones/01_1957_perceptron\.md ran in", again.stdout, flags=re.M)  # not from the cache
    assert not re.search(r"^  milestones/extras/1958_rosenblatt_trained\.md ran in", again.stdout, flags=re.M)


@pytest.mark.parametrize("setting, says", [
    ({"TINYTORCH_JOBS": "many"}, "TINYTORCH_JOBS='many' is not a number of chapters to run at once"),
    ({"TINYTORCH_SRC": "/nonexistent"}, "TINYTORCH_SRC=/nonexistent has no tinytorch/__init__.py; point it at the "
                                        "folder that contains your tinytorch package"),
])
def test_make_html_checks_its_settings_first_in_one_line(setting, says):
    env = {k: v for k, v in os.environ.items() if k not in ("TINYTORCH_JOBS", "TINYTORCH_SRC")} | setting
    done = subprocess.run([sys.executable, "-m", "milestones.book"], cwd=registry.BOOK_ROOT, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr == f"TinyTorch book: {says}\n"
