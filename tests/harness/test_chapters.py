"""Chapter conventions the harness relies on, checked statically for every written chapter.

- each part starts with a cell holding only ``judge.begin(...)``: when a part is locked, the
  judge skips the cells after it, so nothing else may share that cell;
- the setup cells before the first ``begin`` do not import tinytorch (a reader's missing module
  must lock a part, not crash the chapter);
- every criterion of every part is checked somewhere in the chapter, and a criterion that
  others require (``Criterion.requires``: causality, a cache that keeps the tokens) is
  checked before them, so that when it fails they read "not run" instead of a value;
- every trained model is graded for backprop: each chapter that calls ``.backward()``, or
  trains with a ``Trainer``, checks ``judge.check_backprop`` in every part that trains;
- the jupytext front matter names the python3 kernel (no kernelspec, no launch buttons).
"""

from __future__ import annotations

import ast

import jupytext
import pytest

from milestones import registry

WRITTEN = [stone for stone in registry.ALL_MILESTONES if stone.chapter_path.exists()]


def code_cells(stone: registry.Milestone) -> list[str]:
    notebook = jupytext.read(stone.chapter_path)
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def calls(source: str, name: str) -> list[ast.Call]:
    """Calls of ``judge.<name>(...)`` in a cell's source."""
    return [node for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == name and getattr(node.func.value, "id", None) == "judge"]


def begin_part(call: ast.Call) -> int:
    if len(call.args) > 1:
        return call.args[1].value
    parts = [kw.value.value for kw in call.keywords if kw.arg == "part"]
    return parts[0] if parts else 1


def test_the_core_milestones_are_written():
    assert {s.id for s in WRITTEN} >= {"01", "02", "03", "04"}


@pytest.mark.parametrize("stone", WRITTEN, ids=lambda s: s.id)
def test_front_matter_names_the_python3_kernel(stone):
    notebook = jupytext.read(stone.chapter_path)
    assert notebook.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("stone", WRITTEN, ids=lambda s: s.id)
def test_each_part_begins_in_a_cell_of_its_own(stone):
    begun = []
    for source in code_cells(stone):
        found = calls(source, "begin")
        if found:
            assert len(ast.parse(source).body) == 1, (
                f"{stone.chapter}: judge.begin must be alone in its cell, found:\n{source}")
            assert found[0].args[0].value == stone.id
            begun.append(begin_part(found[0]))
    assert begun == [part.number for part in stone.parts]


@pytest.mark.parametrize("stone", WRITTEN, ids=lambda s: s.id)
def test_setup_cells_do_not_import_tinytorch(stone):
    for source in code_cells(stone):
        if calls(source, "begin"):
            break
        assert "tinytorch" not in source, f"{stone.chapter}: setup cell imports tinytorch:\n{source}"


def checked_in_order(stone: registry.Milestone) -> list[str]:
    """The criterion keys the chapter checks, in the order its cells (and the calls in a cell) run."""
    keys = []
    for source in code_cells(stone):
        found = [call for name in ("check", "check_backprop") for call in calls(source, name)]
        keys += [call.args[0].value for call in sorted(found, key=lambda call: (call.lineno, call.col_offset))]
    return keys


@pytest.mark.parametrize("stone", WRITTEN, ids=lambda s: s.id)
def test_every_criterion_is_checked(stone):
    checked = set(checked_in_order(stone))
    expected = {c.key for part in stone.parts for c in part.criteria}
    assert expected <= checked, f"{stone.chapter} never checks {sorted(expected - checked)}"


@pytest.mark.parametrize("stone", WRITTEN, ids=lambda s: s.id)
def test_a_required_criterion_is_checked_before_what_it_invalidates(stone):
    order = checked_in_order(stone)
    for part in stone.parts:
        for criterion in part.criteria:
            for required in criterion.requires:
                assert order.index(required) < order.index(criterion.key), (
                    f"{stone.chapter}: {criterion.key!r} is checked before {required!r}, which it requires")


def trains(source: str) -> bool:
    return ".backward()" in source or "Trainer(" in source


@pytest.mark.parametrize("stone", WRITTEN, ids=lambda s: s.id)
def test_every_part_that_trains_grades_backprop(stone):
    part, training, graded = None, {}, {}
    for source in code_cells(stone):
        begun = calls(source, "begin")
        if begun:
            part = begin_part(begun[0])
        training[part] = training.get(part, False) or trains(source)
        graded[part] = graded.get(part, False) or bool(calls(source, "check_backprop"))
    missing = [number for number, trained in training.items() if trained and number is not None and not graded[number]]
    assert not missing, f"{stone.chapter}: part(s) {missing} train a model but never call judge.check_backprop"


def imported_modules(source: str) -> set[int]:
    """Registry numbers of the tinytorch modules a cell uses: imports, and ``tinytorch.Name`` attributes."""
    import tinytorch

    homes = {name: module for module, names in tinytorch._EXPORTS.items() for name in names}
    homes.update(manual_seed="tinytorch.core.random", rng="tinytorch.core.random")
    paths = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tinytorch"):
            if node.module == "tinytorch":
                paths |= {homes[alias.name] for alias in node.names}
            else:
                paths.add(node.module)
        elif isinstance(node, ast.Import):
            paths |= {alias.name for alias in node.names if alias.name.startswith("tinytorch.")}
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == "tinytorch" and node.attr in homes):
            paths.add(homes[node.attr])
    owners = {path: registry.module_owning(path.replace(".", "/") + ".py") for path in paths}
    unknown = sorted(path for path, owner in owners.items() if owner is None and path != "tinytorch.functional")
    assert not unknown, f"imports of files that belong to no registry module: {unknown}"
    return {owner.number for owner in owners.values() if owner is not None}


@pytest.mark.parametrize("stone", WRITTEN, ids=lambda s: s.id)
def test_each_part_uses_only_the_modules_it_declares(stone):
    from milestones.runner import chapter_cells

    for cell in chapter_cells(stone.chapter_path):
        if cell.part == 0:
            continue
        declared = set(stone.part(cell.part).modules)
        used = imported_modules(cell.source)
        assert used <= declared, (f"{stone.chapter} part {cell.part} uses modules {sorted(used - declared)} "
                                  f"it does not declare ({registry.module_range(tuple(declared))}):\n{cell.source}")
