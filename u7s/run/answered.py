"""A host whose read-only commands were asked beforehand in one batch (u7s/run/batch.py)."""

from __future__ import annotations

from typing import BinaryIO, Callable, Mapping, Sequence

from u7s.errors import CommandFailed
from u7s.run.hosts import Host, Result


class Answered(Host):
    """`host`, except that commands run beforehand in one batch answer from their results.

    Scoped to one job (a preflight, a status row): the answers are what the host said
    when the job started, which is what its checks would have read a moment later.
    """

    def __init__(self, host: Host, argvs: Sequence[Sequence[str]],
                 known: Mapping[tuple[str, ...], Result] | None = None):
        """Ask `argvs` in one batch, except those `known` already answers (asked earlier in the same run)."""
        self.host, self.name = host, host.name
        known = known or {}
        argvs = [[str(a) for a in argv] for argv in argvs]
        self.answers = {key: known[key] for key in map(tuple, argvs) if key in known}
        missing = [argv for argv in argvs if tuple(argv) not in self.answers]
        self.answers.update(zip(map(tuple, missing), host.run_many(missing)))

    def run(self, argv: Sequence[str], *, check: bool = True, stdin: str | None = None,
            timeout: float | None = None) -> Result:
        argv = [str(a) for a in argv]
        answer = self.answers.get(tuple(argv)) if stdin is None else None
        if answer is None:
            return self.host.run(argv, check=check, stdin=stdin, timeout=timeout)
        if check and not answer.ok:
            raise CommandFailed(self.name, argv, answer.exited, answer.stderr)
        return answer

    def _run(self, command: str, *, stdin: str | None, timeout: float | None) -> Result:
        return self.host._run(command, stdin=stdin, timeout=timeout)

    def run_streaming(self, argv: Sequence[str], source: BinaryIO,
                      sent: Callable[[int], None] | None = None) -> Result:
        return self.host.run_streaming(argv, source, sent)

    def read_text(self, path: str) -> str | None:
        return self.host.read_text(path)

    def write_file(self, path: str, data: str | bytes, mode: int = 0o644) -> bool:
        return self.host.write_file(path, data, mode)

    def remove(self, path: str) -> bool:
        return self.host.remove(path)

    def makedirs(self, path: str, mode: int = 0o700) -> None:
        self.host.makedirs(path, mode)
