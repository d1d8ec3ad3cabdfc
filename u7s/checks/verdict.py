"""A check's result: its name, one of four statuses, what was found and the fix.

Apart from preflight.py so that the modules whose checks preflight runs (hostchecks.py)
need not import preflight, which imports them."""

from __future__ import annotations

from dataclasses import dataclass

OK, WARN, ERROR, SKIP = "ok", "warning", "error", "skipped"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""
