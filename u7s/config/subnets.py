"""NODE_SUBNETs for an inventory that never collide and do not move.

The reference hashes the hostname into 256 buckets, so two hosts collide
often (about even odds at 20 hosts). Here, in order of precedence:
  1. a NODE_SUBNET given for the host is kept (duplicates are an inventory error);
  2. the subnet a host already runs with (read from the host) is kept, so
     adding or removing hosts never moves a running node;
  3. other hosts start from the reference's hash bucket and take the next free
     /24 of the pool, in inventory order (new hosts go to the end), passing over
     any /24 that overlaps a network the host's engine already has (another u7s
     instance, or anything else), which the engine would refuse.
"""

from __future__ import annotations

import hashlib
import ipaddress

from u7s.errors import U7sError


def hash_bucket(name: str, size: int) -> int:
    """The reference's bucket for a host name: sha256(name + newline), its first byte when size <= 256."""
    digest = hashlib.sha256((name + "\n").encode()).digest()
    return int.from_bytes(digest[:4], "big") % size if size > 256 else digest[0] % size


def _clash(subnet: str, in_use: dict[str, list[ipaddress.IPv4Network]]) -> str | None:
    """The first network in in_use that overlaps subnet, as `name (subnet)`."""
    candidate = ipaddress.IPv4Network(subnet)
    for name, found in in_use.items():
        for other in found:
            if candidate.overlaps(other):
                return f"{name} ({other})"
    return None


def same(a: str | None, b: str | None) -> bool:
    """Pure: whether two subnets, as written, are the same network (None is no network)."""
    return bool(a and b) and ipaddress.IPv4Network(a, strict=False) == ipaddress.IPv4Network(b, strict=False)


def assign(
    hosts: list[tuple[str, str | None, str | None]],
    pool: str = "10.100.0.0/16",
    in_use: dict[str, dict[str, list[ipaddress.IPv4Network]]] | None = None,
) -> dict[str, str]:
    """hosts: (hostname, given NODE_SUBNET or None, subnet it runs with now or None) -> NODE_SUBNET.

    in_use: per hostname, the other networks its engine has (u7s/facts/networks.py).
    """
    in_use = in_use or {}
    net = ipaddress.IPv4Network(pool)
    blocks = list(net.subnets(new_prefix=24))
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name, given, current in hosts:
        if given:
            out[name] = str(ipaddress.IPv4Network(given))
            taken.add(out[name])
            clash = None if current == out[name] else _clash(out[name], in_use.get(name, {}))
            if clash:
                raise U7sError(f"{name}: NODE_SUBNET {out[name]} overlaps the engine network {clash} on that host; "
                               "give another NODE_SUBNET or remove that network")
    for name, given, current in hosts:
        if not given and current and str(ipaddress.IPv4Network(current)) not in taken:
            out[name] = str(ipaddress.IPv4Network(current))
            taken.add(out[name])
    for name, given, _ in hosts:
        if name in out:
            continue
        start = hash_bucket(name, len(blocks))
        for step in range(len(blocks)):
            candidate = str(blocks[(start + step) % len(blocks)])
            if candidate not in taken and not _clash(candidate, in_use.get(name, {})):
                out[name] = candidate
                taken.add(candidate)
                break
        else:
            raise U7sError(f"cluster.node_subnet_pool {pool} has no free /24 left for {name}; use a larger pool")
    return out
