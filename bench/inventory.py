"""Make the inventory of a lab's first N hosts, as the integration tests write theirs."""

from __future__ import annotations

from collections.abc import Sequence


def inventory_data(hosts: Sequence, node_image: str, name: str = "bench") -> dict:
    """Return hosts.yaml's content for these lab hosts: the first is the control plane."""
    if not hosts:
        raise ValueError("an inventory needs at least one host")
    return {
        "cluster": {"name": name},
        "settings": {"NODE_IMAGE": node_image},
        "ssh": {"known_hosts": hosts[0].known_hosts, "connect_timeout": 5},
        "hosts": [
            {
                "name": h.name,
                "address": h.address,
                "role": "control-plane" if i == 0 else "worker",
                "ssh": {"user": h.ssh_user, "port": h.ssh_port, "identity_file": h.key},
            }
            for i, h in enumerate(hosts)
        ],
    }
