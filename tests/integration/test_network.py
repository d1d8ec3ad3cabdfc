"""cluster.check-network on the three-host lab: real kernel VXLAN between rootless node containers.

Each fault is injected where it would be on real hosts (a firewall rule in a
host's namespace, rp_filter in an engine's namespace, a small MTU on a host's
link) and must be reported as the cause it is.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from u7s_cli import NODE, counted, inventory, u7s, within

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]
# Remote operations (each one round trip or more) of a network check on each host; see IDLE_CREATE_OPS.
CHECK_NETWORK_OPS = 5  # 7 before issue 24: the host's facts now travel with the prepare phase
CUSTOM = {"PORT_KUBE_APISERVER": 8080, "PORT_FLANNEL": 9072, "PORT_KUBELET": 20250, "PORT_ETCD": 9090}


def check(path, *extra, ok=True):
    r = u7s("cluster.check-network", "--json", "--inventory", str(path), *extra, check=False)
    assert (r.returncode == 0) == ok, r.stderr
    return json.loads(r.stdout)


def failed(probes):
    return {(p["source"], p["target"], p["check"]): p for p in probes if not p["ok"]}


def nothing_left(lab, container=NODE):
    for h in lab.hosts:
        links = h.docker(["exec", container, "ip", "-o", "link"]).stdout
        assert "u7s-netcheck" not in links
        procs = h.docker(["exec", container, "ps", "-eo", "args"]).stdout
        assert "socat" not in procs


@pytest.fixture(scope="module")
def nodes(lab, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("net")
    path = inventory(lab, tmp)
    u7s("cluster.down-v", "--yes", "--inventory", str(path), check=False)
    u7s("cluster.up", "--inventory", str(path))
    yield path
    u7s("cluster.down-v", "--yes", "--inventory", str(path), check=False)


def test_every_pair_passes_with_overlay_pings_both_ways(lab, nodes):
    r, ops = counted("cluster.check-network", "--json", "--inventory", str(nodes))
    print("round trips of a network check:", json.dumps(ops))
    within(ops, lambda h: CHECK_NETWORK_OPS, "cluster.check-network")
    probes = json.loads(r.stdout)
    assert not failed(probes)
    names = [h.name for h in lab.hosts]
    pings = {(p["source"], p["target"]) for p in probes if p["check"] == "ping" and "not checked" not in p["detail"]}
    assert pings == {(a, b) for a in names for b in names if a != b}
    for kind in ("tcp PORT_KUBE_APISERVER", "tcp PORT_KUBELET", "tcp PORT_ETCD", "vxlan", "mtu"):
        assert sum(p["check"] == kind for p in probes) == 6
    nothing_left(lab)
    pair = check(nodes, "--only", f"{names[0]},{names[2]}")
    assert {(p["source"], p["target"]) for p in pair if p["check"] == "vxlan"} == {
        (names[0], names[2]), (names[2], names[0])}
    nothing_left(lab)


def test_a_blocked_udp_port_is_named_as_the_cause(lab, nodes):
    _, h2, h3 = lab.hosts
    rule = ["INPUT", "-p", "udp", "--dport", "8472", "-s", h2.address, "-j", "DROP"]
    h3.in_netns(["iptables", "-I", *rule])
    try:
        probes = check(nodes, ok=False)
    finally:
        h3.in_netns(["iptables", "-D", *rule])
    bad = failed(probes)
    assert (h2.name, h3.name, "vxlan") in bad
    assert all({s, t} == {h2.name, h3.name} for s, t, _ in bad)
    cause = bad[(h2.name, h3.name, "vxlan")]
    assert "UDP 8472" in cause["cause"] and "allow UDP 8472" in cause["fix"]
    nothing_left(lab)


def test_strict_rp_filter_in_an_engine_namespace_is_reported(lab, nodes):
    h2 = lab.hosts[1]
    pid = subprocess.run(["pgrep", "-u", str(h2.uid), "-x", "dockerd"], capture_output=True, text=True).stdout.split()[0]
    sysctl = ["nsenter", "-t", pid, "-n", "sysctl", "-n", "net.ipv4.conf.default.rp_filter"]
    before = subprocess.run(sysctl, capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(["nsenter", "-t", pid, "-n", "sysctl", "-w", "net.ipv4.conf.default.rp_filter=1"], check=True,
                   capture_output=True)
    try:
        probes = check(nodes, ok=False)
    finally:
        subprocess.run(["nsenter", "-t", pid, "-n", "sysctl", "-w", f"net.ipv4.conf.default.rp_filter={before}"],
                       check=True, capture_output=True)
    bad = failed(probes)
    assert (h2.name, h2.name, "rp_filter") in bad
    assert "rp_filter = 2" in bad[(h2.name, h2.name, "rp_filter")]["fix"]
    nothing_left(lab)


def test_an_mtu_too_small_for_vxlan_is_reported(lab, nodes):
    h2 = lab.hosts[1]
    link = h2.in_netns(["ip", "-j", "route", "get", lab.hosts[0].address]).stdout
    dev = json.loads(link)[0]["dev"]
    h2.in_netns(["ip", "link", "set", dev, "mtu", "1200"])
    try:
        probes = check(nodes, ok=False)
    finally:
        h2.in_netns(["ip", "link", "set", dev, "mtu", "1500"])
    bad = failed(probes)
    assert (h2.name, lab.hosts[0].name, "path-mtu") in bad
    assert "MTU" in bad[(h2.name, lab.hosts[0].name, "path-mtu")]["cause"]
    assert any(check == "mtu" for _, _, check in bad)  # large packets really are lost
    nothing_left(lab)


def test_custom_ports_and_a_second_instance_on_the_same_hosts_both_pass(lab, nodes, tmp_path):
    other = inventory(lab, tmp_path, name="custom.yaml", pool="10.101.0.0/16", U7S_PROJECT="b", **CUSTOM)
    try:
        u7s("cluster.up", "--inventory", str(other))
        for path in (other, nodes):
            probes = check(path)
            assert not failed(probes)
        ports = {p["detail"].split()[0] for p in check(other) if p["check"].startswith("tcp")}
        assert {f"{h.address}:{port}" for h in lab.hosts for port in (8080, 20250, 9090)} == ports
        nothing_left(lab, container="b-node")
    finally:
        u7s("cluster.down-v", "--yes", "--inventory", str(other), check=False)


BURST = r"""
# 200 connections at once to the check's listener, as the peers of a 200-host fleet make them;
# each must get the banner within the probes' 3 s. Prints how many did.
port=$1 answered=0
for ((i = 0; i < 200; i++)); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port" && IFS= read -r -t 3 -u 3 line && [[ $line == u7s-netcheck ]] && echo ok) &
done >/tmp/u7s-burst.out
wait
while read -r line; do answered=$((answered + 1)); done </tmp/u7s-burst.out
rm -f /tmp/u7s-burst.out
echo "$answered"
"""


def test_the_listeners_answer_a_whole_fleet_connecting_at_once(lab, nodes):
    # A listener's accept queue holds its backlog (socat's default: 5); connections beyond it are dropped and
    # retried a second or three later, past the probes' timeout: a large fleet would see failures that are not.
    from u7s.netcheck.check import VNI, node_program

    h1 = lab.hosts[0]
    prepare = node_program("prepare", "02:75:37:00:00:01", "169.254.251.1", VNI, "8472", "50", "19443", "--")
    h1.docker(["exec", NODE, *prepare])
    try:
        answered = h1.docker(["exec", NODE, "bash", "-c", BURST, "burst", "19443"], timeout=60).stdout
    finally:
        h1.docker(["exec", NODE, *node_program("cleanup")])
    assert answered.split() == ["200"], f"only {answered.strip()} of 200 connections got the banner in time"
    nothing_left(lab)
