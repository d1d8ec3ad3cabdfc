"""Tables: rich on a terminal, plain columns in a pipe or file, and the same rows as JSON.

A table is data first (a Grid of text cells); how it is drawn depends on where it goes.
Piped output is never cut to a terminal's width: each row is one line, columns padded
with spaces as `kubectl get` does, so `u7s settings | grep NODE_BASE` shows the whole value.
Yes/no values are words (`yes`, `no`; `-` when unknown), not Python's True/False.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


STATUS_COLUMNS = ("host", "role", "reachable", "engine", "rootless", "node", "ready", "cni", "ports", "error")
COLOURS = {"ok": "green", "warning": "yellow", "error": "red", "skipped": "dim", "failed": "red", "yes": "green",
           "no": "red"}


@dataclass
class Grid:
    columns: tuple
    rows: list = field(default_factory=list)
    title: str = ""
    styled: tuple = ()  # columns whose words are coloured on a terminal (COLOURS)

    def add(self, *cells) -> None:
        self.rows.append([cell_text(c) for c in cells])

    def plain(self) -> str:
        """One line per row, columns padded to their widest cell; nothing cut."""
        table = [list(self.columns), *self.rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(self.columns))]
        lines = [self.title] if self.title else []
        for row in table:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        return "\n".join(lines)

    def __rich__(self):
        from rich.markup import escape
        from rich.table import Table

        t = Table(*self.columns, title=self.title or None)
        for column in t.columns:
            column.overflow = "fold"  # on a terminal long values wrap instead of ending in an ellipsis
        styled = {self.columns.index(c) for c in self.styled}
        for row in self.rows:
            t.add_row(*(f"[{COLOURS[cell]}]{escape(cell)}[/]" if i in styled and cell in COLOURS else escape(cell)
                        for i, cell in enumerate(row)))
        return t


def cell_text(value) -> str:
    """A cell as text: words for booleans, `-` for nothing, one line."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if value is None or value == "":
        return "-" if value is None else ""
    return " ".join(str(value).split()) if "\n" in str(value) else str(value)


def as_json(rows) -> str:
    """Rows (dataclasses or dicts) as indented JSON."""
    return json.dumps([r if isinstance(r, dict) else asdict(r) for r in rows], indent=2)


def settings(s) -> Grid:
    g = Grid(("setting", "value", "from"))
    for key, value in s.as_table().items():
        g.add(key, value, s.sources.get(key, "default"))
    return g


def preflight(results, title: str = "preflight") -> Grid:
    """One host's checks."""
    g = Grid(("check", "status", "detail", "fix"), title=title, styled=("status",))
    for r in results:
        g.add(r.name, r.status, r.detail, r.fix)
    return g


def preflight_by_host(rows: list, title: str) -> Grid:
    """Many hosts' checks: (host, check) pairs."""
    g = Grid(("host", "check", "status", "detail", "fix"), title=title, styled=("status",))
    for h, r in rows:
        g.add(h, r.name, r.status, r.detail, r.fix)
    return g


def network(probes, passed: str, left: list[str], every: bool = False):
    """The failed probes (every probe with `every`), or one line when all passed: 16 hosts make 1,800 probes.

    `passed` and `left` are the check's summary in parts: "N of M probes passed", and what was not checked.
    """
    hosts = len({p.source for p in probes} | {p.target for p in probes})
    summary = "; ".join([f"{passed} between {hosts} hosts", *left])
    shown = probes if every else [p for p in probes if not p.ok]
    if not shown:
        return f"network check: {summary}" + ("" if every else " (--all lists them)")
    g = Grid(("from", "to", "check", "result", "detail", "likely cause", "fix"), title=f"network check: {summary}",
             styled=("result",))
    for p in shown:
        g.add(p.source, p.target, p.check, "ok" if p.ok else "failed", p.detail, p.cause, p.fix)
    return g


def status(rows: list) -> Grid:
    g = Grid(STATUS_COLUMNS, styled=("reachable", "rootless", "ready"))
    for r in rows:
        g.add(*(r.get(k) for k in STATUS_COLUMNS))
    return g


def show(table, stderr: bool = True, stream=None) -> None:
    """Print a table: diagnostics to stderr, what a task exists to print to stdout; plain when not a terminal."""
    import sys

    from rich.console import Console

    stream = stream or (sys.stderr if stderr else sys.stdout)
    console = Console(file=stream, highlight=False)
    if console.is_terminal:
        console.print(table)
        return
    text = table.plain() if isinstance(table, Grid) else str(table)
    stream.write(text + "\n")
    stream.flush()


