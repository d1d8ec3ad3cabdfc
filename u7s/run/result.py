"""A command's outcome on a host: exit status, output and error output."""

from __future__ import annotations

from dataclasses import dataclass

from u7s.errors import last_line


@dataclass
class Result:
    exited: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exited == 0

    def stderr_tail(self) -> str:
        """What a failed command said last (its error), or its exit status when it said nothing."""
        return last_line(self.stderr, f"exit {self.exited}")
