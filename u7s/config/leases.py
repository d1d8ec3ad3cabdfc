"""Leased port sets: which PORT_* set a cluster takes when none is given (pure, no I/O).

Candidate sets are the defaults first, then every port +100 per set, so the first
cluster on a host keeps the well-known ports and a second one gets the next set.
A set is taken only when every one of its ports is free on every host of the cluster.
"""

from __future__ import annotations

from typing import Dict, Iterable, Iterator, Mapping, Optional, Set

from u7s.config.settings import PORT_DEFAULTS, SPECS
from u7s.errors import SettingsError

STEP = 100
MAX_SETS = 50  # 6443 + 49*100 stays below the ephemeral range (32768) for every default port
UDP_PORTS = frozenset({"PORT_FLANNEL"})  # flannel's VXLAN is UDP; the others are TCP listeners

PortSet = Dict[str, int]


def candidates(defaults: Mapping[str, int] = PORT_DEFAULTS, count: int = MAX_SETS) -> Iterator[PortSet]:
    """The port sets in the order they are tried: the defaults, then +100, +200, ..."""
    for n in range(count):
        yield {name: port + n * STEP for name, port in defaults.items()}


def busy_in(ports: PortSet, tcp: Set[int], udp: Set[int]) -> list:
    """The PORT_* of `ports` that are in use on one host (sorted), by protocol."""
    return sorted(name for name, port in ports.items()
                  if port in (udp if name in UDP_PORTS else tcp))


def choose(in_use: Mapping[str, tuple], held: Iterable[Mapping[str, int]] = (),
           defaults: Mapping[str, int] = PORT_DEFAULTS) -> PortSet:
    """The first candidate set free on every host and not held by another lease.

    in_use maps each host to (tcp ports, udp ports) in use there; held lists the sets
    other clusters have leased (their ports may not listen yet, e.g. a stopped cluster).
    """
    taken = {port for lease in held for port in lease.values()}
    for ports in candidates(defaults):
        if taken.intersection(ports.values()):
            continue
        if all(not busy_in(ports, tcp, udp) for tcp, udp in in_use.values()):
            return ports
    raise SettingsError(f"no free port set among {MAX_SETS} tried on {', '.join(sorted(in_use))}: "
                        "set PORT_ETCD, PORT_KUBELET, PORT_FLANNEL and PORT_KUBE_APISERVER by hand")


def stale(lease: Mapping[str, int], in_use: Mapping[str, tuple]) -> Optional[str]:
    """Why a recorded lease can no longer be used (a port taken by someone else), or None.

    Only for a cluster whose own node is not running: its own listeners hold the ports then.
    """
    for host in sorted(in_use):
        tcp, udp = in_use[host]
        names = busy_in(dict(lease), tcp, udp)
        if names:
            what = ", ".join(f"{n}={lease[n]}" for n in names)
            return (f"{host}: leased port {what} is in use by another program: free it, or run "
                    "cluster.down-v to release the lease (a new set is chosen on the next run), "
                    f"or set {names[0]} by hand")
    return None


def merge(explicit: Mapping[str, object], lease: Mapping[str, int]) -> Dict[str, tuple]:
    """Each PORT_*'s value and origin: explicit values (inventory, --set) win over the lease."""
    out = {}
    for name in PORT_DEFAULTS:
        if name in explicit:
            out[name] = (int(explicit[name]), "explicit")  # type: ignore[arg-type]
        elif name in lease:
            out[name] = (int(lease[name]), "lease")
        else:
            out[name] = (int(SPECS[name].default), "default")
    return out
