"""Waiting for a condition by polling it, never by sleeping a fixed time."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable

from u7s.errors import WaitTimeout

_retrying = threading.local()


def asking_anew() -> bool:
    """Whether this thread is polling again: an answer read before the poll began is no answer now
    (u7s/run/looked.py)."""
    return getattr(_retrying, "depth", 0) > 0


@contextlib.contextmanager
def _anew():
    _retrying.depth = getattr(_retrying, "depth", 0) + 1
    try:
        yield
    finally:
        _retrying.depth -= 1


def wait_for(
    check: Callable[[], tuple[bool, str]],
    *,
    what: str,
    timeout: float,
    interval: float = 0.25,
    max_interval: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Call `check` until it returns (True, detail); back off between tries, up to `max_interval`.

    What u7s waits for (a node's boot, the API, a kubelet registering, pods Ready) comes within
    seconds: a longer interval would end the wait up to that long after the condition held.

    Returns the last detail. On expiry raises WaitTimeout naming `what`, the
    timeout and the last detail seen, so the user knows what was not reached.
    """
    deadline = clock() + timeout
    detail = "not checked yet"
    tries = 0
    while True:
        with _anew() if tries else contextlib.nullcontext():  # from the second try on: the host's own answer
            done, detail = check()
        tries += 1
        if done:
            return detail
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeout(
                f"timed out after {timeout:g}s waiting for {what} (last seen: {detail}); "
                "raise U7S_TIMEOUT if the host is slow"
            )
        sleep(min(interval, remaining))
        interval = min(interval * 1.5, max_interval)
