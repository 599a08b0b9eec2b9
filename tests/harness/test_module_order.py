"""Module order is the book's spine: a module's files import only files of the same or earlier modules.

Every import counts, wherever it is written (top of the file, inside a function, or through
``importlib.import_module`` with a name): a reader who has written modules 01..N must be able
to import and run all of them. The package faces (``registry.SCAFFOLDING``) keep lazy export
tables of every module and are exempt; a module's file may not import a face either, since a
face hands out later modules' names.
"""

from __future__ import annotations

import pytest
from modulegraph import dynamic_imports, imported_tinytorch_modules, module_file

from milestones import registry

ROOT = registry.BOOK_ROOT
FILES = [(mod, path) for mod in registry.MODULES for path in mod.files
         if path not in registry.SCAFFOLDING and (ROOT / path).exists()]


@pytest.mark.parametrize("mod, path", FILES, ids=[path.removeprefix("tinytorch/") for _, path in FILES])
def test_a_module_file_imports_only_its_own_and_earlier_modules(mod, path):
    later, faces, unknown = [], [], []
    for name in sorted(imported_tinytorch_modules(ROOT / path)):
        target = module_file(name, ROOT)
        owner = registry.module_owning(target.relative_to(ROOT).as_posix()) if target else None
        if owner is None:
            unknown.append(name)
        elif target.relative_to(ROOT).as_posix() in registry.SCAFFOLDING:
            faces.append(name)
        elif owner.number > mod.number:
            later.append(f"{name} (module {owner.label})")
    assert not later, f"{path} belongs to module {mod.label} but imports later modules: {', '.join(later)}"
    assert not faces, f"{path} imports the package face {', '.join(faces)}; import from the module that defines the name"
    assert not unknown, f"{path} imports {', '.join(unknown)}, which no module of the registry owns"
    assert not dynamic_imports(ROOT / path), f"{path} imports a module named at run time (lines {dynamic_imports(ROOT / path)})"


def test_every_module_file_of_the_registry_is_checked():
    assert {path for _, path in FILES} == {path for mod in registry.MODULES for path in mod.files} - set(registry.SCAFFOLDING)


# ----------------------------------------------------------------------------- the finder itself


def write_package(root, files: dict[str, str]):
    """A small ``tinytorch`` package under ``root``: ``{"core/a.py": source, ...}``."""
    for relative in ("__init__.py", "core/__init__.py", *files):
        path = root / "tinytorch" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files.get(relative, ""))
    return root / "tinytorch"


def test_every_kind_of_import_is_found_wherever_it_is_written(tmp_path):
    package = write_package(tmp_path, {
        "core/a.py": (
            "import importlib\n"
            "from importlib import import_module\n"
            "import tinytorch.core.b\n"
            "from tinytorch.core import c\n"
            "from tinytorch import Tensor\n"
            "def lazy():\n"
            "    from tinytorch.core.d import thing\n"
            "    importlib.import_module('tinytorch.core.e')\n"
            "    return import_module('tinytorch.core.f'), __import__('tinytorch.core.g')\n"
            "class Later:\n"
            "    def method(self):\n"
            "        from . import h\n"
            "        from .i import thing\n"
            "        return importlib.import_module('.j', package='tinytorch.core')\n"
            "import numpy\n"),
        **{f"core/{name}.py": "" for name in "bcdefghij"},
    })
    assert imported_tinytorch_modules(package / "core/a.py") == {
        "tinytorch", *(f"tinytorch.core.{name}" for name in "bcdefghij")}
    assert dynamic_imports(package / "core/a.py") == []


def test_an_import_by_a_name_computed_at_run_time_is_reported(tmp_path):
    package = write_package(tmp_path, {"core/a.py": "import importlib\n\ndef f(name):\n    return importlib.import_module(name)\n"})
    assert dynamic_imports(package / "core/a.py") == [4]
    assert imported_tinytorch_modules(package / "core/a.py") == set()
