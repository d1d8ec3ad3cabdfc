"""How the user calls u7s's tasks right now: `u7s create`, `inv create`, `inv u7s.create`, `fab create`.

The workflow help names the commands the way the user can type them. The program is
known from the config's prefix (u7s's own program, fab) or the command's name; the
collection's place under a parent (`inv u7s` → `u7s.`) from the name invoke's
Executor called the task by, which it keeps in its `call` (invoke 2 gives a task no
other way to learn it).
"""

from __future__ import annotations

import os
import sys

PROGRAMS = {"u7s": "u7s", "fabric": "fab"}


def program(c) -> str:
    prefix = getattr(getattr(c, "config", None), "prefix", None)
    if prefix in PROGRAMS:
        return PROGRAMS[prefix]
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return name if name and not name.endswith(".py") else "inv"


def called_as() -> str | None:
    """The name invoke's Executor is running the current task by, or None (called from Python)."""
    frame = sys._getframe(1)
    while frame is not None:
        call = frame.f_locals.get("call")
        owner = frame.f_locals.get("self")
        if call is not None and type(owner).__name__.endswith("Executor") and hasattr(call, "called_as"):
            return call.called_as or ""
        frame = frame.f_back
    return None


def collection_path(task_name: str) -> str:
    """`u7s.` when the task was called as `u7s` (a default task) or `u7s.TASK`; `` at the top."""
    name = called_as() or ""
    if name == task_name or not name:
        return ""
    if name.endswith("." + task_name):
        return name[: -len(task_name)]
    return name + "."


def command(c, task_name: str) -> str:
    """What to type before a task's name: `u7s `, `inv u7s.`, `fab `."""
    return f"{program(c)} {collection_path(task_name)}"
