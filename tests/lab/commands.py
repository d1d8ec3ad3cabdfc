"""Run local commands for the lab and report progress on stderr.

Every command is an argument list; nothing here builds a shell string from
lab values. Diagnostics go to stderr so that `python -m tests.lab up` keeps
stdout for its JSON.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

_STARTED = time.monotonic()


class LabError(Exception):
    """A lab step failed; the message says which and why."""


class LabCommandError(LabError, subprocess.CalledProcessError):
    """A command exited non-zero; str() carries the tail of its output."""

    def __str__(self) -> str:
        text = f"command {self.cmd!r} exited {self.returncode}"
        for name, data in (("stdout", self.output), ("stderr", self.stderr)):
            if data:
                if isinstance(data, bytes):
                    data = data.decode(errors="replace")
                text += f"\n--- {name} (last lines) ---\n" + "\n".join(data.rstrip().splitlines()[-25:])
        return text


SYSTEM_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def ensure_system_path() -> None:
    """Put the sbin directories on PATH: the lab runs useradd, ip, iptables, sshd as root."""
    path = os.environ.get("PATH", "").split(os.pathsep)
    os.environ["PATH"] = os.pathsep.join([*path, *(d for d in SYSTEM_DIRS if d not in path)])


def log(message: str) -> None:
    """Print one progress line on stderr, with seconds since start."""
    print(f"[lab {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    input: str | bytes | None = None,
    timeout: float | None = 300,
    text: bool = True,
    cwd: str | os.PathLike | None = None,
) -> subprocess.CompletedProcess:
    """Run argv, capture its output, and raise LabCommandError if check and it fails."""
    full_env = None
    if env is not None:
        full_env = {**os.environ, **env}
    result = subprocess.run(
        list(argv),
        capture_output=True,
        text=text,
        env=full_env,
        input=input,
        timeout=timeout,
        cwd=cwd,
        stdin=subprocess.DEVNULL if input is None else None,
    )
    if check and result.returncode != 0:
        raise LabCommandError(result.returncode, list(argv), result.stdout, result.stderr)
    return result


def succeeds(argv: Sequence[str], timeout: float = 60) -> bool:
    """Return whether argv exits 0 (a read-only probe)."""
    try:
        return run(argv, check=False, timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def wait_until(probe, *, what: str, timeout: float, interval: float = 0.25):
    """Poll probe() until it returns a true value; raise LabError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
