"""Where commands run: the local host (an invoke Context) or a remote one (a fabric Connection).

Commands are argument lists; they become one shell string here, with shlex.join,
and nowhere else. Values reach commands as arguments, never spliced into a
shell string, so nothing a user or a host supplies is interpreted by a shell.
"""

from __future__ import annotations

import abc
import io
import os
import shlex
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO, Callable, Sequence

from u7s.errors import CommandFailed
from u7s.run.result import Result


class Host(abc.ABC):
    """A machine u7s acts on. Subclasses provide `_run` and the file operations."""

    name = "local"
    echo = False  # invoke's --echo: show each command, prefixed by this host's name, on stderr

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        stdin: str | None = None,
        timeout: float | None = None,
    ) -> Result:
        """Run argv with captured output; raise CommandFailed on a non-zero exit if `check`."""
        argv = [str(a) for a in argv]
        if self.echo:
            self.show(argv)
        result = self._run(shlex.join(argv), stdin=stdin, timeout=timeout)
        if check and not result.ok:
            raise CommandFailed(self.name, argv, result.exited, result.stderr)
        return result

    def run_many(self, argvs: Sequence[Sequence[str]]) -> list[Result]:
        """Run read-only commands (each as with check=False); hosts that can do it in one round trip."""
        return [self.run(argv, check=False) for argv in argvs]

    def show(self, argv: Sequence[str]) -> None:
        """Print a command as it is about to run (--echo): stderr, since stdout is the task's result."""
        import sys

        sys.stderr.write(f"{self.name}$ {shlex.join(str(a) for a in argv)}\n")
        sys.stderr.flush()

    @abc.abstractmethod
    def run_streaming(self, argv: Sequence[str], source: BinaryIO,
                      sent: Callable[[int], None] | None = None) -> Result:
        """Run argv with `source` streamed to its standard input in chunks (image archives); output captured.

        invoke's in_stream reads one byte at a time and decodes it as text: no use for
        binary data, so each kind of host streams it itself. `sent` is told the bytes so far.
        """

    @abc.abstractmethod
    def _run(self, command: str, *, stdin: str | None, timeout: float | None) -> Result:
        """Run one shell command line; never raise for a non-zero exit."""

    @abc.abstractmethod
    def read_text(self, path: str) -> str | None:
        """The file's text, or None when it does not exist."""

    @abc.abstractmethod
    def write_file(self, path: str, data: str | bytes, mode: int = 0o644) -> bool:
        """Write a file (mode applied before any content lands); False when it was unchanged."""

    @abc.abstractmethod
    def remove(self, path: str) -> bool:
        """Remove a file; False when it was not there."""

    @abc.abstractmethod
    def makedirs(self, path: str, mode: int = 0o700) -> None:
        """Create a directory and its parents (mode for the ones created)."""


class ContextHost(Host):
    """Commands through an invoke Context (local) or a fabric Connection (remote)."""

    def __init__(self, context, name: str = "local"):
        self.context = context
        self.name = name
        self.echo = echoing(context)

    def _run(self, command: str, *, stdin: str | None, timeout: float | None) -> Result:
        # dry=False: probes decide things and must run even under `--dry`.
        r = self.context.run(
            command,
            hide=True,
            warn=True,
            pty=False,
            in_stream=io.StringIO(stdin) if stdin is not None else False,
            timeout=timeout,
            dry=False,
            echo=False,  # --echo is shown by Host.run, on stderr and with the host's name
        )
        return Result(r.exited, r.stdout, r.stderr)

    def run_many(self, argvs: Sequence[Sequence[str]]) -> list[Result]:
        """All in one command, so one SSH channel (u7s/run/batch.py)."""
        if len(argvs) < 2:
            return super().run_many(argvs)
        from u7s.run import batch

        if not self.echo:
            return batch.run_together(self, argvs)
        for argv in argvs:  # shown one by one, not as the batch script that carries them
            self.show(argv)
        self.echo = False
        try:
            return batch.run_together(self, argvs)
        finally:
            self.echo = True


class LocalHost(ContextHost):
    """This machine. File operations use Python directly."""

    def read_text(self, path: str) -> str | None:
        try:
            return Path(path).read_text()
        except FileNotFoundError:
            return None

    def write_file(self, path: str, data: str | bytes, mode: int = 0o644) -> bool:
        raw = data.encode() if isinstance(data, str) else data
        target = Path(path)
        try:
            if target.read_bytes() == raw and (target.stat().st_mode & 0o777) == mode:
                return False
        except FileNotFoundError:
            pass
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True

    def remove(self, path: str) -> bool:
        """Remove a file; False when it was not there."""
        try:
            Path(path).unlink()
            return True
        except FileNotFoundError:
            return False

    def makedirs(self, path: str, mode: int = 0o700) -> None:
        """Create a directory and its parents (mode for the ones created)."""
        Path(path).mkdir(parents=True, exist_ok=True, mode=mode)

    def run_streaming(self, argv: Sequence[str], source: BinaryIO,
                      sent: Callable[[int], None] | None = None) -> Result:
        proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        return pump(source, proc.stdin.write, proc.stdin.close, proc.stdout.read, proc.stderr.read,
                    proc.wait, sent)

    def passthrough(self, argv: Sequence[str], tty: bool = False) -> int:
        """Run argv attached to this terminal (shell, logs); no shell is involved."""
        if self.echo:
            self.show(argv)
        # Ctrl-C or SIGTERM ends the command too, whenever it comes: held back until the command
        # is started and its process known, so no started command is left running on its own.
        signals = {signal.SIGINT, signal.SIGTERM}
        main = threading.current_thread() is threading.main_thread()
        if main:
            signal.pthread_sigmask(signal.SIG_BLOCK, signals)
        try:
            proc = subprocess.Popen([str(a) for a in argv])
        except BaseException:
            if main:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)
            raise
        try:
            if main:  # a signal held back arrives here, where the command can be ended with it
                signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)
            return proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise


def echoing(context) -> bool:
    """Whether the task's configuration asks for each command to be shown (`--echo`, run.echo)."""
    try:
        return context is not None and bool(context.config.run.echo)
    except AttributeError:
        return False


CHUNK = 1 << 20


def pump(source: BinaryIO, write, close, read_out, read_err, wait, sent=None) -> Result:
    """Copy source to a running command's input while its output is drained; its Result."""
    import threading

    out: dict[str, bytes] = {}
    readers = [threading.Thread(target=lambda k=k, r=r: out.__setitem__(k, r()), daemon=True)
               for k, r in (("stdout", read_out), ("stderr", read_err))]
    for t in readers:
        t.start()
    total = 0
    try:
        while chunk := source.read(CHUNK):
            write(chunk)
            total += len(chunk)
            if sent:
                sent(total)
    except (BrokenPipeError, OSError):
        pass  # the command stopped reading: its exit status and stderr say why
    finally:
        try:
            close()
        except OSError:
            pass
    exited = wait()
    for t in readers:
        t.join()
    return Result(exited, out.get("stdout", b"").decode(errors="replace"), out.get("stderr", b"").decode(errors="replace"))
