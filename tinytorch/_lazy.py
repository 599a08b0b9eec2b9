"""Lazy re-exports (PEP 562): a package names what it offers; each name loads on first use.

This is what lets ``import tinytorch`` work for a tinytorch written only up to module N: a
name whose module is not written yet fails when it is used, saying which file to write.
"""

import importlib
import sys

__all__ = ["lazy_exports", "import_if_written"]


def lazy_exports(package, exports):
    """Return ``(__getattr__, __dir__, names)`` for ``package`` given ``{module: (name, ...)}``."""
    home = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name):
        module = home.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        imported = import_if_written(module)
        if imported is None:
            path = module.replace(".", "/") + ".py"
            raise AttributeError(f"{package}.{name} lives in {module}, which is not written yet ({path})")
        value = getattr(imported, name)
        setattr(sys.modules[package], name, value)  # cache: the next lookup is a plain attribute
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(home))

    return __getattr__, __dir__, list(home)


def import_if_written(module):
    """Import ``module``, or return None when its file is not written; a written one that raises raises."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise  # the file is written but imports something that is not: its own error
        return None
