"""What the host's own tools report: listening sockets, lingering, path MTU (kernel modules: kernel.py)."""

from __future__ import annotations

import json

LISTENING = ["ss", "-H", "-l", "-n", "-t", "-u"]


def parse_listening(text: str, proto: str = "tcp") -> set[tuple[str, int]]:
    """(proto, port) pairs from `ss -H -l -n` output.

    With both -t and -u, ss starts each line with the socket type (Netid); with
    one of them it does not, and every line is of type `proto`.
    """
    found = set()
    for line in text.splitlines():
        fields = line.split()
        netid = bool(fields) and fields[0].startswith(("tcp", "udp"))
        local = 4 if netid else 3
        if len(fields) <= local:
            continue
        port = fields[local].rsplit(":", 1)[-1]
        kind = fields[0] if netid else proto
        if port.isdigit():
            found.add(("udp" if kind.startswith("udp") else "tcp", int(port)))
    return found


def parse_published(text: str) -> dict[tuple[str, int], str]:
    """(proto, host port) -> container name, from `<engine> ps --format '{{.Names}}\t{{.Ports}}'`.

    Docker writes `0.0.0.0:2379->2379/tcp, :::2379->2379/tcp`; Podman 4 joins neighbouring ports into
    ranges, `0.0.0.0:6443-6444->6443-6444/tcp`.
    """
    found: dict[tuple[str, int], str] = {}
    for line in text.splitlines():
        name, _, ports = line.partition("\t")
        for item in ports.split(","):
            host_side, arrow, rest = item.strip().partition("->")
            if not arrow:
                continue
            first, _, last = host_side.rsplit(":", 1)[-1].partition("-")
            proto = rest.rpartition("/")[2] or "tcp"
            if first.isdigit() and (not last or last.isdigit()):
                for port in range(int(first), int(last or first) + 1):
                    found.setdefault((proto, port), name.strip())
    return found


def parse_linger(text: str) -> bool | None:
    """Lingering from `loginctl show-user --property Linger`; None when it says nothing."""
    for line in text.splitlines():
        if line.startswith("Linger="):
            return line.split("=", 1)[1].strip() == "yes"
    return None


def parse_route(text: str) -> tuple[int | None, str]:
    """(the route's MTU if it sets one, its device) from `ip -j route get ADDRESS`; (None, "") for other output."""
    try:
        route = json.loads(text)[0]
    except (ValueError, LookupError, TypeError):
        return None, ""
    for metric in route.get("metrics") or []:
        if "mtu" in metric:
            return int(metric["mtu"]), route.get("dev", "")
    return None, route.get("dev", "")




def parse_link_mtu(addresses: str, route: str, host_ip: str) -> tuple[int, str] | None:
    """(MTU, which interface) of the interface that carries host_ip, from `ip -j addr show`.

    When no interface has that address (HOST_IP given as a NAT address), the interface
    of the route to 1.0.0.0 (`ip -j route get 1`) stands in; None when neither is known.
    """
    try:
        links = json.loads(addresses)
    except ValueError:
        return None
    mtus = {}
    for link in links if isinstance(links, list) else []:
        if not isinstance(link, dict) or not isinstance(link.get("mtu"), int) or not link.get("ifname"):
            continue
        mtus[link["ifname"]] = link["mtu"]
        for info in link.get("addr_info") or []:
            if isinstance(info, dict) and info.get("local") == host_ip:
                return link["mtu"], f"{link['ifname']}, the interface with HOST_IP"
    _, dev = parse_route(route)
    if dev in mtus:
        return mtus[dev], f"{dev}, the default route's interface (no interface has HOST_IP {host_ip})"
    return None
