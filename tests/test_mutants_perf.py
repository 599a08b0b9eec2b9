"""Mutants for milestone 06: deliberately broken copies of the optimization modules must fail a
strict build of chapter 06, naming the criterion that caught them.

Each test builds a copy of the book with chapter 06 only (tests/bookbuild.py), so the
repository's own build is never touched.
"""

from __future__ import annotations

from bookbuild import break_file, build, copy_book

CHAPTER = "milestones/06_2018_mlperf.md"


def test_a_quantized_layer_that_keeps_float32_weights_fails_naming_the_int8_criterion(tmp_path):
    """The 'int8' layers still compute correctly and keep their accuracy, but store float32 codes."""
    book = copy_book(tmp_path, chapters=("06",))
    break_file(book / "tinytorch/perf/quantization.py",
               'self.register_buffer("weight", Tensor(wq.values.astype(np.int8)))',
               'self.register_buffer("weight", Tensor(wq.values.astype(np.float32)))')
    result = build(book, strict=True)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert CHAPTER in output
    assert "criterion 'int8_weights_stored' missed" in output, output[-3000:]
