"""What an action did, apart from the words it says: changed something, found it done already, or skipped it.

An Outcome is the message the user reads (a str, printed as before), carrying its status
and, for what was already done or skipped, why. Decisions read the status, never the
words: rewording a message changes nothing but the message.
"""

from __future__ import annotations

CHANGED, ALREADY, SKIPPED = "changed", "already done", "skipped"


class Outcome(str):
    status: str
    why: str
    parts: dict

    def __new__(cls, said: str, status: str = CHANGED, why: str = "", **parts: Outcome) -> Outcome:
        self = super().__new__(cls, said)
        self.status, self.why, self.parts = status, why, parts  # parts: outcomes it is made of, by name
        return self


def changed(said: str, **parts: Outcome) -> Outcome:
    return Outcome(said, CHANGED, **parts)


def already(said: str, why: str = "", **parts: Outcome) -> Outcome:
    return Outcome(said, ALREADY, why, **parts)


def skipped(said: str, why: str) -> Outcome:
    return Outcome(said, SKIPPED, why)


def status_of(said) -> str:
    """An action's status; what an action returns without one (a path, a plain message) changed something."""
    return getattr(said, "status", CHANGED)
