"""CNI: which pod network u7s installs, one per cluster (pure).

flannel (the default, as the reference) or calico. Both carry pods across
hosts as VXLAN on one UDP port, PORT_FLANNEL, which the node publishes on its
host: Calico's Felix is given it as its `vxlanPort`. Only Calico enforces
NetworkPolicy.
"""

from __future__ import annotations

FLANNEL, CALICO = "flannel", "calico"
CHOICES = (FLANNEL, CALICO)
DEFAULT = FLANNEL
FIX = f"use one of {', '.join(CHOICES)} (default {DEFAULT})"


def resolve(given: str, bad) -> str:
    """The CNI for CNI's value (empty: the default); a value u7s cannot install goes to `bad(key, why, fix)`."""
    value = (given or DEFAULT).strip().lower()
    if value not in CHOICES:
        bad("CNI", "not a pod network u7s installs", FIX)
        return DEFAULT
    return value


def enforces_network_policy(cni: str) -> bool:
    return cni == CALICO
