"""Which tinytorch modules a source file imports (statically, lazy imports inside functions excluded).

Module boundaries are real: module N may import only modules 01..N at import time; a later
module may be used only through a lazy import inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path


def imported_tinytorch_modules(path: Path) -> set[str]:
    """Dotted names of the tinytorch modules imported at module level (top-level statements only)."""
    names = set()
    for node in ast.parse(Path(path).read_text()).body:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names if alias.name.startswith("tinytorch")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tinytorch"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                names.add(full if full.count(".") == 2 and node.module == "tinytorch.core" else node.module)
    return names
