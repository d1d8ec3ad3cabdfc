"""A fake host that records every remote operation the way SSH makes it: the round-trip counts of unit tests.

Nothing here runs a command or opens a connection (the answers are FakeHost's rules).
"""

from __future__ import annotations

import io
import shlex

from u7s.run.hosts import Result
from tests.unit.u7s_fakes import FakeHost


class RecordingHost(FakeHost):
    """A FakeHost that records each remote operation once, as the SSH host (u7s/run/remote.py) would make it.

    A command is one (a batch, `run_many` of two or more, is one: u7s/run/batch.py); so are a file
    written, read or removed, a directory made, a stream, and taking the host lock (its own channel:
    u7s/run/hostlock.py). `ops` holds "kind: first words" per operation, in order.
    """

    def __init__(self, name: str, files: dict[str, str] | None = None):
        super().__init__(files)
        self.name = name
        self.ops: list[str] = []
        self.context = _LockContext(self.ops)
        self._batched = False

    def kinds(self) -> dict[str, int]:
        """How many operations of each kind (run, batch, lock, write_file, ...)."""
        out: dict[str, int] = {}
        for op in self.ops:
            out[op.split(":")[0]] = out.get(op.split(":")[0], 0) + 1
        return out

    def _run(self, command: str, *, stdin: str | None, timeout: float | None) -> Result:
        if not self._batched:
            self.ops.append("run: " + " ".join(shlex.split(command)[:4]))
        return super()._run(command, stdin=stdin, timeout=timeout)

    def from_files(self, argv: list[str]) -> Result:
        """A command no rule answers succeeds, saying nothing: what a test counts is that it was sent."""
        try:
            return super().from_files(argv)
        except AssertionError:
            return Result(0, "", "")

    def run_many(self, argvs):
        if len(argvs) < 2:
            return super().run_many(argvs)
        self.ops.append(f"batch: {len(argvs)} commands")
        self._batched = True  # the commands inside travel in the one batch
        try:
            return [self.run(argv, check=False) for argv in argvs]
        finally:
            self._batched = False

    def read_text(self, path: str) -> str | None:
        self.ops.append(f"read_text: {path}")
        return super().read_text(path)

    def write_file(self, path: str, data, mode: int = 0o644) -> bool:
        self.ops.append(f"write_file: {path}")
        return super().write_file(path, data, mode)

    def remove(self, path: str) -> bool:
        self.ops.append(f"remove: {path}")
        return super().remove(path)

    def makedirs(self, path: str, mode: int = 0o700) -> None:
        self.ops.append(f"makedirs: {path}")
        super().makedirs(path, mode)

    def run_streaming(self, argv, source, sent=None) -> Result:
        self.ops.append("stream: " + " ".join(str(a) for a in argv[:4]))
        return super().run_streaming(argv, source, sent)


class _LockChannel:
    """The host lock's SSH channel (a paramiko Channel's part hostlock.take uses): `locked` at once."""

    closed = False

    def __init__(self, ops: list[str]):
        self.ops = ops

    def settimeout(self, seconds):
        pass

    def exec_command(self, command: str) -> None:
        self.ops.append("lock: " + " ".join(shlex.split(command)[:2]))

    def makefile(self, mode):
        return io.StringIO("locked\n")

    def close(self):
        self.closed = True


class _LockContext:
    """What hostlock.take reaches through a fabric Connection: create_session()."""

    def __init__(self, ops: list[str]):
        self.ops = ops
        self.client = self

    def get_transport(self):
        return self

    def open_session(self):
        return _LockChannel(self.ops)

    create_session = open_session
