"""A command's outcome on a host: exit status, output and error output."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Result:
    exited: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exited == 0
