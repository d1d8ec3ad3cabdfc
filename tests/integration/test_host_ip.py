"""HOST_IP on hosts whose default route does not lead to the others: a second NIC, no default route, NAT.

The lab's hosts are changed for these tests only (tests/lab/netns.py, tests/lab/README.md "Host
variants"): h1 gets a first NIC as Vagrant gives every VM (10.0.2.15, the default route through
it) and keeps the inventory's address on eth0; h2 loses its default route.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import yaml

from tests.lab import netns
from u7s_cli import NODE, WORKDIR, inventory, u7s, wipe_hosts

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]


def two_hosts(lab, tmp_path) -> Path:
    """h1 (control plane) and h2, at their lab addresses."""
    path = inventory(lab, tmp_path)
    data = yaml.safe_load(path.read_text())
    data["hosts"] = data["hosts"][:2]
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_second_nic_and_no_default_route_take_the_inventory_address(lab, tmp_path):
    """h1's default route leaves by its first NIC (10.0.2.15), its inventory address is on the second;
    h2 has no default route. Both publish on, and are labelled with, the address the inventory gives.

    (Before: h2 failed with "HOST_IP: `ip route get 1` failed on h2 (no route?); set HOST_IP", and h1's
    node was published on 10.0.2.15, where h2 cannot reach it.)
    """
    first, second = lab.hosts[:2]
    path = two_hosts(lab, tmp_path)
    wipe_hosts(lab, [first, second])
    with netns.nat_nic(first.netns), netns.no_default_route(second.netns):
        assert "10.0.2.15" in first.in_netns(["ip", "-j", "route", "get", "1"]).stdout
        assert second.in_netns(["ip", "route", "get", "1"], check=False).returncode != 0
        try:
            created = u7s("cluster.create", "--inventory", str(path), cwd=tmp_path)
            assert f"via {first.address}" in created.stdout + created.stderr  # the worker joined on h1's address
            nodes = json.loads(first.docker(["exec", NODE, "kubectl", "get", "nodes", "-o", "json"]).stdout)
            seen = {n["metadata"]["name"]: (n["metadata"]["labels"].get("usernetes/host-ip"),
                                            [c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready"])
                    for n in nodes["items"]}
            assert seen == {f"u7s-{first.name}": (first.address, ["True"]),
                            f"u7s-{second.name}": (second.address, ["True"])}
            for host in (first, second):  # what the node's commands and its certificates are given
                env = json.loads(host.docker(["inspect", NODE, "--format", "{{json .Config.Env}}"]).stdout)
                assert f"HOST_IP={host.address}" in env, env
        finally:
            u7s("cluster.down-v", "--yes", "--inventory", str(path), cwd=tmp_path, check=False)
            wipe_hosts(lab, [first, second])


def test_hosts_behind_nat_are_refused_before_any_host_is_touched(lab, tmp_path):
    """h2 and h3 as Vagrant VMs: the same 10.0.2.15 on their default route, reached by SSH through a
    forwarded port each (the bridge's address, ports 2202 and 2203). u7s names both and says to set
    HOST_IP per host; with it set, the same inventory is accepted."""
    hosts = lab.hosts[1:3]
    known = tmp_path / "known_hosts"
    lines = Path(hosts[0].known_hosts).read_text().splitlines()
    keys = {line.split()[0].split(",")[0]: " ".join(line.split()[1:3]) for line in lines if line.strip()}
    known.write_text("".join(f"[{lab.bridge_address}]:{2200 + int(h.name[1:])} {keys[h.address]}\n" for h in hosts))
    path = inventory(lab, tmp_path, known_hosts=str(known))
    data = yaml.safe_load(path.read_text())
    data["hosts"] = data["hosts"][1:3]
    data["hosts"][0]["role"] = "control-plane"
    for entry, h in zip(data["hosts"], hosts):
        entry["address"], entry["ssh"]["port"] = lab.bridge_address, 2200 + int(h.name[1:])
    path.write_text(yaml.safe_dump(data))
    wipe_hosts(lab, hosts)
    with contextlib.ExitStack() as stack:
        for h in hosts:
            stack.enter_context(netns.nat_nic(h.netns))
            stack.enter_context(netns.forwarded_ssh(2200 + int(h.name[1:]), h.address, lab.bridge_address))
        r = u7s("cluster.create", "--inventory", str(path), cwd=tmp_path, check=False)
        assert r.returncode != 0
        assert (f"{hosts[0].name} and {hosts[1].name} would both get HOST_IP 10.0.2.15 "
                f"({hosts[0].name} and {hosts[1].name}: from the default route; NAT") in r.stderr, r.stderr
        assert "set HOST_IP per host in hosts.yaml" in r.stderr and "give one of them other PORT_*" not in r.stderr
        for h in hosts:
            assert h.docker(["ps", "-aq"]).stdout.strip() == ""
            assert h.docker(["volume", "ls", "-q"]).stdout.strip() == ""
        for entry, h in zip(data["hosts"], hosts):
            entry["settings"] = {"HOST_IP": h.address}
        path.write_text(yaml.safe_dump(data))
        u7s("cluster.create", "--dry-run", "--inventory", str(path), cwd=tmp_path)
