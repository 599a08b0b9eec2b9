"""Mutants for modules 15 and 17: deliberately broken copies of the optimization modules must fail a
strict build of chapter 06 (or of the generation extra), naming the criterion that caught them.

Each test builds a copy of the book with that chapter only (milestones/tools/bookbuild.py), so the
repository's own build is never touched.
"""

from __future__ import annotations

from pathlib import Path

from milestones.tools.bookbuild import break_file, build, copy_book, records
from milestones import registry


def strict_build_names(tmp_path, chapter: str, path: str, old: str, new: str, criterion: str) -> Path:
    """A copy of the book with only ``chapter``, ``path`` broken (``old`` replaced by ``new``), built
    strict: the build must fail naming the chapter's file and ``criterion``. Returns the copy, for its records."""
    book = copy_book(tmp_path, chapters=(chapter,))
    break_file(book / path, old, new)
    result = build(book, strict=True)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert registry.milestone(chapter).chapter in output
    assert f"criterion '{criterion}' missed" in output, output[-3000:]
    return book


def test_a_quantized_layer_that_keeps_float32_weights_fails_naming_the_int8_criterion(tmp_path):
    """The 'int8' layers still compute correctly and keep their accuracy, but store float32 codes."""
    strict_build_names(tmp_path, "06", "tinytorch/perf/quantization.py",
                       'self.register_buffer("weight", Tensor(wq.int_repr()))',
                       'self.register_buffer("weight", Tensor(wq.int_repr().astype(np.float32)))',
                       "int8_weights_stored")


def test_a_kv_cache_that_returns_stale_keys_fails_naming_the_cache_criterion(tmp_path):
    """The cache stores the prompt's keys, then leaves each new token's key slot stale (zeros on the
    first generation, the previous generation's keys afterwards) while storing its value: every
    shape is right and generation is still fast, but attention scores the new tokens against
    the wrong keys. Part 1 never touches the cache and passes; part 2 stops at its first check."""
    book = strict_build_names(tmp_path, "06", "tinytorch/perf/memoization.py",
                              "        self.keys[:, :, start:end] = k\n",
                              "        if start == 0:  # stale: only the prompt's keys are ever stored\n"
                              "            self.keys[:, :, start:end] = k\n",
                              "cached_equals_recomputed")
    found = records(book)
    part1 = [c.key for c in registry.milestone("06").part(1).criteria]
    assert {found[("06", key)]["status"] for key in part1} == {"met"}  # part 1 ran and was not the one caught
    assert found[("06", "cached_equals_recomputed")]["status"] == "missed"


def test_a_kv_cache_that_forgets_the_past_fails_the_generation_extra_naming_its_criterion(tmp_path):
    """Module 17's classic slip: ``update`` returns only the new positions' keys and values, so every
    cached step attends to itself alone. Shapes stay valid and generation gets even faster, but the
    tokens change: the generation extra's first check names it before any speed is graded."""
    book = strict_build_names(tmp_path, "generation", "tinytorch/perf/memoization.py",
                              "        k_all, v_all = self.keys[:, :, :end], self.values[:, :, :end]\n",
                              "        k_all, v_all = self.keys[:, :, start:end], self.values[:, :, start:end]"
                              "  # the new ones only\n",
                              "greedy_variants_identical")
    found = records(book)
    for criterion in registry.milestone("generation").part(1).criteria[1:]:
        assert found[("generation", criterion.key)]["status"] == "not run"  # no speed graded for wrong tokens
