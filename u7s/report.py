"""Progress and messages, all on stderr: rich on a terminal, plain lines otherwise.

What a task exists to print (a path, an export line, JSON) goes to stdout
through `print`; everything here is diagnostics.
"""

from __future__ import annotations

import contextlib
import sys
import time


class Reporter:
    """Speaks for one host (its name prefixes every line when `prefix` is set)."""

    def __init__(self, prefix: str | None = None, stream=None):
        self.prefix = prefix
        self.stream = stream or sys.stderr
        self._console = None

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

    def info(self, message: str) -> None:
        self._line("-", "dim", message)

    def done(self, message: str) -> None:
        self._line("✓", "green", message)

    def skip(self, message: str) -> None:
        self._line("=", "cyan", message)

    def warn(self, message: str) -> None:
        self._line("!", "yellow", message)

    def error(self, message: str) -> None:
        self._line("✗", "red", message)

    @contextlib.contextmanager
    def step(self, title: str):
        """Show a long step: a spinner on a terminal, a start line otherwise; then its duration."""
        started = time.monotonic()
        if self.console.is_terminal:
            from rich.markup import escape

            with self.console.status(escape(f"{self.prefix + ' ' if self.prefix else ''}{title}")):
                yield
        else:
            self.info(f"{title} ...")
            yield
        self.done(f"{title} ({time.monotonic() - started:.1f}s)")
