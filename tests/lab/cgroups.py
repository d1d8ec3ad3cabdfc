"""A cgroup v2 subtree per lab host, seen by the host as its whole /sys/fs/cgroup.

The machines boot with cgroup v1 and cgroup2 mounted aside, without
controllers. Each lab host gets `/u7slab/hK` in the machine's cgroup2
hierarchy and its own cgroup namespace rooted there; inside, the host mounts
cgroup2 at /sys/fs/cgroup and finds the layout of a systemd host:
`user.slice/user-UID.slice/user@UID.service` owned by the lab user
(delegated, as systemd does for user@.service). The rootless engine runs
there; systemd inside a node container can then create its own cgroups.
"""

from __future__ import annotations

import time
from pathlib import Path

from .layout import PREFIX


def cgroup2_root() -> Path:
    """Return where the machine has cgroup2 mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid boots)."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        if right.split()[0] == "cgroup2":
            return Path(left.split()[4])
    raise OSError("no cgroup2 file system is mounted on this machine")


def host_cgroup(host_name: str) -> Path:
    """Return the machine-side path of a lab host's cgroup subtree."""
    return cgroup2_root() / PREFIX / host_name


def create_host_cgroup(host_name: str) -> Path:
    """Create the host's subtree; return its path (processes written to its cgroup.procs move in)."""
    path = host_cgroup(host_name)
    path.mkdir(parents=True, exist_ok=True)
    return path


def remove_all(timeout: float = 10.0) -> bool:
    """Remove the lab's cgroup subtree, deepest first; return whether one was there.

    Call after every lab process has ended: a cgroup with processes cannot be
    removed. The kernel may need a moment to notice a cgroup emptied.
    """
    try:
        top = cgroup2_root() / PREFIX
    except OSError:
        return False
    if not top.exists():
        return False
    deadline = time.monotonic() + timeout
    while True:
        dirs = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
        busy = []
        for path in [*dirs, top]:
            try:
                path.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                busy.append(path)
        if not busy:
            return True
        if time.monotonic() > deadline:
            raise OSError(f"lab cgroups still busy: {[str(p) for p in busy[:5]]}")
        time.sleep(0.2)
