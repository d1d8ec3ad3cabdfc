"""The lab's state file: what a running lab looks like and which processes it started.

Teardown reads it to end the lab's daemons by their recorded ids; it also
finds leftovers by name, so a missing or stale file never blocks cleanup.
"""

from __future__ import annotations

import json
import os

from .layout import STATE_DIR
from .processes import Daemon

STATE_FILE = STATE_DIR / "state.json"


def save(description: dict | None, daemons: list[Daemon]) -> None:
    """Write the state atomically (called after every daemon start, so a crash leaves its ids)."""
    STATE_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    data = {"lab": description, "daemons": [d.to_json() for d in daemons]}
    partial = STATE_FILE.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(partial, STATE_FILE)


def load() -> dict:
    """Return the saved state ({"lab": None, "daemons": []} when there is none)."""
    try:
        data = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return {"lab": None, "daemons": []}
    return {"lab": data.get("lab"), "daemons": data.get("daemons", [])}


def daemons() -> list[Daemon]:
    return [Daemon.from_json(d) for d in load()["daemons"]]


def clear() -> None:
    STATE_FILE.unlink(missing_ok=True)

