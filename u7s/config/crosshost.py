"""Rules across an inventory's hosts, kept apart from the per-key parsing.

A loopback HOST_IP only works when every node is on one machine: in an inventory
of more than one host the others could not reach it. Hosts that give the same
HOST_IP (however it is written) publish their ports on one address, so their
port sets must not collide: the caller checks them like hosts sharing an address.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable

from u7s.config import values
from u7s.config.layers import Layers


def host_ip_groups(hosts: Iterable, labels: dict[str, str]) -> tuple[list[tuple[str, str]], dict[str, list]]:
    """(problems as (where, message), hosts grouped by a HOST_IP they share)."""
    hosts = list(hosts)
    problems: list[tuple[str, str]] = []
    by_ip: dict[ipaddress.IPv4Address, list] = {}
    for h in hosts:
        raw = h.settings.get("HOST_IP")
        if not isinstance(raw, str):
            continue
        try:
            ip = ipaddress.IPv4Address(raw.strip())
        except ValueError:
            continue  # the settings check reports it
        if ip.is_loopback and len(hosts) > 1:
            problems.append((f"{labels.get(h.name, h.name)}.settings.HOST_IP",
                             f"{ip} is a loopback address, which the other hosts cannot reach; give an "
                             "address they reach (loopback only suits an inventory of one host)"))
        by_ip.setdefault(ip, []).append(h)
    return problems, {f"HOST_IP {ip}": group for ip, group in by_ip.items() if len(group) > 1}


def check_overrides(inventory, flags: dict, config: dict | None = None) -> None:
    """Validate `--set` values and the u7s: config's settings with every host's before any host is touched
    (an inventory parsed without them; inventory.parse checks them itself when given them)."""
    from u7s.errors import InventoryError

    config = config or {}
    if not flags and not config:
        return
    Layers(config=config, flags=flags).merged()  # an unknown name there: one line, at once
    problems: list[str] = []
    for h in inventory.hosts:
        stack = Layers(config=config, host=h.settings, flags=flags)
        for layer, key, problem in placeholder_problems(stack):
            line = override_line(stack, layer, key, problem) or \
                f"{inventory.path}: {h.name}: {key}: {problem} (with the --set and config values)"
            if line not in problems:
                problems.append(line)
    if problems:
        raise InventoryError(problems)


def placeholder_problems(stack: Layers) -> list[tuple[str | None, str, str]]:
    """(the layer that gave the bad value, its key, the problem) for each problem of `stack`'s values, checked
    with placeholders for what only the host can tell: the one validation of a host's settings before any
    host is reached. A derived value's layer is None; a problem of no one key has key ""."""
    from u7s.config.placeholders import PlaceholderFacts
    from u7s.config.resolve import resolve
    from u7s.errors import SettingsError

    try:
        resolve(PlaceholderFacts(), layers=stack)
    except SettingsError as exc:
        if not exc.keyed:
            return [(None, "", line.replace(" (from config)", "")) for line in str(exc).splitlines()]
        return [(stack.winner(key), key, problem) for key, problem in exc.keyed]
    return []


def override_line(stack: Layers, layer: str | None, key: str, problem: str) -> str | None:
    """The line for a problem of a value from --set or the config (named there, not in the inventory)."""
    if layer == "flags":
        return f"--set {key}={values.shown(stack.flags[key], quote=False)}: {problem}"
    if layer == "config":
        return f"config u7s.{key}={values.shown(stack.config[key], quote=False)}: {problem}"
    return None


# One value per cluster: kubeadm join hands every worker the kubelet configuration made at init (its
# port included), and flannel's VXLAN port is one value of its DaemonSet.
CLUSTER_WIDE = {
    "PORT_KUBELET": "kubeadm join gives every node the kubelet port set at init",
    "PORT_FLANNEL": "flannel's VXLAN port is one value for the whole DaemonSet",
    "POD_SUBNET": "kubeadm init and flannel set the pod range once for the cluster",
    "SERVICE_SUBNET": "kubeadm init sets the service range once for the cluster",
    "CNI": "one pod network (its DaemonSet) carries the whole cluster",
}


def check_cluster_wide(inventory, config: dict, flags: dict) -> None:
    """Refuse hosts that differ in a cluster-wide setting, before any host is touched.

    Each host's value is the one its layers give (u7s/config/layers.py), else the default.
    """
    from u7s.errors import InventoryError
    from u7s.config.settings import POD_SUBNET, PORT_DEFAULTS, SERVICE_SUBNET

    defaults = {**PORT_DEFAULTS, "POD_SUBNET": POD_SUBNET, "SERVICE_SUBNET": SERVICE_SUBNET, "CNI": "flannel"}
    problems = []
    for key, why in CLUSTER_WIDE.items():
        by_value: dict[str, list[str]] = {}
        for h in inventory.hosts:
            value = Layers(config=config, host=h.settings, flags=flags).explicit().get(key, defaults[key])
            by_value.setdefault(str(value).strip(), []).append(h.name)
        if len(by_value) > 1:
            shown_ = "; ".join(f"{value} on {', '.join(names)}" for value, names in by_value.items())
            problems.append(f"{inventory.path}: hosts: {key} differs between hosts ({shown_}): {why}; "
                            f"set {key} once, under the top-level settings")
    if problems:
        raise InventoryError(problems)


