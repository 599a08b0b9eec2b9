"""The Fashion-MNIST extra in real book builds: no data, small real-format data, and the real thing.

- Without the data the chapter shows how to get it, its criteria read "no data" and a
  strict build still passes.
- With small IDX files in the real format (random pixels) it trains and is graded.
- With Debian's dataset-fashion-mnist installed (``make test`` installs it when it can), the
  session's strict build of the whole book trains on all 60,000 images and must meet both
  criteria; the page must show the figures.
"""

from __future__ import annotations

import re

import pytest
from milestones.tools.bookbuild import build, copy_book

from milestones import datasets

PAGE = "_build/html/milestones/extras/2017_fashion_mnist.html"


def scoreboard(result) -> str:
    return result.stdout.split("Scoreboard")[-1]


def test_without_its_data_the_chapter_says_how_to_get_it_and_strict_passes(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "book").mkdir()
    book = copy_book(tmp_path / "book", chapters=("fashion-mnist",))
    result = build(book, strict=True, TINYTORCH_FASHION_MNIST_DIR=str(tmp_path / "empty"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    board = scoreboard(result)
    for key in ("fashion_mlp_test_accuracy", "fashion_cnn_test_accuracy"):
        assert re.search(rf"{key}\s+-\s+>= [\d.]+\s+no data", board), board
    page = (book / PAGE).read_text()
    assert "tinytorch-no-data" in page and "apt-get install dataset-fashion-mnist" in page
    assert "make download-fashion-mnist" in page


def test_with_small_real_format_files_the_chapter_trains_and_is_graded(tmp_path):
    from test_datasets import write_fashion

    _, checksums = write_fashion(tmp_path / "fashion", n_train=192, n_test=64)
    (tmp_path / "book").mkdir()
    book = copy_book(tmp_path / "book", chapters=("fashion-mnist",))
    # random pixels have no pinned checksum: pin theirs in the copy, so the chapter's own
    # default load_fashion_mnist() verifies them as it verifies the real files
    module = book / "milestones/datasets.py"
    source = module.read_text()
    start = source.index("FASHION_MNIST_SHA256 = {")
    end = source.index("}", start) + 1
    module.write_text(source[:start] + f"FASHION_MNIST_SHA256 = {checksums!r}" + source[end:])
    result = build(book, strict=False, TINYTORCH_FASHION_MNIST_DIR=str(tmp_path / "fashion"))
    assert result.returncode == 0, result.stderr[-3000:]
    board = scoreboard(result)
    for key in ("fashion_mlp_test_accuracy", "fashion_cnn_test_accuracy"):
        assert re.search(rf"{key}\s+[\d.]+\s+>= [\d.]+\s+(met|missed)", board), board
    page = (book / PAGE).read_text()
    assert "tinytorch-no-data" not in page and "taken for" in page and page.count("<img") >= 4


@pytest.mark.skipif(not datasets.idx_files_present(datasets.FASHION_MNIST_SYSTEM_DIR, datasets.FASHION_MNIST_FILES),
                    reason="Debian's dataset-fashion-mnist is not installed (make test installs it as root)")
def test_strict_book_trains_fashion_mnist_on_all_60000_images_and_meets_both_criteria(strict_book):
    book, result = strict_book
    board = scoreboard(result)
    for key in ("fashion_mlp_test_accuracy", "fashion_cnn_test_accuracy"):
        assert re.search(rf"{key}\s+0\.\d+\s+>= [\d.]+\s+met", board), board
    page = (book / PAGE).read_text()
    assert "60000" in page.replace(",", "") and "938 batches" in page
    assert "tinytorch-met" in page and page.count("<img") >= 4
