"""Run one action on many hosts at once and collect each host's outcome.

A failing host does not stop the others: every result is kept per host, and the
caller decides which later steps can still run.
"""

from __future__ import annotations

import concurrent.futures
import socket
from dataclasses import dataclass, field
from typing import Callable

from u7s.errors import U7sError


@dataclass
class StepResult:
    ok: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


# Errors that mean "this host failed", not "u7s has a bug": reported per host.
HOST_ERRORS: tuple[type[BaseException], ...] = (U7sError, OSError, EOFError, socket.timeout)


# How many hosts any one step handles at once (`--forks`, `u7s.forks`, the inventory's cluster.forks):
# a step on a fleet of hundreds opens at most this many SSH connections, or runs this many commands,
# at a time, so a bastion's MaxStartups and the controller's file limits are never met all at once.
DEFAULT_FORKS = 30
_forks = [DEFAULT_FORKS]


def set_forks(count: int | None) -> None:
    """The bound for the rest of this run (None: the default); a cluster task sets it once, as it opens."""
    _forks[0] = count or DEFAULT_FORKS


def forks() -> int:
    return _forks[0]


def _queue(members: list, at_once: int) -> None:
    # On a terminal each host has a live row: the ones beyond the first `at_once` show that they wait.
    for member in members[at_once:]:
        waiting = getattr(getattr(member, "report", None), "waiting", None)
        if waiting:
            waiting(f"waiting its turn ({at_once} hosts at a time)")


def _host_errors() -> tuple[type[BaseException], ...]:
    import invoke
    import paramiko

    return HOST_ERRORS + (paramiko.SSHException, invoke.exceptions.CommandTimedOut)


def run_parallel(
    members: list,
    action: Callable[[object], str],
    *,
    limit: int | None = None,
) -> StepResult:
    """Run action on every member at once (at most `limit`, and never more than forks(), at a time).

    Each host's outcome is collected; members start in the order given.
    """
    result = StepResult()
    if not members:
        return result
    host_errors = _host_errors()
    unexpected: list[BaseException] = []

    def collect(member, future) -> None:
        try:
            message = future.result()
        except host_errors as exc:
            reason = str(exc) or type(exc).__name__
            reason = reason.removeprefix(f"{member.name}: ")
            member.failed = reason
            result.failed[member.name] = reason
            member.report.error(reason)
        except BaseException as exc:  # a bug: finish the others, then raise with its traceback
            unexpected.append(exc)
            member.failed = f"internal error: {exc!r}"
            result.failed[member.name] = member.failed
        else:
            result.ok[member.name] = message
            if message:
                member.report.done(message)

    at_once = min(limit or len(members), len(members), forks())
    _queue(members, at_once)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=at_once)
    try:
        futures = {pool.submit(action, m): m for m in members}
        for future in concurrent.futures.as_completed(futures):
            collect(futures[future], future)
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: hosts not started yet are not started; the ones under way
        # finish what they are doing (a file write, a command), so nothing is left half done.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
    if unexpected:
        raise unexpected[0]
    return result
