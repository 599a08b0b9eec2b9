"""Every ``>>>`` example in tinytorch's docstrings runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import numpy as np
import pytest

import tinytorch


def tinytorch_modules() -> list[str]:
    """Every module of the tinytorch under test (skeleton files absent from a reader's copy are skipped)."""
    names = [info.name for info in pkgutil.walk_packages(tinytorch.__path__, prefix="tinytorch.")]
    return ["tinytorch", *sorted(names)]


@pytest.mark.parametrize("name", tinytorch_modules())
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    globs = {}
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for test in finder.find(module, name, globs=dict(globs)):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
