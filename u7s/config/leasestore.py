"""The controller's record of each cluster's port lease: ~/.local/state/u7s/leases/CLUSTER.json (0600).

Beside the record on each host (in the cluster's working directory), it lets the next
run reuse the set when a host's record is gone, and lets a new cluster of this user pass
over the sets of the user's other clusters even while their nodes are stopped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List

from u7s.config import leaserecord as lease

STATE_DIR = "~/.local/state/u7s"


def _path(cluster: str) -> Path:
    return Path(lease.controller_path(os.path.expanduser(STATE_DIR), cluster))


def read(cluster: str) -> Dict[str, int]:
    """This cluster's recorded ports, {} when there is no record (or an unreadable one)."""
    try:
        return lease.read(_path(cluster).read_text(), cluster)
    except OSError:
        return {}


def others(cluster: str) -> List[Dict[str, int]]:
    """The port sets recorded for this user's other clusters."""
    folder = _path(cluster).parent
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if path.stem != cluster:
            try:
                found.append(lease.read(path.read_text(), path.stem))
            except OSError:
                continue
    return [ports for ports in found if ports]


def write(cluster: str, ports: Dict[str, int]) -> None:
    """Record the lease (directory 0700, file 0600, written whole: a reader never sees half of it)."""
    path = _path(cluster)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = lease.record(cluster, ports)
    try:
        if path.read_text() == text:
            return
    except OSError:
        pass
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(partial, path)


def release(cluster: str) -> bool:
    """Remove the record; False when there was none."""
    try:
        _path(cluster).unlink()
        return True
    except FileNotFoundError:
        return False
