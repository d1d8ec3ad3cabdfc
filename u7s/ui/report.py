"""Progress and messages, all on stderr: rich on a terminal, plain lines otherwise.

What a task exists to print (a path, an export line, JSON) goes to stdout
through `print`; everything here is diagnostics.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time

from u7s.ui.streams import mark


class Board:
    """On a terminal, one live line per host showing what it is doing; lines print above it."""

    def __init__(self, names: list[str], console):
        from rich.live import Live

        self.console = console
        self.rows = {name: "[dim]waiting[/dim]" for name in names}
        self.lock = threading.Lock()
        self.live = Live(self._render(), console=console, refresh_per_second=8, transient=True)

    @classmethod
    def for_hosts(cls, names: list[str], stream=None) -> "Board | None":
        from rich.console import Console

        console = Console(file=stream or sys.stderr, highlight=False, soft_wrap=True)
        return cls(names, console) if console.is_terminal else None

    def _render(self):
        from rich.table import Table

        grid = Table.grid(padding=(0, 2))
        for name, text in self.rows.items():
            grid.add_row(f"[bold]{name}[/bold]", text)
        return grid

    def update(self, name: str, text: str) -> None:
        with self.lock:
            self.rows[name] = text
            self.live.update(self._render())

    def __enter__(self):
        self.live.start()
        return self

    def __exit__(self, *exc):
        self.live.stop()


class Reporter:
    """Speaks for one host (its name prefixes every line when `prefix` is set)."""

    def __init__(self, prefix: str | None = None, stream=None, board: Board | None = None):
        self.prefix = prefix
        self.stream = stream or sys.stderr
        self.board = board
        self._console = board.console if board else None

    @property
    def console(self):
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False, soft_wrap=True)
        return self._console

    def _line(self, mark: str, style: str, message: str) -> None:
        from rich.markup import escape

        head = f"[bold]{escape(self.prefix)}[/bold] " if self.prefix else ""
        self.console.print(f"{head}[{style}]{mark}[/{style}] {escape(message)}")
        if self.board and self.prefix:
            self.board.update(self.prefix.strip(), f"[{style}]{mark}[/{style}] {escape(message)}")

    def waiting(self, message: str) -> None:
        """Shown on the host's live row only: a plain log would repeat it for every waiting host."""
        if self.board and self.prefix:
            from rich.markup import escape

            self.board.update(self.prefix.strip(), f"[dim]{escape(message)}[/dim]")

    def info(self, message: str) -> None:
        self._line("-", "dim", message)

    def done(self, message: str) -> None:
        self._line(mark(self.stream, "✓", "+"), "green", message)

    def skip(self, message: str) -> None:
        self._line("=", "cyan", message)

    def warn(self, message: str) -> None:
        self._line("!", "yellow", message)

    def error(self, message: str) -> None:
        self._line(mark(self.stream, "✗", "x"), "red", message)

    @contextlib.contextmanager
    def step(self, title: str):
        """Show a long step: a spinner on a terminal, a start line otherwise; then its duration."""
        started = time.monotonic()
        if self.board and self.prefix:
            from rich.markup import escape

            self.board.update(self.prefix.strip(), f"[cyan]{mark(self.stream, '…', '>')}[/cyan] {escape(title)}")
            yield
        elif self.console.is_terminal:
            from rich.markup import escape

            with self.console.status(escape(f"{self.prefix + ' ' if self.prefix else ''}{title}")):
                yield
        else:
            self.info(f"{title} ...")
            yield
        self.done(f"{title} ({time.monotonic() - started:.1f}s)")
