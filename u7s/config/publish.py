"""Parse U7S_PUBLISH: extra ports the node publishes on HOST_IP (NodePort services from outside).

Items are `NODEPORT[/proto]` (the same number on the host) or `HOSTPORT:NODEPORT[/proto]`,
separated by commas, e.g. `30080/tcp,30443:443/tcp,5353/udp`; the protocol defaults to
tcp, as in compose's `ports:`. Pure functions, standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PROTOCOLS = ("tcp", "udp")
ITEM = re.compile(r"^(?:(?P<host>[0-9]+):)?(?P<node>[0-9]+)(?:/(?P<proto>[A-Za-z]+))?$", re.ASCII)
EXAMPLE = "e.g. U7S_PUBLISH=30080/tcp,30443:443/tcp,5353/udp"


@dataclass(frozen=True)
class Published:
    host_port: int
    node_port: int
    protocol: str = "tcp"

    def compose(self, host_ip: str) -> str:
        """The compose `ports:` entry: published on HOST_IP only."""
        return f"{host_ip}:{self.host_port}:{self.node_port}/{self.protocol}"

    def text(self) -> str:
        """As `u7s settings` shows it."""
        return str(self)

    def __str__(self) -> str:
        same = self.host_port == self.node_port
        return f"{'' if same else f'{self.host_port}:'}{self.node_port}/{self.protocol}"


def items(value) -> list[str]:
    """The items of a list setting: a YAML list of text, or text separated by commas."""
    if value is None:
        return []
    # YAML reads `U7S_PUBLISH: 30080` and `[30080, 5353/udp]` with numbers in them.
    whole = (lambda v: isinstance(v, int) and not isinstance(v, bool))
    if whole(value):
        value = str(value)
    if isinstance(value, (list, tuple)):
        if not all(isinstance(v, str) or whole(v) for v in value):
            raise ValueError("a list whose items are not all text")
        parts = [str(v) for v in value]
    elif isinstance(value, str):
        parts = value.split(",")
    else:
        raise ValueError(f"a {type(value).__name__}, not text")
    return [p.strip() for p in parts if p.strip()]


def _port(text: str, what: str) -> int:
    if not text.isdigit() or (len(text) > 1 and text[0] == "0") or not 1 <= int(text) <= 65535:
        raise ValueError(f"{what} {text} is not a port from 1 to 65535")
    return int(text)


def parse(value) -> tuple[Published, ...]:
    """Every item of U7S_PUBLISH; ValueError naming the first bad item and why."""
    out: list[Published] = []
    seen: dict[tuple[int, str], str] = {}
    for item in items(value):
        m = ITEM.match(item)
        if not m:
            raise ValueError(f"{item!r} is not NODEPORT[/tcp|udp] or HOSTPORT:NODEPORT[/tcp|udp]")
        proto = (m.group("proto") or "tcp").lower()
        if proto not in PROTOCOLS:
            raise ValueError(f"{item!r}: protocol {proto} is not tcp or udp")
        node = _port(m.group("node"), "node port")
        host = _port(m.group("host"), "host port") if m.group("host") else node
        if (host, proto) in seen:
            raise ValueError(f"{item!r}: host port {host}/{proto} is published twice (also by {seen[host, proto]!r})")
        seen[host, proto] = item
        out.append(Published(host, node, proto))
    return tuple(out)


def clashes(published: tuple[Published, ...], ports: dict[str, int]) -> list[str]:
    """Published host ports that are also a PORT_* (flannel's is udp, the others tcp)."""
    taken = {(port, "udp" if key == "PORT_FLANNEL" else "tcp"): key for key, port in ports.items()}
    return [f"{p.host_port}/{p.protocol} is {taken[p.host_port, p.protocol]}"
            for p in published if (p.host_port, p.protocol) in taken]