def check_resolved(members: list) -> None:
    """Resolved settings that clash across hosts: one NODE_NAME twice, one HOST_IP on two machines, or one
    HOST_IP:port twice."""
    from u7s.errors import U7sError

    problems = []
    seen: dict[str, str] = {}
    for m in members:
        s = m.settings
        if s.node_name in seen:
            problems.append(f"{seen[s.node_name]} and {m.name} resolve to the same NODE_NAME {s.node_name}; "
                            "set NODE_NAME for one of them in hosts.yaml")
        seen.setdefault(s.node_name, m.name)
    nat, behind_nat = shared_route_addresses(members)
    problems += nat
    ports: dict[tuple[str, int], str] = {}
    for m in members:
        if m.name in behind_nat:  # other ports would not help them: said above
            continue
        for key, port in m.settings.host_ports.items():
            place = (m.settings.host_ip, port)
            if place in ports and ports[place] != m.name:
                problems.append(f"{ports[place]} and {m.name} both use {m.settings.host_ip}:{port} ({key}); "
                                "give one of them other PORT_* values")
            ports.setdefault(place, m.name)
    if problems:
        raise U7sError("\n".join(problems))


def shared_route_addresses(members: list) -> tuple[list[str], set[str]]:
    """(one line per HOST_IP that the default route gave hosts on different machines, the hosts named).

    NAT'd VMs (Vagrant's first NIC) all have the same source address on their default
    route; the others cannot reach any of them there. Instances of one machine (one
    address or ssh alias in hosts.yaml, several users) may share it: their ports differ.
    """
    from u7s.config.sources import FROM_ROUTE

    by_ip: dict[str, list] = {}
    for m in members:
        by_ip.setdefault(m.settings.host_ip, []).append(m)
    problems, named = [], set()
    for ip, group in by_ip.items():
        routed = [m for m in group if m.settings.sources.get("HOST_IP") == FROM_ROUTE]
        pair = next(((a, b) for a in routed for b in group if place_of(a.spec) != place_of(b.spec)), None)
        if pair is None:
            continue
        a, b = sorted(pair, key=group.index)
        named.update(m.name for m in group)
        which = " and ".join(m.name for m in (a, b) if m in routed)
        problems.append(f"{a.name} and {b.name} would both get HOST_IP {ip} ({which}: from the default route; NAT "
                        "gives hosts one such address): set HOST_IP per host in hosts.yaml, each to the address "
                        "the other hosts reach it by; other PORT_* values do not help")
    return problems, named


def place_of(spec) -> str:
    """Where hosts.yaml places a host: its address, else its ssh alias, else (local: true) here.

    One address with other SSH ports is taken for other machines: a port forwarded to each
    (Vagrant's 127.0.0.1:2222, :2200), not one machine's users, who share its sshd.
    """
    if spec.address:
        place = values.canonical_address(spec.address)
        return place if spec.ssh.port in (None, 22) else f"{place}:{spec.ssh.port}"
    return spec.ssh.alias or "local"


def inventory_problems(hosts: list, labels: dict[str, str]) -> list[tuple[str, str]]:
    """(where, problem) for each rule across the inventory's hosts that is broken: one control plane, one local
    host, unique names and subnets, one entry per address and user, disjoint ports on a shared address."""
    problems: list[tuple[str, str]] = []

    def bad(where: str, message: str) -> None:
        problems.append((where, message))

    planes = [h.name for h in hosts if h.is_control_plane]
    if len(planes) != 1:
        found = ", ".join(planes) if planes else "none"
        bad("hosts", f"exactly one host must have role: control-plane (found {found})")
    _unique(bad, hosts, "name", lambda h: h.name)
    _unique(bad, hosts, "NODE_NAME", lambda h: h.settings.get("NODE_NAME"))
    _unique(bad, hosts, "NODE_SUBNET", lambda h: _canonical_subnet(h.settings.get("NODE_SUBNET")))
    locals_ = [h.name for h in hosts if h.local]
    if len(locals_) > 1:
        bad("hosts", f"only one host can be local: true (found {', '.join(locals_)})")
    by_place: dict[str, list] = {}
    for h in hosts:
        if h.address or h.ssh.alias:
            by_place.setdefault(place_of(h), []).append(h)
    for group in by_place.values():
        first = group[0]
        place = values.canonical_address(first.address) if first.address else first.ssh.alias
        users = [h.ssh.user for h in group]
        if len(set(users)) != len(users):
            names = ", ".join(h.name for h in group)
            bad("hosts", f"{names}: same address {place} and SSH user; list each host once")
        _port_clash(bad, place, group)
    ip_problems, shared_ips = host_ip_groups(hosts, labels)
    for where, message in ip_problems:
        bad(where, message)
    for place, group in shared_ips.items():
        _port_clash(bad, place, group)
    return problems

def _unique(bad, hosts: list, what: str, key) -> None:
    seen: dict = {}
    for h in hosts:
        value = key(h)
        if value is None:
            continue
        if value in seen:
            bad("hosts", f"{seen[value]} and {h.name} have the same {what} {value!r}; each must be unique")
        else:
            seen[value] = h.name

def _port_clash(bad, address: str, group: list) -> None:
    """Instances sharing one address (one host, several users) need disjoint port sets."""
    from u7s.config import publish
    from u7s.config.settings import PORT_DEFAULTS

    taken: dict[int, str] = {}
    for h in group:
        try:
            extra = {f"U7S_PUBLISH {p}": p.host_port for p in publish.parse(h.settings.get("U7S_PUBLISH"))}
        except ValueError:
            extra = {}  # the settings check reports it
        for key, default in {**PORT_DEFAULTS, **extra}.items():
            port = h.settings.get(key, default)
            try:
                port = int(port)
            except (TypeError, ValueError):
                continue
            if port in taken and taken[port] != h.name:
                bad("hosts", f"{taken[port]} and {h.name} share address {address} and port {port} "
                         f"({key}); give one of them other PORT_* values")
            taken.setdefault(port, h.name)


def _canonical_subnet(text):
    try:
        return str(ipaddress.IPv4Network(str(text).strip(), strict=True)) if text is not None else None
    except ValueError:
        return text
