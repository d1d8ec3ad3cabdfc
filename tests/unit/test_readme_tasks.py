"""Every task `u7s --list` shows has a one-line summary and a row in the README's task tables."""

from __future__ import annotations

import re
from pathlib import Path

import u7s.tasks

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _names():
    return sorted(u7s.tasks.ns.task_names)


def test_every_task_is_in_a_readme_table_row():
    rows = [line for line in README.splitlines() if line.startswith("| `")]
    # Several tasks may share a row (`cluster.up` / `cluster.down` / `cluster.down-v [--yes]`).
    missing = [name for name in _names()
               if not any(re.search(rf"`{re.escape(name)}[` ]", row.split("|")[1]) for row in rows)]
    assert missing == [], missing


def test_every_task_has_a_one_line_summary():
    for name in _names():
        task = u7s.tasks.ns[name]
        first = (task.__doc__ or "").strip().splitlines()
        assert first and first[0].endswith("."), name
