"""HOST_IP when the user gives none: the address SSH reaches the host by, else the default route's source.

The reference takes the source address of the route to 1.0.0.0 (`ip route get 1`). That
picks the wrong address on a host with several NICs (the address the others reach it by
is on another one), the same address on every NAT'd VM (Vagrant's 10.0.2.15), and none
at all on a host without a default route. So the address the inventory (or `fab -H`)
reaches the host by comes first, but only when the host has it on one of its own
interfaces: a forwarded or NAT'd address is not one the other hosts can publish to.
The route's source comes second. Both answers come from probes asked in the one round
trip of facts (u7s/facts/host.py).
"""

from __future__ import annotations

import ipaddress
import json
import socket
from typing import Callable, Iterable

from u7s.config.sources import FROM_INVENTORY, FROM_ROUTE
from u7s.errors import U7sError
from u7s.run.hosts import Result

ROUTE = ["ip", "--json", "route", "get", "1"]
ADDRESSES = ["ip", "--json", "addr", "show"]  # every interface's addresses (NODE_MTU reads the same probe)



def parse_route_get(text: str) -> str:
    """The preferred source address from `ip --json route get 1` (how the reference finds HOST_IP)."""
    try:
        routes = json.loads(text)
        return routes[0]["prefsrc"]
    except (ValueError, LookupError, TypeError):
        raise U7sError(
            "HOST_IP: could not read a source address from `ip --json route get 1`; set HOST_IP"
        ) from None


def parse_addresses(text: str) -> set[str]:
    """Every IPv4 address on the host's interfaces, from `ip --json addr show`; empty for other output."""
    try:
        links = json.loads(text)
        return {a["local"] for link in links for a in link.get("addr_info") or []
                if a.get("family") == "inet" and isinstance(a.get("local"), str)}
    except (ValueError, AttributeError, TypeError, KeyError):
        return set()


def _ipv4(text: str) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        return None


def reached_by(target: str | None, peer: str | None = None,
               resolve: Callable[[str], Iterable[str]] | None = None) -> list[str]:
    """The IPv4 addresses SSH reaches a host by: the connection's peer, the target itself if it is one,
    else what the controller resolves the name to. Loopback ones are left out (every host has them)."""
    found: list[str] = []
    names = [peer] if peer else []
    if target:
        names += [target] if _ipv4(target) else list((resolve or _resolve)(target))
    for name in names:
        ip = _ipv4(name)
        if ip is not None and not ip.is_loopback and str(ip) not in found:
            found.append(str(ip))
    return found


def ssh_target(conn) -> tuple[str, str | None]:
    """(the host name or address a fabric Connection was asked for, after ~/.ssh/config's HostName; the address
    it connected to, when no jump host stands between: with one, the socket's peer is the jump host)."""
    peer = None
    transport = conn.client.get_transport() if conn.gateway is None and conn.client else None
    if transport is not None:
        try:
            peer = transport.getpeername()[0]
        except (OSError, TypeError, IndexError):
            peer = None
    return conn.host, peer


def _resolve(name: str) -> list[str]:
    try:
        return [info[4][0] for info in socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)]
    except (OSError, UnicodeError):
        return []  # SSH worked all the same (a jump host, ~/.ssh/config): the route's source is next


def owned(candidates: list[str], addresses: Result | None) -> str | None:
    """The first candidate that `ip --json addr show` (its answer) lists on the host; None when none is."""
    own = parse_addresses(addresses.stdout) if addresses is not None and addresses.ok else set()
    return next((c for c in candidates if c in own), None)


def choose(host: str, candidates: list[str], addresses: Result | None, route: Result | None) -> tuple[str, str]:
    """(HOST_IP, where it came from): the first candidate the host has, else the route's source.

    `addresses` and `route` are the probes' answers (None when not asked: no candidates,
    or a candidate was found first). A host with no default route and no candidate it
    has is one line naming the host and the setting.
    """
    mine = owned(candidates, addresses)
    if mine:
        return mine, FROM_INVENTORY
    if route is not None and route.ok:
        return parse_route_get(route.stdout), FROM_ROUTE
    if not candidates:
        raise U7sError(f"HOST_IP: `ip route get 1` failed on {host} (no route?); set HOST_IP")
    shown = " or ".join(candidates)
    checked = addresses is not None and addresses.ok
    theirs = "is not one of its addresses" if checked else "could not be checked (`ip --json addr show` failed)"
    raise U7sError(f"HOST_IP: {host} has no default route and the address it is reached by ({shown}) {theirs}; "
                   f"set HOST_IP for {host} to the address the other hosts reach it by")
