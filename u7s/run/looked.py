"""A host whose state a run read in one batch at its start, and whose reads answer from it until something changes.

Over a slow link every command a step sends costs a round trip. `create` asks each
host, in one batch, everything its steps will read there when there is nothing to do
(is the node running, initialised, joined, flannel deployed, ...); the steps then
read as they always did, and get these answers instead of asking again.

The answers hold only while nothing has changed, within one run:
- any command not answered here, any file written or removed, any stream sent,
  on any host of the run, may change what the others would say: from then on no
  host answers from its look (`Changes`, shared by the run's hosts);
- a poll asks anew from its second try on (u7s/run/poll.py: `asking_anew`), so a wait
  never spins on an old answer;
- a failed answer is given once: whoever asks again gets the host's own.
"""

from __future__ import annotations

import threading
from typing import BinaryIO, Callable, Sequence

from u7s.run.hosts import Host, Result
from u7s.run.poll import asking_anew


class Changes:
    """How many changes the run made so far (on any of its hosts): a look is good until the first."""

    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()

    def made(self) -> None:
        with self.lock:
            self.count += 1


class Looked(Host):
    """`host`, answering the reads of `look` from one batch while the run changes nothing."""

    def __init__(self, host: Host, changes: Changes):
        self.host, self.name, self.changes = host, host.name, changes
        self.answers: dict[tuple[str, ...], Result] = {}
        self.taken_at = -1  # the change count when the look was taken

    def __getattr__(self, name):  # the inner host's own (a fabric connection's context...)
        if name == "host":
            raise AttributeError(name)
        return getattr(self.host, name)

    @property
    def echo(self) -> bool:
        return self.host.echo

    @echo.setter
    def echo(self, value: bool) -> None:
        self.host.echo = value

    def look(self, argvs: Sequence[Sequence[str]]) -> None:
        """Ask these read-only commands now, in one round trip."""
        argvs = [list(key) for key in dict.fromkeys(tuple(str(a) for a in argv) for argv in argvs)]
        self.taken_at = self.changes.count
        self.answers = dict(zip(map(tuple, argvs), self.host.run_many(argvs)))

    def _answer(self, argv: list[str]) -> Result | None:
        if self.taken_at != self.changes.count or asking_anew():
            return None
        result = self.answers.get(tuple(argv))
        if result is not None and not result.ok:
            self.answers.pop(tuple(argv), None)  # a failure is told once: the next ask may be a retry
        return result

    def run(self, argv: Sequence[str], *, check: bool = True, stdin: str | None = None,
            timeout: float | None = None) -> Result:
        from u7s.errors import CommandFailed

        argv = [str(a) for a in argv]
        answer = self._answer(argv) if stdin is None else None
        if answer is None:
            self.changes.made()  # not a read the look knew: it may change something
            return self.host.run(argv, check=check, stdin=stdin, timeout=timeout)
        if check and not answer.ok:
            raise CommandFailed(self.name, argv, answer.exited, answer.stderr)
        return answer

    def run_many(self, argvs: Sequence[Sequence[str]]) -> list[Result]:
        """Read-only commands: the look's answers where it has them, the rest in one batch."""
        argvs = [[str(a) for a in argv] for argv in argvs]
        known = [self._answer(argv) for argv in argvs]
        missing = [argv for argv, answer in zip(argvs, known) if answer is None]
        asked = iter(self.host.run_many(missing))
        return [answer if answer is not None else next(asked) for answer in known]

    def _run(self, command: str, *, stdin: str | None, timeout: float | None) -> Result:
        self.changes.made()
        return self.host._run(command, stdin=stdin, timeout=timeout)

    def run_streaming(self, argv: Sequence[str], source: BinaryIO,
                      sent: Callable[[int], None] | None = None) -> Result:
        self.changes.made()
        return self.host.run_streaming(argv, source, sent)

    def read_text(self, path: str) -> str | None:
        return self.host.read_text(path)

    def write_file(self, path: str, data: str | bytes, mode: int = 0o644) -> bool:
        wrote = self.host.write_file(path, data, mode)
        if wrote:
            self.changes.made()
        return wrote

    def remove(self, path: str) -> bool:
        self.changes.made()
        return self.host.remove(path)

    def makedirs(self, path: str, mode: int = 0o700) -> None:
        self.changes.made()
        self.host.makedirs(path, mode)

    def passthrough(self, argv, tty: bool = False) -> int:
        self.changes.made()
        return self.host.passthrough(argv, tty)

    def close(self) -> None:
        self.host.close()
