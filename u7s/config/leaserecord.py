"""A host's side of a port lease: the ports in use there, and the lease record's format.

The ports in use come from /proc/net/{tcp,tcp6,udp,udp6} (`cat`, batched with the
other facts) instead of `ss`, which minimal hosts may lack. The ports a node of the
cluster holds are read back from its compose file (u7s wrote it), so a running
cluster's own listeners never count against its lease.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Dict, Mapping, Optional, Set, Tuple

LEASE_FILE = "u7s-lease.json"
PROC_FILES = ("/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6")
_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


def port_probes() -> list:
    """One `cat` per table (read-only, batched with the host's other facts); a table the host lacks just fails."""
    return [["cat", path] for path in PROC_FILES]


def ports_from(results) -> Tuple[Set[int], Set[int]]:
    """(TCP ports listening, UDP ports bound) from the answers to port_probes(), in order."""
    return parse_ports("".join(f"## {path}\n{r.stdout if r.ok else ''}\n" for path, r in zip(PROC_FILES, results)))


def parse_ports(text: str) -> Tuple[Set[int], Set[int]]:
    """(TCP ports listening, UDP ports bound) from the tables, each after a `## path` line."""
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


# The compose file publishes the PORT_* in this order (compose/docker-compose.yaml.j2).
COMPOSE_ORDER = ("PORT_ETCD", "PORT_KUBE_APISERVER", "PORT_KUBELET", "PORT_FLANNEL")


def compose_ports(text: Optional[str]) -> Dict[str, int]:
    """The PORT_* a compose file u7s wrote publishes ({} for no file or another shape)."""
    import yaml

    try:
        listed = yaml.safe_load(text or "")["services"]["node"]["ports"][:len(COMPOSE_ORDER)]
        return {name: int(str(item).split("/")[0].split(":")[-2]) for name, item in zip(COMPOSE_ORDER, listed)}
    except (LookupError, TypeError, ValueError, yaml.YAMLError):
        return {}


def running(inspect) -> bool:
    """Whether the node container of identity.probes()'s inspect answer exists and runs (unknown: taken as yes)."""
    if inspect is None or not inspect.ok:
        return False
    try:
        data = json.loads(inspect.stdout)
    except ValueError:
        return True
    return not isinstance(data, dict) or data.get("running") is not False
