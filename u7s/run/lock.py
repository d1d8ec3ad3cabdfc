"""One run at a time: lock files held with flock(2) for the length of a run.

The controller takes one lock per cluster before it touches any host:
~/.local/state/u7s/locks/NAME-ID.lock, where NAME is the inventory's cluster name
and ID the first 16 hex digits of sha256(absolute inventory path + newline + NAME).
The kernel drops a flock when its holder dies, however it dies, so a lock is
never left held by a dead process; the JSON written into the file
({host, pid, start, since, command}) only names the holder in the message a
second run prints, and tells the next run that it took over after a crash.
Read-only tasks and --dry-run take no lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shlex
import socket
import sys
import time

from u7s.errors import U7sError

LOCK_DIR = "~/.local/state/u7s/locks"
_held: list["FileLock"] = []


class LockHeld(U7sError):
    """Another run holds the lock; the message names it."""


def cluster_lock_path(inventory_path: str, name: str) -> str:
    absolute = os.path.realpath(inventory_path)
    digest = hashlib.sha256(f"{absolute}\n{name}".encode()).hexdigest()[:16]
    return os.path.join(os.path.expanduser(LOCK_DIR), f"{name}-{digest}.lock")


def command_line() -> str:
    """How this run was started, short enough for a message."""
    text = shlex.join(["u7s", *sys.argv[1:]])
    return text if len(text) <= 120 else text[:120] + "..."


def owner(command: str | None = None) -> dict:
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": process_start(pid),
            "since": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": command or command_line()}


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22): tells pid reuse apart."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return fields[19]
    except (OSError, IndexError):
        return None


def describe(holder: dict | None) -> str:
    if not holder:
        return "another run (no details recorded yet)"
    return (f"`{holder.get('command', '?')}` (pid {holder.get('pid', '?')} on {holder.get('host', '?')}, "
            f"since {holder.get('since', '?')})")


def parse_owner(text: str) -> dict | None:
    try:
        data = json.loads(text) if text.strip() else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class FileLock:
    """An exclusive flock on a file of this machine, with the holder recorded in it."""

    def __init__(self, path: str, what: str):
        self.path, self.what = path, what
        self.fd: int | None = None
        self.took_over: dict | None = None  # what a dead holder left behind

    def acquire(self, command: str | None = None) -> "FileLock":
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = parse_owner(os.pread(fd, 4096, 0).decode(errors="replace"))
            os.close(fd)
            raise LockHeld(f"{self.what} is in use by {describe(holder)}; wait for it to finish "
                           f"(lock: {self.path})") from None
        # Got it: whatever is recorded is from a run that ended without releasing (killed).
        self.took_over = parse_owner(os.pread(fd, 4096, 0).decode(errors="replace"))
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(owner(command)).encode(), 0)
        self.fd = fd
        _held.append(self)
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)  # a clean end leaves nothing to take over
        finally:
            os.close(self.fd)  # closing drops the flock
            self.fd = None
            if self in _held:
                _held.remove(self)


def hold(lock) -> None:
    """Remember a lock of another kind (a host's) to release with the others at the end of the task."""
    _held.append(lock)


def release_all() -> None:
    """Release every lock this process holds, newest first (end of a task, or its failure)."""
    while _held:
        lock = _held[-1]
        try:
            lock.release()
        finally:
            if _held and _held[-1] is lock:
                _held.pop()


def take_cluster(inventory_path: str, name: str) -> FileLock:
    """The controller's lock for this cluster; raises LockHeld naming the holder."""
    return FileLock(cluster_lock_path(inventory_path, name), f"cluster {name} ({inventory_path})").acquire()
