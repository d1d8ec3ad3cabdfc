"""Waiting for a condition by polling it, never by sleeping a fixed time."""

from __future__ import annotations

import time
from typing import Callable

from u7s.errors import WaitTimeout


def wait_for(
    check: Callable[[], tuple[bool, str]],
    *,
    what: str,
    timeout: float,
    interval: float = 0.25,
    max_interval: float = 3.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Call `check` until it returns (True, detail); back off between tries.

    Returns the last detail. On expiry raises WaitTimeout naming `what`, the
    timeout and the last detail seen, so the user knows what was not reached.
    """
    deadline = clock() + timeout
    detail = "not checked yet"
    while True:
        done, detail = check()
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
