"""The one status model: every state a criterion, a part or a module can be in, and how it looks.

The judge's boxes in the pages, the results page, the terminal scoreboard, ``tito milestone
list``, ``tito module status`` and ``tito grade`` all name, colour and count states from here.

Criteria and parts (a chapter's run): met, missed, error, not run, locked, not implemented, no
data; a chapter file that does not exist yet is not written. Modules of the reader's tinytorch:
not written, locked (an earlier module it imports is not written), error (importing it raises),
stubs left (``tito init`` stubs still raising), written.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Status:
    """A state: how it looks, what it means, and whether it fails a strict build."""

    name: str
    mark: str          # symbol in the page
    background: str    # page colours
    colour: str
    ansi: str          # terminal colour code
    fails_strict: bool
    meaning: str
    form: str = "{name} ({detail})"  # how a detail joins the name: "locked (needs 04)"

    @property
    def css(self) -> str:
        """CSS class suffix: ``not implemented`` -> ``not-implemented``."""
        return self.name.replace(" ", "-")

    def label(self, detail: str = "") -> str:
        """The state as a reader reads it, with its detail: ``stubs left: 12 of 14``."""
        return self.form.format(name=self.name, detail=detail) if detail else self.name


_GREEN, _RED, _GREY, _AMBER = ("#e6f4ea", "#1e7d32"), ("#fdecea", "#b3261e"), ("#f1f3f4", "#5f6368"), \
    ("#fef7e0", "#8a5a00")

MET = Status("met", "\u2714", *_GREEN, "32", False, "the measured value satisfies the threshold")
MISSED = Status("missed", "\u2718", *_RED, "31", True, "it does not (a strict build fails)")
ERROR = Status("error", "\u2718", *_RED, "31", True,
               "your code raised an exception (a strict build fails); the file and line are named")
NOT_RUN = Status("not run", "\u2026", *_RED, "31", True,
                 "not measured for this code: never reached (an earlier check stopped it) or never run")
LOCKED = Status("locked", "\U0001F512", *_GREY, "90", False,
                "it needs a module your tinytorch does not have yet (the modules, files or names are listed)")
NOT_IMPLEMENTED = Status("not implemented", "\u270E", *_GREY, "90", False,
                         "your code raised NotImplementedError: a stub still to be written (named)",
                         form="{name}: {detail}")
NO_DATA = Status("no data", "\u2139", *_AMBER, "33", False,
                 "it needs a downloaded dataset that is not there; the chapter says how to get it")
NOT_WRITTEN = Status("not written", "\u2013", *_GREY, "90", False,
                     "the file (a module's, or a chapter's) does not exist yet", form="{name}: {detail}")
STUBS_LEFT = Status("stubs left", "\u270E", *_GREY, "36", False,
                    "the module imports, but some of its functions still raise the stub's NotImplementedError",
                    form="{name}: {detail}")
WRITTEN = Status("written", "\u2714", *_GREEN, "32", False,
                 "the module imports and every function of it is written (its tests say whether it is right)")

CRITERION_STATES = (MET, MISSED, ERROR, NOT_RUN, LOCKED, NOT_IMPLEMENTED, NO_DATA, NOT_WRITTEN)
MODULE_STATES = (NOT_WRITTEN, LOCKED, ERROR, STUBS_LEFT, WRITTEN)
ALL = tuple(dict.fromkeys(CRITERION_STATES + MODULE_STATES))
BY_NAME = {status.name: status for status in ALL}


def of(name: str) -> Status:
    """The Status called ``name`` (as stored in the judge's records)."""
    return BY_NAME[name]
