"""One run at a time on each host: a lock in the host's working directory, held for the run.

Runs from other controllers (or other inventories naming the same host) meet
here. On a remote host the lock is `flock` holding WORKDIR/.u7s.lock around a
`cat` that reads the SSH channel: when this run ends, or dies, the channel
closes, `cat` sees end of input and the lock is released, so a killed run never
leaves a host locked. WORKDIR/.u7s.lock.owner names the holder for the message
a second run prints. On this machine the lock is taken directly with flock(2).

Over a slow link each command is a round trip: one command makes the working
directory, takes the lock, writes the owner file (0600, while holding the lock) and
says `locked`; the same script removes the owner file when its input ends, still
under the lock, so releasing is closing the channel and waits for no answer.
"""

from __future__ import annotations

import json
import posixpath
import shlex

from u7s.errors import U7sError
from u7s.run.lock import FileLock, LockHeld, describe, hold, owner, parse_owner

LOCK_FILE = ".u7s.lock"
WAIT = 5  # seconds: a session that just ended may still be releasing its lock
CONFLICT = 75
# Fixed scripts: the directory, the lock file and the owner's JSON are positional parameters.
TAKE = 'mkdir -p -m 700 -- "$1" || exit 126; shift; exec flock "$@"'
HOLD = 'umask 077; printf "%s\\n" "$2" >"$1.owner" || exit 126; echo locked; cat >/dev/null; rm -f -- "$1.owner"'


class RemoteLock:
    def __init__(self, host, path: str, channel):
        self.host, self.path, self.channel = host, path, channel
        self.took_over = None  # a dead run's lock is gone with its SSH session

    def release(self) -> None:
        """Close the channel: `cat` ends, the script removes the owner file, flock lets go (no answer awaited)."""
        if not self.channel.closed:
            self.channel.close()


def take(host, workdir: str, command: str | None = None):
    """Hold the lock of `workdir` on `host`; raise LockHeld naming the holder."""
    from u7s.run.hosts import LocalHost

    path = posixpath.join(workdir, LOCK_FILE)
    if isinstance(host, LocalHost):
        lock = FileLock(path, f"{host.name}: {workdir}").acquire(command)
        return lock
    channel = host.context.create_session()  # fabric's, or one opened ahead (u7s/run/sessions.py)
    channel.settimeout(WAIT + 30)
    channel.exec_command(shlex.join(take_argv(workdir, json.dumps(owner(command)))))
    first = channel.makefile("r").readline().strip()
    if first == "locked":
        channel.settimeout(None)
        held = RemoteLock(host, path, channel)
        hold(held)
        return held
    status = channel.recv_exit_status()
    channel.close()
    if status == CONFLICT:
        holder = parse_owner(host.read_text(path + ".owner") or "")
        raise LockHeld(f"{host.name}: {workdir} is in use by {describe(holder)}; wait for it to finish")
    if status == 127:
        raise U7sError(f"{host.name}: `flock` is not installed; install util-linux there")
    if status == 126:
        raise U7sError(f"{host.name}: cannot make {workdir} or write {path}.owner there (exit 126); check its "
                       "owner and free space")
    raise U7sError(f"{host.name}: cannot lock {path} (flock exited {status})")


def take_argv(workdir: str, owner_json: str) -> list[str]:
    """The one command that makes `workdir`, takes its lock, names the holder and holds it until input ends."""
    path = posixpath.join(workdir, LOCK_FILE)
    return ["sh", "-c", TAKE, "u7s-lock", workdir, "-w", str(WAIT), "-E", str(CONFLICT), path,
            "sh", "-c", HOLD, "u7s-lock-hold", path, owner_json]


def lock_all(members, command: str | None = None) -> None:
    """Take every healthy member's host lock; if any is held elsewhere, release ours and stop."""
    from u7s.run.parallel import run_parallel

    taken: dict[str, object] = {}

    def one(member) -> str:
        taken[member.name] = take(member.host, member.settings.workdir, command)
        return ""

    result = run_parallel(members, one)
    if result.failed:
        for lock in taken.values():
            lock.release()
        raise U7sError("\n".join(f"{name}: {why}" for name, why in sorted(result.failed.items())))
