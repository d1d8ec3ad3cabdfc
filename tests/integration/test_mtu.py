"""Hosts whose links carry less than 1500 bytes (GCP 1460, OpenStack and Hetzner 1450): NODE_MTU follows them.

The lab's links (bridge, veths, each host's eth0) get the MTU for one test
(`tests.lab.netns.link_mtu`). u7s detects it on each host as the MTU of HOST_IP's interface,
makes the node network with it and gives flannel the same value; the network
check's path-MTU probe then passes, and `cluster.create` ends with every node Ready.
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.lab import netns
from u7s_cli import NODE, WORKDIR, inventory, u7s, wipe_hosts

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]


@pytest.fixture
def two_hosts(lab, tmp_path):
    """An inventory of the lab's first two hosts (a control plane and one worker), their engines emptied."""
    path = inventory(lab, tmp_path)
    data = yaml.safe_load(path.read_text())
    data["hosts"] = data["hosts"][:2]
    path.write_text(yaml.safe_dump(data))
    hosts = lab.hosts[:2]
    wipe_hosts(lab, hosts)
    yield path, hosts
    wipe_hosts(lab, hosts)


def in_node(host, *argv):
    return host.docker(["exec", NODE, *argv]).stdout.strip()


@pytest.mark.parametrize("mtu", [1460, pytest.param(1450, marks=pytest.mark.extended)])
def test_create_on_links_below_1500_gives_the_node_network_and_flannel_their_mtu(lab, two_hosts, tmp_path, mtu):
    path, hosts = two_hosts
    cp = hosts[0]
    with netns.link_mtu(lab.hosts, mtu):
        r = u7s("cluster.create", "--inventory", str(path), cwd=tmp_path, check=False)
        assert r.returncode == 0, r.stderr
        assert "path MTU" not in r.stderr
        row = next(line.split(None, 2) for line in cp.ssh(["u7s", "settings"]).stdout.splitlines()
                   if line.startswith("NODE_MTU "))
        assert row == ["NODE_MTU", str(mtu), "detected: MTU of eth0, the interface with HOST_IP"]
        for h in hosts:
            compose = yaml.safe_load(h.ssh(["cat", f"{WORKDIR}/{h.name}/docker-compose.yaml"]).stdout)
            assert compose["networks"]["default"]["driver_opts"] == {"com.docker.network.driver.mtu": str(mtu)}
            assert in_node(h, "cat", "/sys/class/net/eth0/mtu") == str(mtu)
            # flannel (the lab's stand-in does what flanneld does with the chart's net-conf)
            assert f"FLANNEL_MTU={mtu - 50}" in in_node(h, "cat", "/run/flannel/subnet.env").splitlines()
        net_conf = json.loads(in_node(cp, "kubectl", "get", "configmap", "-n", "kube-flannel", "kube-flannel-cfg",
                                      "-o", "jsonpath={.data.net-conf\\.json}"))
        assert net_conf["Backend"]["MTU"] == mtu
    assert "VXLAN MTU" in r.stderr
