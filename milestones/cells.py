"""Reading a chapter cell's ``judge`` calls: the one parser the judge (which cells to skip) and the
runner (which part a cell belongs to) share."""

from __future__ import annotations

import ast


def judge_calls(source: str) -> dict[str, ast.Call]:
    """The ``judge.<name>(...)`` calls in a cell's source, by name (``begin``, ``check``, ``summary``...).

    A cell that does not parse (an IPython magic, a reader's typo) has none.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    return {node.func.attr: node for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "judge"}


def begun_part(source: str) -> int | None:
    """The part a cell starts, read from its ``judge.begin(ID, part=N)`` call (``part`` defaults to 1), or None."""
    call = judge_calls(source).get("begin")
    if call is None:
        return None
    numbers = [kw.value for kw in call.keywords if kw.arg == "part"] or call.args[1:2]
    return numbers[0].value if numbers and isinstance(numbers[0], ast.Constant) else 1
