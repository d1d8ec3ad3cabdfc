"""A host's side of a port lease: the ports in use there, and the lease record's format.

The ports in use come from /proc/net/{tcp,tcp6,udp,udp6} (one `cat`, batchable with
the other facts) instead of `ss`, which minimal hosts may lack.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Dict, Mapping, Set, Tuple

LEASE_FILE = "u7s-lease.json"
PROC_FILES = ("/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6")
_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


def ports_command() -> list:
    """The argument list printing every table, each after a `## path` marker line."""
    script = 'for f in "$@"; do echo "## $f"; cat "$f" 2>/dev/null; done'
    return ["sh", "-c", script, "sh", *PROC_FILES]


def parse_ports(text: str) -> Tuple[Set[int], Set[int]]:
    """(TCP ports listening, UDP ports bound) from the output of ports_command()."""
    tcp: Set[int] = set()
    udp: Set[int] = set()
    table = None
    for line in text.splitlines():
        if line.startswith("## "):
            table = udp if "/udp" in line else tcp
            continue
        fields = line.split()
        if table is None or len(fields) < 4 or ":" not in fields[1] or fields[0] == "sl":
            continue
        if table is tcp and fields[3] != _LISTEN:
            continue
        table.add(int(fields[1].rsplit(":", 1)[1], 16))
    return tcp, udp


def record(cluster: str, ports: Mapping[str, int]) -> str:
    """The lease file's text (on each host and on the controller)."""
    return json.dumps({"cluster": cluster, "ports": dict(sorted(ports.items()))}, indent=2) + "\n"


def read(text: str, cluster: str) -> Dict[str, int]:
    """The ports of a lease file, or {} when it is absent, unreadable or another cluster's."""
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(data, dict) or data.get("cluster") != cluster or not isinstance(data.get("ports"), dict):
        return {}
    return {str(k): int(v) for k, v in data["ports"].items() if str(k).startswith("PORT_")}


def host_path(workdir: str) -> str:
    """Where the lease lives on a host: in the cluster's working directory (gone with down-v)."""
    return str(PurePosixPath(workdir) / LEASE_FILE)


def controller_path(state_dir: str, cluster: str) -> str:
    """The controller's record: ~/.local/state/u7s/leases/CLUSTER.json."""
    return str(PurePosixPath(state_dir) / "leases" / f"{cluster}.json")
