"""Run one u7s task and count, per host, the remote operations it waited for (each at least one round trip).

    python -m tests.lab.roundtrips OUT.json cluster.create --inventory hosts.yaml

u7s runs in this process, as its program would, with the remote host class's operations
wrapped: a command (one SSH channel; a batch of commands is one), a file read, write or
removal, a directory made (SFTP), and taking the host lock (a channel of its own,
u7s/run/hostlock.py). Operations inside another (a write that makes its directory) count
once, as part of the outer one. OUT.json gets, per host, the count and
each operation's kind and first words (no file contents, no command output: nothing secret).
The task's own exit status is this program's.

The lab tests hold these counts (tests/integration/test_cluster.py, test_network.py; the unit
test tests/unit/steps/test_round_trips.py holds the steps' share without a lab), so a change that adds
round trips to a fleet operation fails; bench/latency.py measures what they cost on a slow link.
"""

from __future__ import annotations

import functools
import json
import sys
import threading

OPERATIONS = ("_run", "run_streaming", "read_text", "write_file", "remove", "makedirs")
_inside = threading.local()


def _first_words(op: str, args) -> str:
    if op == "_run":
        words = args[0].split()
        if words[:2] == ["sh", "-c"] and "u7s-batch" in args[0]:
            return "batch of commands"
        return " ".join(words[:4])[:80]
    if op == "run_streaming":
        return " ".join(str(a) for a in args[0][:4])[:80]
    return str(args[0])[:120]


def count(seen: dict) -> None:
    """Wrap RemoteHost's operations so each outermost one is recorded under its host's name."""
    from u7s.run.remote import RemoteHost

    lock = threading.Lock()
    for op in OPERATIONS:
        original = getattr(RemoteHost, op)

        def wrapper(self, *args, _original=original, _op=op, **kwargs):
            if getattr(_inside, "depth", 0) == 0:
                with lock:
                    seen.setdefault(self.name, []).append(f"{_op.strip('_')}: {_first_words(_op, args)}")
            _inside.depth = getattr(_inside, "depth", 0) + 1
            try:
                return _original(self, *args, **kwargs)
            finally:
                _inside.depth -= 1

        setattr(RemoteHost, op, functools.wraps(original)(wrapper))
    _count_locks(seen, lock)


def _count_locks(seen: dict, lock) -> None:
    """The host lock opens its own channel (not one of RemoteHost's operations): one operation a host."""
    from u7s.run import hostlock

    original = hostlock.take

    def take(host, workdir, command=None):
        if getattr(host, "context", None) is not None and host.__class__.__name__ != "LocalHost":
            with lock:
                seen.setdefault(host.name, []).append(f"lock: {workdir}")
        return original(host, workdir, command)

    hostlock.take = take


def main(argv: list[str]) -> int:
    out, task_argv = argv[0], argv[1:]
    seen: dict[str, list[str]] = {}
    count(seen)
    from u7s import program

    code = 0
    sys.argv = ["u7s", *task_argv]
    try:
        program.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    with open(out, "w") as handle:
        json.dump({host: {"operations": len(ops), "each": ops} for host, ops in sorted(seen.items())}, handle,
                  indent=1)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
