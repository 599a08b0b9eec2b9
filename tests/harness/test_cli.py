"""The ``tito`` command line: real commands in subprocesses, and chapters run end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from milestones import cli, registry, status

PERCEPTRON = registry.milestone("01")


def tito(*args: str, results: Path, **env: str) -> subprocess.CompletedProcess:
    """Run ``python -m milestones.cli ARGS`` like CI does: no TTY, no input, its own results folder."""
    environ = {k: v for k, v in os.environ.items()
               if k not in ("NO_COLOR", "TINYTORCH_SRC", "STRICT")}
    environ.update(TINYTORCH_RESULTS_DIR=str(results), **env)
    return subprocess.run([sys.executable, "-m", "milestones.cli", *args], cwd=registry.BOOK_ROOT,
                          env=environ, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def stub_tinytorch(tmp_path: Path) -> Path:
    """A tinytorch with no modules at all: every part is locked."""
    core = tmp_path / "stub" / "tinytorch" / "core"
    core.mkdir(parents=True)
    (core.parent / "__init__.py").write_text("")
    (core / "__init__.py").write_text("")
    return tmp_path / "stub"


# ---------------------------------------------------------------- list and info

def test_list_shows_every_milestone_with_its_year_and_status(tmp_path):
    done = tito("milestone", "list", results=tmp_path)
    assert done.returncode == 0, done.stderr
    for stone in registry.ALL_MILESTONES:
        line = next(l for l in done.stdout.splitlines() if l.split()[:1] == [stone.id])
        assert stone.title in line and str(stone.year) in line
        assert " / ".join(registry.module_range(p.modules) for p in stone.parts) in line
        expected = "not written" if not stone.chapter_path.exists() else ""
        assert expected in line


def test_info_shows_every_criterion_with_its_threshold(tmp_path):
    done = tito("milestone", "info", "01", results=tmp_path)
    assert done.returncode == 0, done.stderr
    assert PERCEPTRON.title in done.stdout and str(PERCEPTRON.year) in done.stdout
    for part in PERCEPTRON.parts:
        assert part.title in done.stdout
        for criterion in part.criteria:
            assert f"{criterion.key}: {criterion.description}, required {criterion.requirement}" \
                in done.stdout


@pytest.mark.parametrize("ident", ["1", "perceptron", "PERCEPTRON"])
def test_ids_and_aliases_resolve_to_the_same_milestone(tmp_path, ident):
    assert tito("milestone", "info", ident, results=tmp_path).stdout == \
        tito("milestone", "info", "01", results=tmp_path).stdout


# ---------------------------------------------------------------- usage errors

@pytest.mark.parametrize("args, says", [
    (["milestone", "info", "7"], "unknown milestone '7'; valid: 01 (perceptron)"),
    (["milestone", "run", "01", "--part", "9"], "has no part 9 (valid: 1, 2)"),
    (["milestone", "run", "01", "--part", "x"], "invalid int value"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["milestone"], "choose one of: list, info, run"),
    (["--garbage"], "unrecognized option '--garbage'"),
    (["test"], "which module?"),
    ([], "tito: choose one of: milestone, module, test, init"),
    (["test", "42"], "unknown module '42'; valid: 1-19"),
    (["module", "status", "--bogus"], "unrecognized arguments"),
])
def test_bad_arguments_exit_2_with_one_line_on_stderr(tmp_path, args, says):
    done = tito(*args, results=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("tito") and says in done.stderr and done.stderr.count("\n") == 1
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr + done.stdout


def test_help_documents_every_command(tmp_path):
    done = tito("--help", results=tmp_path)
    assert done.returncode == 0
    for command in ("milestone list", "milestone info", "milestone run", "module status", "test"):
        assert f"tito {command}" in done.stdout


def test_an_unwritten_chapter_says_so(tmp_path, monkeypatch, capfd):
    monkeypatch.setattr(registry.Milestone, "chapter_path", property(lambda self: tmp_path / "absent.md"))
    monkeypatch.setenv("TINYTORCH_RESULTS_DIR", str(tmp_path))
    assert cli.main(["milestone", "run", "05"]) == 1
    assert "tito: milestone 05 is not written yet (milestones/05_2017_transformer.md)" in capfd.readouterr().err


# ---------------------------------------------------------------- modules and tests

def test_module_status_lists_all_modules_and_the_milestones(tmp_path):
    done = tito("module", "status", results=tmp_path)
    assert done.returncode == 0, done.stderr
    for mod in registry.MODULES:
        assert mod.label in done.stdout
    for stone in registry.ALL_MILESTONES:
        assert stone.id in done.stdout


def test_module_status_reports_what_a_bare_tinytorch_lacks(tmp_path, stub_tinytorch):
    done = tito("module", "status", results=tmp_path, TINYTORCH_SRC=str(stub_tinytorch))
    assert done.returncode == 0, done.stderr
    assert str(stub_tinytorch) in done.stdout
    tensor = next(line for line in done.stdout.splitlines() if line.strip().startswith("01 tensor"))
    assert "not written" in tensor
    assert "tinytorch/core/tensor.py" in done.stdout
    assert "locked (needs 01-04)" in done.stdout  # milestone 01 part 1


def test_a_skeleton_reads_stubs_left_not_ready(tmp_path):
    from milestones import skeleton

    skeleton.write_skeleton(tmp_path / "reader")
    done = tito("module", "status", results=tmp_path / "results", TINYTORCH_SRC=str(tmp_path / "reader"))
    assert done.returncode == 0, done.stderr
    found = status_lines(done)
    for mod in registry.MODULES:
        state = found[mod.label]
        assert state.startswith("stubs left: "), state
        left, _, total = state.split("|")[0].removeprefix("stubs left: ").split()[:3]
        assert left == total and int(total) > 0
    assert "ready" not in done.stdout and "met" not in done.stdout.split("Milestones")[-1]


def test_a_result_is_shown_only_for_the_code_that_produced_it(tmp_path, reference_copy):
    from milestones import skeleton

    results = tmp_path / "results"
    ran = tito("milestone", "run", "01", "--part", "1", results=results, TINYTORCH_SRC=str(reference_copy))
    assert ran.returncode == 0, ran.stdout[-2000:]
    listed = tito("milestone", "list", results=results, TINYTORCH_SRC=str(reference_copy)).stdout
    assert "part 1 met" in listed.splitlines()[2]
    skeleton.write_skeleton(tmp_path / "reader")
    for view in (("milestone", "list"), ("module", "status"), ("milestone", "info", "01")):
        shown = tito(*view, results=results, TINYTORCH_SRC=str(tmp_path / "reader")).stdout
        assert " met" not in shown and "passed" not in shown, shown
    losses = reference_copy / "tinytorch/core/losses.py"
    losses.write_text(losses.read_text() + "\ndef broken(:\n")
    line = len(losses.read_text().splitlines())
    for view in (("milestone", "list"), ("milestone", "info", "01")):
        shown = tito(*view, results=results, TINYTORCH_SRC=str(reference_copy)).stdout
        assert " met" not in shown, shown
        assert f"error (SyntaxError in tinytorch/core/losses.py line {line})" in shown, shown
    assert "locked" not in tito("milestone", "list", results=results, TINYTORCH_SRC=str(reference_copy)
                                ).stdout.splitlines()[2]


def test_test_runs_a_modules_tests(tmp_path):
    done = tito("test", "01", "-q", results=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "passed" in done.stdout


def test_output_has_no_colour_without_a_terminal(tmp_path):
    assert "\033[" not in tito("milestone", "list", results=tmp_path).stdout


def test_colour_only_for_a_terminal_without_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert cli.paint("met", status.MET) == "\033[32mmet\033[0m"
    monkeypatch.setenv("NO_COLOR", "1")
    assert cli.paint("met", status.MET) == "met"


@pytest.fixture
def reference_copy(tmp_path: Path) -> Path:
    """A copy of the reference tinytorch, to break on purpose."""
    import shutil

    shutil.copytree(registry.BOOK_ROOT / "tinytorch", tmp_path / "copy" / "tinytorch",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "copy"


def status_lines(done: subprocess.CompletedProcess) -> dict[str, str]:
    """`tito module status` output: module label -> its state line plus the detail line under it."""
    lines, found = done.stdout.splitlines(), {}
    for i, line in enumerate(lines):
        for mod in registry.MODULES:
            if line.strip().startswith(mod.label + " "):
                detail = lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1].startswith(" " * 27) else ""
                found[mod.label] = line.split(mod.label, 1)[1].strip() + " | " + detail
    return found


@pytest.mark.parametrize("bad_line, error", [("def broken(:", "SyntaxError"), ("undefined_name", "NameError")])
def test_module_status_blames_the_module_whose_file_raises(tmp_path, reference_copy, bad_line, error):
    losses = reference_copy / "tinytorch/core/losses.py"
    losses.write_text(losses.read_text() + f"\n{bad_line}\n")
    line = len(losses.read_text().splitlines())
    found = status_lines(tito("module", "status", results=tmp_path, TINYTORCH_SRC=str(reference_copy)))
    assert found["04 losses"].startswith("error")
    assert error in found["04 losses"] and f"tinytorch/core/losses.py line {line}" in found["04 losses"]
    for label in ("01 tensor", "02 activations", "03 layers", "09 spatial"):
        assert found[label].startswith("written"), (label, found[label])


def test_module_status_lists_the_exact_names_a_module_lacks(tmp_path, reference_copy):
    layers = reference_copy / "tinytorch/core/layers.py"
    text = layers.read_text()
    for name in ("Sequential", "Flatten"):
        text = text.replace(f"class {name}(Module):", f"class _Hidden{name}(Module):")
    layers.write_text(text.replace('__all__ = ["Parameter", "Module",', '__all__ = ["Parameter",'))
    found = status_lines(tito("module", "status", results=tmp_path, TINYTORCH_SRC=str(reference_copy)))
    assert found["03 layers"].startswith("not written")
    assert "tinytorch.core.layers has no Sequential, Flatten" in found["03 layers"]


# ---------------------------------------------------------------- running chapters

def test_chapter_cells_are_labelled_with_their_part_and_lose_their_magics(tmp_path):
    from milestones import runner

    cells = runner.chapter_cells(fake_chapter(tmp_path, "print('part two ran')"))
    assert [cell.part for cell in cells] == [0, 1, 1, 2, 2]
    assert "# skipped IPython magic: %matplotlib inline" in cells[0].source
    assert "part two ran" in cells[-1].source


def test_run_a_chapter_end_to_end(tmp_path, monkeypatch, capfd):
    chapter = fake_chapter(tmp_path, "print('part two ran')")
    code = run_in_process(monkeypatch, tmp_path, chapter, "--part", "1")
    out = capfd.readouterr().out
    assert code == 0, out
    assert "setup ran" in out and "part two ran" not in out
    for criterion in PERCEPTRON.part(1).criteria:
        assert f"[MET] {criterion.key}:" in out
    assert "train_accuracy" not in out.split("results:")[-1]


def test_a_missed_criterion_exits_1(tmp_path, monkeypatch, capfd):
    chapter = fake_chapter(tmp_path, 'judge.check("train_accuracy", 0.5)')
    code = run_in_process(monkeypatch, tmp_path, chapter, "--part", "2")
    out = capfd.readouterr().out
    assert code == 1
    assert "[MISSED] train_accuracy: 0.5 (required >= 0.95)" in out


def test_a_part_that_raises_is_an_error_naming_the_exception_and_the_rest_still_runs(tmp_path, monkeypatch, capfd):
    chapter = fake_chapter(tmp_path, "raise ValueError('boom in part two')\nprint('after the error')")
    code = run_in_process(monkeypatch, tmp_path, chapter)
    out = capfd.readouterr().out
    assert code == 1
    assert "[ERROR] Milestone 01 part 2 (Training) stopped: your code raised\nValueError: boom in part two" in out
    assert "after the error" not in out
    assert "[ERROR] train_accuracy: - (required >= 0.95): ValueError: boom in part two" in out
    assert "[MET] forward_max_error" in out  # part 1 ran and was graded before part 2 raised


def test_a_locked_part_exits_1_naming_the_missing_files(tmp_path, monkeypatch, capfd, stub_tinytorch):
    monkeypatch.setenv("TINYTORCH_SRC", str(stub_tinytorch))
    chapter = fake_chapter(tmp_path, "print('part two ran')")
    code = run_in_process(monkeypatch, tmp_path, chapter, "--part", "2")
    captured = capfd.readouterr()
    assert code == 1
    assert "part two ran" not in captured.out and "Traceback" not in captured.err
    assert "is locked: it needs modules 01-08" in captured.out
    assert "01 tensor: not written: tinytorch/core/tensor.py" in captured.out
    assert "[LOCKED] train_accuracy" in captured.out


def test_run_the_real_perceptron_chapter(tmp_path):
    done = tito("milestone", "run", "1", "--part", "1", results=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "[MET]" in done.stdout
    assert len(list(tmp_path.glob("*/01.json"))) == 1  # in the folder of this code's fingerprint


def test_the_real_chapter_with_a_bare_tinytorch_names_missing_modules(tmp_path, stub_tinytorch):
    done = tito("milestone", "run", "01", "--part", "1", results=tmp_path,
                TINYTORCH_SRC=str(stub_tinytorch))
    assert done.returncode == 1
    assert "01 tensor: not written" in done.stdout


# ---------------------------------------------------------------- helpers

def passing_value(criterion: registry.Criterion):
    """A value that meets this criterion."""
    if criterion.op == "is":
        return criterion.threshold
    return criterion.threshold + {">": 1, "<": -1}.get(criterion.op, 0)


def fake_chapter(folder: Path, part_two: str) -> Path:
    """A small milestone-01 chapter: setup, a part 1 meeting every criterion, a part 2 cell."""
    checks = "\n".join(f"judge.check({c.key!r}, {passing_value(c)!r})"
                       for c in PERCEPTRON.part(1).criteria)
    cell = "```{{code-cell}} ipython3\n{}\n```\n\n"
    text = textwrap.dedent("""\
        ---
        jupytext:
          text_representation:
            extension: .md
            format_name: myst
            format_version: 0.13
        kernelspec:
          display_name: Python 3
          language: python
          name: python3
        ---
        # A fake perceptron

        """)
    text += cell.format("%matplotlib inline\nfrom milestones import judge\nSETUP = True\nprint('setup ran')")
    text += "## Part 1\n\n" + cell.format('judge.begin("01", part=1)')
    text += cell.format(checks)
    text += "## Part 2\n\n" + cell.format('judge.begin("01", part=2)') + cell.format(part_two)
    path = folder / "fake_chapter.md"
    path.write_text(text)
    return path


def run_in_process(monkeypatch, results: Path, chapter: Path, *options: str) -> int:
    """``tito milestone run 01 OPTIONS`` in this process, with milestone 01's chapter swapped."""
    monkeypatch.setattr(registry.Milestone, "chapter_path", property(lambda self: chapter))
    monkeypatch.setenv("TINYTORCH_RESULTS_DIR", str(results))
    cli.probe.cache_clear()
    cli.results_dir.cache_clear()
    try:
        return cli.main(["milestone", "run", "01", *options])
    finally:
        cli.probe.cache_clear()
        cli.results_dir.cache_clear()
