"""The harness reads bottom-up: no two of its files import each other, directly or in a circle.

``registry`` and ``status`` import nothing of the harness; ``settings`` reads the environment on
top of the registry; everything else builds on those. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

from milestones import registry

HARNESS = registry.BOOK_ROOT / "milestones"


def harness_imports(path: Path) -> set[str]:
    """Names of the harness files (``milestones/<name>.py``) that ``path`` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "milestones":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("milestones."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("milestones.")}
    return {name for name in found if (HARNESS / f"{name}.py").exists()} - {path.stem}


GRAPH = {path.stem: harness_imports(path) for path in sorted(HARNESS.glob("*.py")) if path.stem != "__init__"}


def test_the_harness_import_graph_has_no_circle():
    done, visiting = set(), []

    def visit(name):
        assert name not in visiting, "import circle: " + " -> ".join(visiting[visiting.index(name):] + [name])
        if name in done:
            return
        visiting.append(name)
        for other in sorted(GRAPH[name]):
            visit(other)
        visiting.pop()
        done.add(name)

    for name in GRAPH:
        visit(name)


def test_the_bottom_layer_imports_nothing_above_it():
    assert GRAPH["registry"] == set() and GRAPH["status"] == set()
    assert GRAPH["settings"] <= {"registry"}
    assert "judge" not in GRAPH["book"] - {"kernel"} and "book" not in GRAPH["judge"]


def test_importing_the_judge_installs_nothing():
    source = (HARNESS / "judge.py").read_text()
    assert "set_custom_exc" not in source and "input_transformers" not in source
