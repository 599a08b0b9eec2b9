"""``tito init``: a solution-free tinytorch to start from, generated from the reference itself.

Every file of every module keeps its docstring, imports, constants, classes and the
signature and docstring of every function and method; each body becomes
``raise NotImplementedError("module 03 (tinytorch/core/layers.py): implement Linear.forward")``,
naming the module that owns the file and the file. Nothing is copied by hand, so the skeleton
cannot drift from the reference.

A ``# tito: given`` comment on the line above a ``def`` (or above its decorators) keeps that
body: it is scaffolding, not an exercise. The package scaffolding files
(``registry.SCAFFOLDING``) are copied as they are.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from milestones import registry

_GIVEN = re.compile(r"#\s*tito:\s*given\b")


@dataclass(frozen=True)
class _Stub:
    """One body to replace: the lines it spans and the stub's message."""

    first: int       # 1-based line where the body starts
    column: int      # column where the body starts on that line (a one-line def)
    last: int        # 1-based last line of the body
    indent: str
    message: str


def _given(lines: list[str], node: ast.AST) -> bool:
    """Is the body of this def kept (a ``# tito: given`` marker above it or its decorators)?"""
    top = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return top >= 2 and bool(_GIVEN.search(lines[top - 2]))


def _stubs(source: str, module: int, path: str) -> list[_Stub]:
    """The bodies of every function and method in ``source`` (not nested functions), as stubs."""
    lines = source.splitlines()
    tree = ast.parse(source)
    found = []

    def visit(body, owner: ast.ClassDef | None):
        for node in body:
            if isinstance(node, ast.ClassDef):
                visit(node.body, node)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if _given(lines, node):
                    continue
                name = f"{owner.name}.{node.name}" if owner else node.name
                statements = node.body
                has_doc = (isinstance(statements[0], ast.Expr) and isinstance(statements[0].value, ast.Constant)
                           and isinstance(statements[0].value.value, str))
                rest = statements[1:] if has_doc else statements
                if not rest:
                    continue  # a docstring-only body (an abstract method) stays as it is
                first = rest[0]
                start = min([first.lineno] + [d.lineno for d in getattr(first, "decorator_list", [])])
                column = first.col_offset if start == first.lineno else 0
                indent = " " * first.col_offset if start > node.lineno else " " * (node.col_offset + 4)
                found.append(_Stub(start, column, node.end_lineno, indent,
                                   f"module {module:02d} ({path}): implement {name}"))

    visit(tree.body, None)
    return found


def stub_count(source: str) -> int:
    """How many function bodies of ``source`` the skeleton turns into stubs (a module's work, counted)."""
    return len(_stubs(source, 0, ""))


def stub_source(source: str, module: int, path: str) -> str:
    """``source`` with every function body replaced by a NotImplementedError naming module, file and function."""
    lines = source.splitlines()
    for stub in sorted(_stubs(source, module, path), key=lambda s: s.first, reverse=True):
        raise_line = f'raise NotImplementedError("{stub.message}")'
        head = lines[stub.first - 1][:stub.column]
        if head.strip():  # a one-line def: `def f(self): return x` keeps `def f(self): `
            replacement = [head + raise_line]
        else:
            replacement = [stub.indent + raise_line]
        lines[stub.first - 1:stub.last] = replacement
    text = "\n".join(lines) + "\n"
    compile(text, "<skeleton>", "exec")  # a skeleton that does not parse is a bug in this generator
    return text


def skeleton_files(reference: Path = registry.BOOK_ROOT) -> dict[str, str]:
    """Every tinytorch file of the reference, as the skeleton has it: {relative path: text}."""
    files = {}
    for mod in registry.MODULES:
        for path in mod.files:
            source_file = reference / path
            if not source_file.exists():
                continue
            text = source_file.read_text()
            files[path] = text if path in registry.SCAFFOLDING or _only_docstring(text) else stub_source(text, mod.number, path)
    return files


def _only_docstring(text: str) -> bool:
    """Package files such as ``ops/__init__.py`` that hold nothing but a docstring."""
    body = ast.parse(text).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


class SkeletonExists(FileExistsError):
    """``tito init`` refuses to overwrite a reader's work."""


def write_skeleton(folder: Path, reference: Path = registry.BOOK_ROOT) -> list[Path]:
    """Write ``folder/tinytorch/``; refuse (SkeletonExists) if it is already there."""
    target = folder / "tinytorch"
    if target.exists():
        raise SkeletonExists(f"{target} already exists; choose another folder (nothing was written)")
    written = []
    for path, text in skeleton_files(reference).items():
        out = folder / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        written.append(out)
    return written
