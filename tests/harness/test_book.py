"""The book itself: a real strict Sphinx build passes, a broken tinytorch fails it, the cache follows edits.

Each test builds a copy of the book in a temporary folder with this environment's
sphinx-build, so the repository's own _build is never touched.
"""

from __future__ import annotations

import re
from pathlib import Path

from milestones.tools.bookbuild import break_file, build, copy_book, records

from milestones import book, registry


def test_strict_book_of_every_chapter_passes(strict_book):
    book, result = strict_book
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Scoreboard" in result.stdout
    assert "missed" not in re.sub(r"\d+ missed", "", result.stdout.split("Scoreboard")[-1])


def test_strict_book_chapter_shows_outputs_plots_and_verdicts(strict_book):
    book, _ = strict_book
    page = (book / "_build/html/milestones/01_1957_perceptron.html").read_text()
    assert "Untrained perceptron" in page or "<img" in page
    assert page.count("<img") >= 2, "the decision-boundary figures are missing from the page"
    assert "tinytorch-met" in page and "tinytorch-missed" not in page
    results = (book / "_build/html/docs/results.html").read_text()
    assert "forward_max_error" in results and ">met<" in results
    assert (book / "_build/html/index.html").exists()


def test_strict_book_landing_page_and_module_map_come_from_the_registry(strict_book):
    book, _ = strict_book
    landing = (book / "_build/html/docs/index.html").read_text()
    for stone in registry.MILESTONES:
        assert stone.title in landing and str(stone.year) in landing
    module_map = (book / "_build/html/docs/module-map.html").read_text()
    for mod in registry.MODULES:
        assert mod.import_path in module_map
    api = (book / "_build/html/docs/api.html").read_text()
    for module_path, name in (("tinytorch.core.tensor", "Tensor"), ("tinytorch.core.spatial", "Conv2d")):
        assert re.search(rf'{re.escape(module_path)}\.</span></span><span class="sig-name descname">'
                         rf'<span class="pre">{name}<', api), f"{module_path}.{name} is not documented"
    assert ".. automodule::" not in api, "autodoc output was rendered as text"


def test_strict_book_has_a_colab_notebook_beside_each_chapter(strict_book):
    book, _ = strict_book
    notebook = book / "milestones/01_1957_perceptron.ipynb"
    assert notebook.exists()
    assert "google.colab" in notebook.read_text()
    page = (book / "_build/html/milestones/01_1957_perceptron.html").read_text()
    assert "colab.research.google.com" in page and "01_1957_perceptron.ipynb" in page


def test_committed_notebook_twins_match_their_chapters():
    for stone in registry.ALL_MILESTONES:
        if stone.chapter_path.exists():
            twin = stone.chapter_path.with_suffix(".ipynb")
            assert twin.exists(), f"{twin.name} missing: run make html and commit it"
            assert twin.read_text() == book.notebook_twin(stone.chapter_path), (
                f"{twin.name} is stale: run make html and commit it")


def chapter_01_with_a_linear_that_ignores_its_bias(tmp_path: Path) -> Path:
    """A copy of the book with chapter 01 only and a deliberately broken ``Linear``."""
    book = copy_book(tmp_path, chapters=("01",))
    break_file(book / "tinytorch/core/layers.py", "linear(x, self.weight, self.bias)",
               "linear(x, self.weight, None)")
    return book


def test_strict_build_fails_naming_chapter_and_criterion_when_linear_ignores_its_bias(tmp_path):
    book = chapter_01_with_a_linear_that_ignores_its_bias(tmp_path)
    result = build(book, strict=True)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "milestones/01_1957_perceptron.md" in output
    assert "forward_max_error" in output and "required <= 1e-06" in output
    found = records(book)
    assert found[("01", "forward_max_error")]["status"] == "missed"
    for later in ("loss_error", "backprop_error", "train_accuracy"):  # never ran: not counted as more misses
        assert found[("01", later)]["status"] == "not run"
        assert found[("01", later)]["detail"] == "chapter stopped at forward_max_error"
    assert output.count("missed: measured") == 1


def test_non_strict_build_with_a_missed_criterion_still_finishes(tmp_path):
    book = chapter_01_with_a_linear_that_ignores_its_bias(tmp_path)
    result = build(book, strict=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "missed" in result.stdout.split("Scoreboard")[-1]
    page = (book / "_build/html/milestones/01_1957_perceptron.html").read_text()
    assert "tinytorch-missed" in page


def test_editing_tinytorch_re_executes_the_chapters_and_no_edit_reuses_the_cache(tmp_path):
    book = copy_book(tmp_path, chapters=("01",))
    first = build(book, strict=False)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "nothing cached for this code yet: every chapter runs" in first.stdout  # a fresh clone's first build
    assert "reuse" not in first.stdout
    assert "01_1957_perceptron.md ran in" in first.stdout

    again = build(book, strict=False)
    assert "chapters already run for this code reuse their cached outputs" in again.stdout
    assert "01_1957_perceptron.md ran in" not in again.stdout
    assert "No chapter executed in this build" in again.stdout

    tensor_file = book / "tinytorch/core/tensor.py"
    tensor_file.write_text(tensor_file.read_text() + "\n# an edit by the reader\n")
    edited = build(book, strict=False)
    assert "01_1957_perceptron.md ran in" in edited.stdout


def test_a_part_whose_modules_are_missing_is_locked_and_does_not_fail_the_strict_build(tmp_path):
    """A reader who has built modules 01-04 only: part 1 runs and passes, part 2 is locked."""
    book = copy_book(tmp_path, chapters=("01",))
    for later in ("optimizers", "training", "dataloader", "spatial"):
        (book / f"tinytorch/core/{later}.py").unlink()
    result = build(book, strict=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    board = result.stdout.split("Scoreboard")[-1]
    assert re.search(r"01 Perceptron\s+1\s+forward_max_error\s+\S+\s+<= 1e-06\s+met", board), board
    assert re.search(r"01 Perceptron\s+2\s+train_accuracy\s+-\s+>= 0.95\s+locked", board), board
    page = (book / "_build/html/milestones/01_1957_perceptron.html").read_text()
    assert "tinytorch-locked" in page and "06 optimizers" in page


def test_the_mnist_extra_trains_when_its_data_is_there(tmp_path):
    """With real-format IDX files present the extra trains and is graded instead of showing how to download."""
    from test_datasets import write_mnist

    write_mnist(tmp_path / "mnist", n_train=256, n_test=64)  # random pixels: graded, not expected to pass
    (tmp_path / "book").mkdir()
    book = copy_book(tmp_path / "book", chapters=("mnist-mlp",))
    result = build(book, strict=False, TINYTORCH_MNIST_DIR=str(tmp_path / "mnist"))
    assert result.returncode == 0, result.stderr[-3000:]
    board = result.stdout.split("Scoreboard")[-1]
    assert re.search(r"mnist-mlp.*mnist_test_accuracy\s+[\d.]+\s+>= 0.95\s+(met|missed)", board), board
    page = (book / "_build/html/milestones/extras/1986_mnist_mlp.html").read_text()
    assert "tinytorch-no-data" not in page and page.count("<img") >= 2
