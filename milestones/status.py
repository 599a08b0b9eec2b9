"""The states a criterion can be in, each with its colours and whether it fails a strict build.

One table: the judge's boxes in the pages, the results page, the terminal scoreboard and
``tito`` all colour and count statuses from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Status:
    """A criterion's state: how it looks and what it means for a strict build."""

    name: str
    mark: str          # symbol in the page
    background: str    # page colours
    colour: str
    ansi: str          # terminal colour code
    fails_strict: bool
    meaning: str

    @property
    def css(self) -> str:
        """CSS class suffix: ``not implemented`` -> ``not-implemented``."""
        return self.name.replace(" ", "-")


MET = Status("met", "\u2714", "#e6f4ea", "#1e7d32", "32", False,
             "the measured value satisfies the threshold")
MISSED = Status("missed", "\u2718", "#fdecea", "#b3261e", "31", True,
                "it does not (a strict build fails)")
ERROR = Status("error", "\u2718", "#fdecea", "#b3261e", "31", True,
               "your code raised an exception in this part (a strict build fails); the file and line are named")
NOT_RUN = Status("not run", "\u2026", "#fdecea", "#b3261e", "31", True,
                 "never reached: an earlier criterion of the chapter missed and stopped it, or the chapter crashed")
LOCKED = Status("locked", "\U0001F512", "#f1f3f4", "#5f6368", "90", False,
                "the part needs modules your tinytorch does not provide yet (their files or names are listed)")
NOT_IMPLEMENTED = Status("not implemented", "\u270E", "#f1f3f4", "#5f6368", "90", False,
                         "your code raised NotImplementedError: a stub still to be written (named)")
NO_DATA = Status("no data", "\u2139", "#fef7e0", "#8a5a00", "33", False,
                 "the part needs a downloaded dataset that is not there; the chapter says how to get it")
NOT_WRITTEN = Status("not written", "\u2013", "#f1f3f4", "#5f6368", "90", False,
                     "the chapter does not exist yet")

ALL = (MET, MISSED, ERROR, NOT_RUN, LOCKED, NOT_IMPLEMENTED, NO_DATA, NOT_WRITTEN)
BY_NAME = {status.name: status for status in ALL}


def of(name: str) -> Status:
    """The Status called ``name`` (as stored in the judge's records)."""
    return BY_NAME[name]
