"""Which path a chapter's transformer runs: your modules 12-13 as they compose it, or module 18's fused twins.

Chapters that train or run a GPT pass it through :func:`accelerated`. When module 18
(acceleration) is written, with no stub left, its ``accelerate`` swaps the model's
attention, LayerNorm and MLP for fused twins sharing the same Parameters; otherwise the model
stays as modules 12-13 compose it. The chapter prints which path ran.

A part that declares only modules 01-13 must run without module 18: this never imports module
18 when its file is absent (``readiness`` looks for the file first), and a module 18 that is
absent, unfinished or broken leaves the model composed, with the reason on the page.
"""

from __future__ import annotations

from milestones import readiness, status

COMPOSED = "composed: your modules 12-13"
FUSED = "fused: module 18"


def module_18_blocker() -> str | None:
    """Why module 18 cannot run here (None when it is written, every stub implemented)."""
    state = readiness.module_state(18)
    return None if state.status is status.WRITTEN else f"module 18 {state.text()}"


def path() -> str:
    """Which path a transformer runs here: ``"fused: module 18"``, or ``"composed: your modules 12-13"`` and why."""
    blocker = module_18_blocker()
    return FUSED if blocker is None else f"{COMPOSED} ({blocker})"


def accelerated(model):
    """``(model, path)``: the model with module 18's fused twins swapped in when module 18 is written, else as it is.

    ``path`` says which ran, for the page (see :func:`path`).
    """
    label = path()
    if label != FUSED:
        return model, label
    from tinytorch.perf.acceleration import accelerate

    return accelerate(model), label
