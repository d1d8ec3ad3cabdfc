"""Markers and the lab fixtures of the whole test suite.

Tests that need root, a rootless engine or SSH are marked (`root`, `engine`,
`ssh`); a test that uses the `lab` or `lab_host` fixture gets all three. Where
a prerequisite is missing (a laptop without root, say) such tests are
skipped with the reason; with U7S_LAB=required (CI) they fail instead.
Unit tests under tests/unit use none of this and never start a lab.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
from pathlib import Path

import pytest

LAB_ENV = "U7S_LAB"
# =1: use a lab already up (python -m tests.lab up) and leave it up; =adopt: use it and take it down at the end
REUSE_ENV = "U7S_LAB_REUSE"
LAB_FIXTURES = {"lab", "lab_host"}
MARKERS = {
    "root": "needs root on this machine (the lab creates users, namespaces and a bridge)",
    "engine": "needs rootless Docker (dockerd-rootless.sh, rootlesskit, slirp4netns, newuidmap) and debootstrap",
    "ssh": "needs the OpenSSH client and server",
}
TOOLS = {
    "root": ["ip", "useradd", "nsenter", "unshare", "setpriv", "iptables"],
    "engine": ["docker", "dockerd", "rootlesskit", "slirp4netns", "newuidmap", "newgidmap", "debootstrap"],
    "ssh": ["ssh", "ssh-keygen"],
}
# Where the lab finds tools (it adds the sbin directories to PATH itself).
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin:/usr/sbin:/sbin"])
EXTRA_PATHS = {
    "engine": [Path("/usr/share/docker.io/contrib/dockerd-rootless.sh")],
    "ssh": [Path("/usr/sbin/sshd")],
}


def pytest_configure(config):
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    config.addinivalue_line(
        "markers",
        "extended: a slow lab test outside CI's default run (tests/run.sh --extended runs it)",
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        if LAB_FIXTURES & set(getattr(item, "fixturenames", ())):
            for name in MARKERS:
                if item.get_closest_marker(name) is None:
                    item.add_marker(name)


def pytest_runtest_setup(item):
    needs = [name for name in MARKERS if item.get_closest_marker(name)]
    missing = missing_prerequisites(needs)
    if missing:
        unavailable("; ".join(missing))


def missing_prerequisites(needs) -> list[str]:
    """Return what is missing on this machine for tests needing `needs` (marker names)."""
    missing = []
    if needs and os.geteuid() != 0:
        missing.append("not root")
    for need in needs:
        missing += [f"no {tool}" for tool in TOOLS[need] if shutil.which(tool, path=SEARCH_PATH) is None]
        missing += [f"no {path}" for path in EXTRA_PATHS.get(need, []) if not path.exists()]
    return missing


def unavailable(reason: str) -> None:
    """Skip the test, or fail it when the lab is required (CI)."""
    if os.environ.get(LAB_ENV) == "required":
        pytest.fail(f"lab prerequisite missing and {LAB_ENV}=required: {reason}", pytrace=False)
    pytest.skip(reason)


class LabSession:
    """The session's lab: brought up on first use, taken down (and checked) at the end.

    There is one lab per machine: a second test session waits for the first
    to finish instead of taking its lab away.
    """

    LOCK = Path("/run/lock/u7s-lab.lock")

    def __init__(self):
        self.lab = None
        self.reused = False
        self.lock = None

    def get(self):
        from tests.lab import Lab

        if self.lab is None:
            missing = missing_prerequisites(list(MARKERS))
            if missing:
                unavailable("; ".join(missing))
            self._take_lock()
            if os.environ.get(REUSE_ENV) in ("1", "adopt"):
                self.lab = Lab.existing()
                self.reused = self.lab is not None and os.environ[REUSE_ENV] == "1"
            if self.lab is None:
                self.lab = Lab.up(3)
        return self.lab

    def cycle(self):
        """Take the lab down, return what was left behind, and bring an identical one up again."""
        from tests.lab import Lab, leftovers

        before = self.get()
        before.down()
        left = leftovers()
        self.lab = Lab.up(len(before.hosts))
        if self.lab != before:
            raise AssertionError(f"the lab came back different: {self.lab} != {before}")
        self.lab = before  # the object fixtures already handed out
        return left

    def close(self):
        try:
            if self.lab is not None and not self.reused:
                self.lab.down()  # raises if anything is left behind
                self.lab = None
        finally:
            if self.lock is not None:
                self.lock.close()  # releases the flock
                self.lock = None

    def _take_lock(self):
        if self.lock is not None:
            return
        self.LOCK.parent.mkdir(parents=True, exist_ok=True)
        self.lock = open(self.LOCK, "w")
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"\nwaiting for another test session's lab ({self.LOCK})", file=sys.stderr, flush=True)
            fcntl.flock(self.lock, fcntl.LOCK_EX)


@pytest.fixture(scope="session")
def lab_session():
    session = LabSession()
    yield session
    session.close()


@pytest.fixture(scope="session")
def lab(lab_session):
    """A running three-host lab (tests.lab.Lab), shared by the whole session."""
    return lab_session.get()


@pytest.fixture(scope="session")
def lab_host(lab):
    """The first host of the session's lab (tests.lab.LabHost), for single-host tests."""
    return lab.hosts[0]
