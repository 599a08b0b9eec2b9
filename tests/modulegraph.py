"""Which tinytorch modules a source file imports: every import, wherever it is written.

Module boundaries are real: a file of module N may import only files of modules 01..N, at
the top of the file, inside a function, or through ``importlib.import_module`` alike (the
package faces, ``registry.SCAFFOLDING``, keep lazy export tables and are exempt). Found
statically, so a file is checked without being imported: ``import a.b``, ``from a import
b`` (``a.b`` when that is a module, else ``a``), relative imports, and
``importlib.import_module`` / ``__import__`` called with a constant name. A call with a name
computed at run time cannot be checked: :func:`dynamic_imports` lists those.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

IMPORTERS = {"import_module", "__import__"}  # importlib.import_module, import_module, __import__


def imported_tinytorch_modules(path: Path) -> set[str]:
    """Dotted names of the tinytorch modules that the file at ``path`` imports, anywhere in it."""
    path = Path(path)
    root = _book_root(path)
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module or "", node.level, path, root)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                names.add(full if root is not None and module_file(full, root) is not None else base)
        elif _importer(node) and _constant_name(node) is not None:
            names.add(_absolute_call(node, path, root))
    return {name for name in names if name == "tinytorch" or name.startswith("tinytorch.")}


def dynamic_imports(path: Path) -> list[int]:
    """Lines where the file calls ``import_module`` / ``__import__`` with a name computed at run time."""
    tree = ast.parse(Path(path).read_text())
    return sorted(node.lineno for node in ast.walk(tree) if _importer(node) and _constant_name(node) is None)


def module_file(name: str, root: Path) -> Path | None:
    """The file under ``root`` that the dotted module ``name`` loads (a package's ``__init__.py``), if any."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _book_root(path: Path) -> Path | None:
    """The folder holding the ``tinytorch`` package that ``path`` sits in, if it sits in one."""
    for parent in path.resolve().parents:
        if parent.name == "tinytorch" and (parent / "__init__.py").is_file():
            return parent.parent
    return None


def _package_of(path: Path, root: Path | None) -> str:
    """The dotted package a file belongs to (``tinytorch.core`` for ``tinytorch/core/tensor.py``)."""
    return "" if root is None else ".".join(path.resolve().relative_to(root).parts[:-1])


def _absolute(module: str, level: int, path: Path, root: Path | None) -> str:
    """``from .x import y`` as an absolute module name (``level`` dots above the file's package)."""
    if level == 0:
        return module
    return importlib.util.resolve_name("." * level + module, _package_of(path, root))


def _importer(node: ast.AST) -> bool:
    """Is ``node`` a call of ``importlib.import_module``, ``import_module`` or ``__import__``?"""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    return name in IMPORTERS


def _constant_name(call: ast.Call) -> str | None:
    """The module name an import call is given, when it is a string constant."""
    first = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "name"), None)
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def _absolute_call(call: ast.Call, path: Path, root: Path | None) -> str:
    """The absolute name an ``import_module(".x", package="a.b")`` call loads."""
    name = _constant_name(call)
    if not name.startswith("."):
        return name
    package = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "package"), None)
    anchor = package.value if isinstance(package, ast.Constant) else _package_of(path, root)
    return importlib.util.resolve_name(name, anchor)
