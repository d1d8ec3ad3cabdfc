"""Riding out a short API outage: kubectl calls that fail the way a restarting API server fails are tried again.

An API server that restarts (a control-plane upgrade, a node container made anew, etcd
electing a leader) refuses connections or answers 5xx for some seconds. A kubectl call
that meets that is tried again, polling with back-off, for a bounded time; any other
failure (NotFound, Forbidden, a bad patch) is returned at once. A persistent outage is
reported with the last error kubectl printed.
"""

from __future__ import annotations

import re
import time
from typing import Callable

from u7s.errors import U7sError, WaitTimeout
from u7s.run.poll import wait_for

# The longest an outage is ridden out; U7S_TIMEOUT caps it when it is lower.
WINDOW = 60.0
QUOTED = 300  # characters of kubectl's last error line quoted in a message

# What kubectl (client-go) prints for an API server that is not there (yet) or answers 5xx/429:
# "The connection to the server H:P was refused - did you specify the right host or port?",
# "dial tcp H:P: connect: connection refused", "Error from server (ServiceUnavailable): the server is currently
# unable to handle the request", "Error from server (InternalError): an error on the server (...) has prevented
# the request from succeeding", "Unable to connect to the server: net/http: TLS handshake timeout", "unexpected EOF".
TRANSIENT = re.compile(
    r"connection refused|was refused|connection reset by peer|unexpected EOF|\bEOF\b|TLS handshake timeout"
    r"|i/o timeout|\((ServiceUnavailable|InternalError|BadGateway|Timeout|TooManyRequests)\)"
    r"|server is currently unable to handle the request|has prevented the request from succeeding"
    r"|http2: client connection lost|GOAWAY|etcdserver: (leader changed|request timed out)"
    r"|Unable to connect to the server")


class ApiUnavailable(U7sError):
    """The API server kept failing as a restarting one does, for longer than the retry window."""


def is_transient(stderr: str) -> bool:
    """Pure: whether kubectl's error output says the API server was unreachable or answered 5xx (or 429)."""
    # "Unable to connect to the server: ... x509: certificate signed by unknown authority" is another cluster's
    # API (or a stale kubeconfig), not a restarting one.
    return bool(TRANSIENT.search(stderr or "")) and "x509" not in stderr


def window(timeout: float) -> float:
    return min(WINDOW, float(timeout))


def retrying(attempt: Callable[[], object], *, what: str, where: str, timeout: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
    """Run `attempt` (a Result-returning call) until it succeeds or fails for a reason other than an outage.

    Returns the last Result; raises ApiUnavailable when the outage outlasts `timeout` seconds.
    """
    result = attempt()
    if result.ok or not is_transient(result.stderr):
        return result
    latest = [result]

    def settled() -> tuple[bool, str]:
        latest[0] = attempt()
        return latest[0].ok or not is_transient(latest[0].stderr), latest[0].stderr_tail()[:QUOTED]

    try:
        wait_for(settled, what=what, timeout=timeout, interval=0.5, max_interval=3.0, clock=clock, sleep=sleep)
    except WaitTimeout:
        raise ApiUnavailable(f"{where}: the API server did not answer for {timeout:g}s ({what}); last error: "
                             f"{latest[0].stderr_tail()[:QUOTED]}") from None
    return latest[0]
