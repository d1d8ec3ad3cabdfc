"""Start the lab's daemons and end them again by the ids the lab recorded.

A daemon is started in a session of its own, so its process id is also its
process group id. The lab records (pid, start time); a later teardown signals
that group only if a process with that pid still has that start time, which
rules out hitting an unrelated process that reused the number.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Daemon:
    """A process the lab started: its pid (= process group) and kernel start time."""

    role: str
    host: str
    pid: int
    start_time: int

    def to_json(self) -> dict:
        return {"role": self.role, "host": self.host, "pid": self.pid, "start_time": self.start_time}

    @classmethod
    def from_json(cls, data: dict) -> Daemon:
        return cls(role=data["role"], host=data["host"], pid=int(data["pid"]), start_time=int(data["start_time"]))

    def alive(self) -> bool:
        return start_time(self.pid) == self.start_time


def start_time(pid: int) -> int | None:
    """Return the start time (clock ticks after boot) of pid, or None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def spawn(argv: Sequence[str], *, role: str, host: str, log_path: Path) -> Daemon:
    """Start argv in a new session with output appended to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    # Let the kernel publish /proc/PID before reading its start time.
    for _ in range(100):
        started = start_time(proc.pid)
        if started is not None or proc.poll() is not None:
            break
        time.sleep(0.01)
    if started is None:
        raise OSError(f"{role} on {host} exited at once (exit {proc.poll()}); see {log_path}")
    return Daemon(role=role, host=host, pid=proc.pid, start_time=started)


def stop(daemons: Iterable[Daemon], *, grace: float = 5.0) -> None:
    """Send SIGTERM to each daemon's process group, then SIGKILL what is left after `grace` seconds."""
    live = [d for d in daemons if d.alive()]
    for daemon in live:
        _signal_group(daemon.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while live and time.monotonic() < deadline:
        _reap(live)
        live = [d for d in live if d.alive()]
        time.sleep(0.1)
    for daemon in live:
        _signal_group(daemon.pid, signal.SIGKILL)
    _reap(live)


def pids_owned_by(uid_ranges: Sequence[range]) -> list[int]:
    """Return live (non-zombie) pids whose real uid falls in one of uid_ranges."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("State", "").strip().startswith("Z"):
            continue
        uid = int(fields["Uid"].split()[0])
        if any(uid in r for r in uid_ranges):
            found.append(int(entry.name))
    return found


def kill_all(pids_source, *, what: str, timeout: float = 10.0) -> None:
    """SIGKILL every pid pids_source() returns until it returns none (a fork may race one pass)."""
    deadline = time.monotonic() + timeout
    while True:
        pids = pids_source()
        if not pids:
            return
        if time.monotonic() > deadline:
            raise OSError(f"{what}: processes {sorted(pids)[:20]} survive SIGKILL")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _reap(daemons: Iterable[Daemon]) -> None:
    """Collect exit statuses of daemons that are our own children (no zombies left behind)."""
    for daemon in daemons:
        try:
            os.waitpid(daemon.pid, os.WNOHANG)
        except ChildProcessError:
            pass
