"""NODE_SUBNETs for an inventory that never collide and do not move.

The reference hashes the hostname into 256 buckets, so two hosts collide
often (about even odds at 20 hosts). Here, in order of precedence:
  1. a NODE_SUBNET given for the host is kept (duplicates are an inventory error);
  2. the subnet a host already runs with (read from the host) is kept, so
     adding or removing hosts never moves a running node;
  3. other hosts start from the reference's hash bucket and take the next free
     /24 of the pool, in inventory order (new hosts go to the end).
"""

from __future__ import annotations

import hashlib
import ipaddress

from .errors import U7sError


def preferred_index(name: str, size: int) -> int:
    digest = hashlib.sha256((name + "\n").encode()).digest()
    return int.from_bytes(digest[:4], "big") % size if size > 256 else digest[0] % size


def assign(
    hosts: list[tuple[str, str | None, str | None]],
    pool: str = "10.100.0.0/16",
) -> dict[str, str]:
    """hosts: (hostname, given NODE_SUBNET or None, subnet it runs with now or None) -> NODE_SUBNET."""
    net = ipaddress.IPv4Network(pool)
    blocks = list(net.subnets(new_prefix=24))
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name, given, _ in hosts:
        if given:
            out[name] = str(ipaddress.IPv4Network(given))
            taken.add(out[name])
    for name, given, current in hosts:
        if not given and current and str(ipaddress.IPv4Network(current)) not in taken:
            out[name] = str(ipaddress.IPv4Network(current))
            taken.add(out[name])
    for name, given, _ in hosts:
        if name in out:
            continue
        start = preferred_index(name, len(blocks))
        for step in range(len(blocks)):
            candidate = str(blocks[(start + step) % len(blocks)])
            if candidate not in taken:
                out[name] = candidate
                taken.add(candidate)
                break
        else:
            raise U7sError(f"cluster.node_subnet_pool {pool} has no free /24 left for {name}; use a larger pool")
    return out
