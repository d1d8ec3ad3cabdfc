"""Tables for the terminal (rich) and the same rows as JSON: settings, preflight, network check, status."""

from __future__ import annotations

import json
from dataclasses import asdict

STATUS_COLUMNS = ("host", "role", "reachable", "engine", "rootless", "node", "ready", "error")


def as_json(rows) -> str:
    """Rows (dataclasses or dicts) as indented JSON."""
    return json.dumps([r if isinstance(r, dict) else asdict(r) for r in rows], indent=2)


def settings(s):
    from rich.table import Table

    t = Table("setting", "value", "from")
    for key, value in s.as_table().items():
        t.add_row(key, value, s.sources.get(key, "default"))
    return t


def preflight(results, title: str = "preflight"):
    """One host's checks."""
    from rich.table import Table

    from u7s.steps.preflight import ERROR, OK, SKIP, WARN

    colours = {OK: "green", WARN: "yellow", ERROR: "red", SKIP: "dim"}
    t = Table(title=title)
    for column in ("check", "status", "detail", "fix"):
        t.add_column(column)
    for r in results:
        t.add_row(r.name, f"[{colours[r.status]}]{r.status}[/]", r.detail, r.fix)
    return t


def preflight_by_host(rows: list[tuple[str, object]], title: str):
    """Many hosts' checks: (host, check) pairs."""
    from rich.table import Table

    t = Table("host", "check", "status", "detail", "fix", title=title)
    for h, r in rows:
        t.add_row(h, r.name, r.status, r.detail, r.fix)
    return t


def network(probes, every: bool = False):
    """The failed probes (every probe with `every`), or one line when all passed: 16 hosts make 1,800 probes."""
    from rich.table import Table
    from rich.text import Text

    passed = sum(p.ok for p in probes)
    hosts = len({p.source for p in probes} | {p.target for p in probes})
    summary = f"{passed} of {len(probes)} probes passed between {hosts} hosts"
    shown = probes if every else [p for p in probes if not p.ok]
    if not shown:
        return Text(f"network check: {summary}" + ("" if every else " (--all lists them)"))
    t = Table("from", "to", "check", "result", "detail", "likely cause", "fix", title=f"network check: {summary}")
    for p in shown:
        t.add_row(p.source, p.target, p.check, "[green]ok[/]" if p.ok else "[red]failed[/]", p.detail, p.cause, p.fix)
    return t


def status(rows: list[dict]):
    from rich.table import Table

    t = Table(*STATUS_COLUMNS)
    for r in rows:
        t.add_row(*(str(r.get(k, "")) if r.get(k) is not None else "-" for k in STATUS_COLUMNS))
    return t


def show(table, stderr: bool = True) -> None:
    """Print a table: diagnostics to stderr, what a task exists to print to stdout."""
    from rich.console import Console

    Console(stderr=stderr).print(table)
