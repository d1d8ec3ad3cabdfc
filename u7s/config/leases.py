"""Leased port sets: which PORT_* set a cluster takes when none is given (pure, no I/O).

Candidate sets are the defaults first, then every port +100 per set, so the first
cluster on a host keeps the well-known ports and a second one gets the next set.
A set is taken only when every one of its ports is free on every host of the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, Mapping, Optional, Set, Tuple

from u7s.config.settings import PORT_DEFAULTS
from u7s.errors import SettingsError

STEP = 100
MAX_SETS = 50  # 6443 + 49*100 stays below the ephemeral range (32768) for every default port
UDP_PORTS = frozenset({"PORT_FLANNEL"})  # flannel's VXLAN is UDP; the others are TCP listeners

PortSet = Dict[str, int]
LEASE = "lease"  # where a reused lease's ports come from (`settings`, `cluster.status`)
NEW = "new lease"  # a set chosen by this run, recorded when a node is made with it


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


def taken(lease: Mapping[str, int], in_use: Mapping[str, tuple]) -> Dict[str, str]:
    """Per host where a leased port is now in use by someone else: one line naming the port and the fix.

    in_use leaves out what this cluster's own node holds there (its own listeners are no conflict).
    """
    out = {}
    for host in sorted(in_use):
        tcp, udp = in_use[host]
        names = busy_in(dict(lease), tcp, udp)
        if names:
            what = ", ".join(f"{n}={lease[n]}" for n in names)
            out[host] = (f"leased port {what} is in use by another program: stop it, or set {names[0]} to a free port "
                         "for this cluster (explicit PORT_* win over the lease; `cluster.down-v` releases the lease "
                         "with the cluster's data)")
    return out


def stale(lease: Mapping[str, int], in_use: Mapping[str, tuple]) -> Optional[str]:
    """The first host's line of taken(), the host named; None when every leased port is free."""
    found = taken(lease, in_use)
    host = next(iter(found), None)
    return f"{host}: {found[host]}" if host else None


@dataclass(frozen=True)
class HostView:
    """What one host said about this cluster's ports (u7s/config/leaserecord.py reads it)."""

    record: Mapping[str, int]  # this cluster's lease recorded on the host ({} for none)
    in_use: tuple  # (tcp, udp) ports in use there, this cluster's own node's left out
    made: Mapping[str, int]  # the ports this cluster's compose file there publishes ({} for none)


def without(in_use: tuple, own: Mapping[str, int]) -> tuple:
    """(tcp, udp) in use minus the ports a node of this cluster holds."""
    tcp, udp = in_use
    mine_udp = {p for n, p in own.items() if n in UDP_PORTS}
    mine_tcp = {p for n, p in own.items() if n not in UDP_PORTS}
    return set(tcp) - mine_tcp, set(udp) - mine_udp


def given_ports(*layers: Mapping[str, object]) -> set:
    """The PORT_* given anywhere (config, inventory, any host, --set): no lease value is used for them."""
    return {key for layer in layers for key, value in layer.items()
            if key in PORT_DEFAULTS and value is not None and str(value) != ""}


def decide(given: set, controller: Mapping[str, int], hosts: Mapping[str, HostView],
           held: Iterable[Mapping[str, int]] = ()) -> Tuple[PortSet, str, Dict[str, str]]:
    """(the PORT_* the lease gives, where they come from, {host: why a leased port cannot be used}).

    hosts in order of preference (the control plane first). Reused first: the controller's
    record, else a host's; a cluster made before leases keeps the ports its node was made
    with. A new set is chosen only when no PORT_* is given at all.
    """
    recorded = dict(controller) or next((dict(v.record) for v in hosts.values() if v.record), {})
    origin = LEASE
    if not recorded:
        if given:
            return {}, "", {}
        recorded, origin = next((dict(v.made) for v in hosts.values() if v.made), {}), NEW
    in_use = {name: v.in_use for name, v in hosts.items()}
    if not recorded:
        return choose(in_use, held), NEW, {}
    ports = {k: int(v) for k, v in recorded.items() if k in PORT_DEFAULTS and k not in given}
    return ports, origin, taken(ports, in_use)


def ports_text(s) -> str:
    """The ports a host's settings use and where they came from, for `cluster.status`: `6543,2479,10350,8572/udp
    (lease)` (API server, etcd, kubelet, Flannel); each port with its origin when they differ."""
    order = ("PORT_KUBE_APISERVER", "PORT_ETCD", "PORT_KUBELET", "PORT_FLANNEL")
    shown = {key: f"{s.ports[key]}/udp" if key in UDP_PORTS else str(s.ports[key]) for key in order}
    origins = {key: s.sources.get(key, "default") for key in shown}
    if len(set(origins.values())) == 1:
        return f"{','.join(shown.values())} ({next(iter(origins.values()))})"
    return ",".join(f"{shown[key]} ({origins[key]})" for key in shown)
