"""NODE_MTU: read from HOST_IP's interface, validated, rendered into the node network and flannel's values,
and named by the network check's fixes."""

from __future__ import annotations

import io
import json

import pytest
import yaml

from u7s.render import templates
from u7s.config.settings import SPECS
from u7s.errors import SettingsError
from u7s.facts.host import ADDRESSES, ROUTE, HostFacts, likely_probes
from u7s.facts.system import parse_link_mtu
from u7s.node import flannel
from u7s.node.container import Node
from u7s.netcheck import check as netcheck
from u7s.netcheck import host as nethost
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import FakeFacts, FakeHost, fixture, make_settings

# `ip -j addr show` of a GCP VM: ens4 carries the address, with Google's MTU; docker0 keeps 1500.
ADDR = json.dumps([
    {"ifindex": 1, "ifname": "lo", "mtu": 65536, "addr_info": [{"family": "inet", "local": "127.0.0.1"}]},
    {"ifindex": 2, "ifname": "ens4", "mtu": 1460,
     "addr_info": [{"family": "inet", "local": "10.128.0.7", "prefixlen": 32},
                   {"family": "inet6", "local": "fe80::4001:aff:fe80:7", "prefixlen": 64}]},
    {"ifindex": 3, "ifname": "docker0", "mtu": 1500, "addr_info": [{"family": "inet", "local": "172.17.0.1"}]},
    {"ifindex": 4, "ifname": "wg0", "mtu": 1420, "addr_info": [{"family": "inet", "local": "10.9.0.2"}]},
])
ROUTE_ENS4 = '[{"dst":"1.0.0.0","gateway":"10.128.0.1","dev":"ens4","prefsrc":"10.128.0.7"}]'


# -- detection ------------------------------------------------------------------------------
@pytest.mark.parametrize("host_ip, found", [
    ("10.128.0.7", (1460, "ens4, the interface with HOST_IP")),
    ("10.9.0.2", (1420, "wg0, the interface with HOST_IP")),  # HOST_IP on the WireGuard mesh
    ("172.17.0.1", (1500, "docker0, the interface with HOST_IP")),
    ("203.0.113.9", (1460, "ens4, the default route's interface (no interface has HOST_IP 203.0.113.9)")),
])
def test_the_mtu_of_the_interface_that_carries_host_ip(host_ip, found):
    assert parse_link_mtu(ADDR, ROUTE_ENS4, host_ip) == found


def test_the_recorded_route_names_the_device_when_no_interface_has_the_address():
    addr = json.dumps([{"ifname": "eth0", "mtu": 1450, "addr_info": []}])
    assert parse_link_mtu(addr, fixture("ip-route-get-1.json"), "203.0.113.9")[0] == 1450


@pytest.mark.parametrize("addr, route", [
    ("", ""), ("Error: ...", ROUTE_ENS4), ("{}", ""), ('[{"ifname": "x", "mtu": "1500"}]', ""),
    ('[{"ifname": "ens4", "mtu": 1460, "addr_info": []}]', '[{"dev": "eth0"}]'),
])
def test_other_output_tells_nothing(addr, route):
    assert parse_link_mtu(addr, route, "10.128.0.7") is None


def test_the_fact_is_asked_with_the_others_and_only_when_not_given():
    assert ADDRESSES in likely_probes({}) and ROUTE in likely_probes({"HOST_IP": "10.128.0.7"})
    assert ADDRESSES not in likely_probes({"NODE_MTU": 1460})
    host = FakeHost().on("ip", "--json", "addr", stdout=ADDR).on("ip", "--json", "route", stdout=ROUTE_ENS4)
    facts = HostFacts(host)
    facts.prefetch(likely_probes({"HOSTNAME": "h", "U7S_WORKDIR": "/w", "CONTAINER_ENGINE": "podman",
                                  "COMPOSE": "podman compose"}))
    calls = len(host.calls)
    assert facts.link_mtu(facts.host_ip()) == (1460, "ens4, the interface with HOST_IP")
    assert len(host.calls) == calls  # answered from the batch
    assert HostFacts(FakeHost().on("ip", exited=1)).link_mtu("10.128.0.7") is None


# -- the setting ------------------------------------------------------------------------------
def test_detected_below_1500_and_where_it_came_from():
    s = make_settings(FakeFacts(link=(1460, "ens4, the interface with HOST_IP")))
    assert s.node_mtu == 1460 and s.as_table()["NODE_MTU"] == "1460"
    assert s.sources["NODE_MTU"] == "detected: MTU of ens4, the interface with HOST_IP"


def test_jumbo_frames_are_taken_only_when_set():
    s = make_settings(FakeFacts(link=(9000, "eth0, the interface with HOST_IP")))
    assert s.node_mtu == 1500 and "9000" in s.sources["NODE_MTU"] and "unless NODE_MTU is set" in s.sources["NODE_MTU"]
    assert make_settings(FakeFacts(link=(9000, "eth0")), NODE_MTU=9000).node_mtu == 9000


def test_unknown_is_1500_and_says_so():
    s = make_settings(FakeFacts(link=None))
    assert s.node_mtu == 1500 and s.sources["NODE_MTU"].startswith("default: ")


def test_a_given_value_wins_and_asks_nothing():
    facts = FakeFacts(link=(1460, "ens4"))
    s = make_settings(facts, NODE_MTU="1400")
    assert s.node_mtu == 1400 and s.sources["NODE_MTU"] == "--set"
    assert not any(a.startswith("link_mtu") for a in facts.asked)
    assert SPECS["NODE_MTU"].kind == "mtu"


@pytest.mark.parametrize("value, words", [
    ("abc", "NODE_MTU=abc (from --set): not an MTU"),
    ("1500.5", "NODE_MTU=1500.5 (from --set): not an MTU"),
    ("100", "NODE_MTU=100 (from --set): out of range for an MTU; use a whole number from 576 to 9216"),
    ("65536", "NODE_MTU=65536 (from --set): out of range for an MTU"),
])
def test_bad_values_are_one_line_naming_the_key(value, words):
    with pytest.raises(SettingsError) as caught:
        make_settings(NODE_MTU=value)
    assert str(caught.value).startswith(words) and "\n" not in str(caught.value)


def test_a_detected_mtu_too_small_is_refused_naming_where_it_came_from():
    with pytest.raises(SettingsError, match=r"^NODE_MTU \(from detected: MTU of tun0\): 500 is below 576.*NODE_MTU"):
        make_settings(FakeFacts(link=(500, "tun0")))


# -- rendering ------------------------------------------------------------------------------
@pytest.mark.parametrize("engine, option", [
    ("docker", "com.docker.network.driver.mtu"), ("podman", "mtu"), ("nerdctl", "com.docker.network.driver.mtu"),
])
def test_the_node_network_gets_the_engines_mtu_option(engine, option):
    flags = {"CONTAINER_ENGINE": engine, "NODE_MTU": 1460}
    if engine == "podman":
        flags["COMPOSE"] = "podman-compose"
    doc = yaml.safe_load(templates.compose_file(make_settings(**flags)))
    assert doc["networks"]["default"]["driver_opts"] == {option: "1460"}
    assert doc["networks"]["default"]["ipam"] == {"config": [{"subnet": "10.100.224.0/24"}]}


def test_1500_leaves_the_compose_file_as_it_was():
    assert templates.compose_file(make_settings(NODE_MTU=1500)) == templates.compose_file(make_settings())
    assert "driver_opts" not in templates.compose_file(make_settings())


def scripted_node(mtu):
    host = FakeHost()
    node = Node(host, make_settings(NODE_MTU=mtu), Reporter(stream=io.StringIO()))
    host.on("docker", "exec", stdout="")
    host.on("docker", "exec", contains="status", exited=1, stderr="Error: release: not found")
    return node, host


def helm_upgrade(host):
    return next(argv for argv in host.calls if "upgrade" in argv)


def test_flannel_gets_the_clusters_smallest_mtu_and_says_its_vxlan_mtu():
    node, host = scripted_node(1500)
    assert flannel.cluster_mtu([1500, 1460, 1450]) == 1450 and flannel.cluster_mtu([]) == 1500
    said = flannel.install(node, 1450)
    assert said == "flannel installed (VXLAN on UDP 8472, VXLAN MTU 1400)"
    argv = helm_upgrade(host)
    assert argv[-2:] == ["--set-json", "flannel.mtu=1450"]


def test_flannel_takes_the_nodes_own_mtu_alone_and_nothing_at_1500():
    node, host = scripted_node(1460)
    flannel.install(node)
    assert "flannel.mtu=1460" in helm_upgrade(host)
    node, host = scripted_node(1500)
    assert flannel.install(node) == "flannel installed (VXLAN on UDP 8472)"
    assert not any("flannel.mtu" in a for a in helm_upgrade(host))


# -- the network check ------------------------------------------------------------------------------
def view_pair(mtu_setting, node_mtu, path_mtu):
    from tests.unit.netcheck.test_netcheck import views_of

    a, b = views_of(2, NODE_MTU=mtu_setting)
    a.node_mtu = b.node_mtu = node_mtu
    a.path_mtus = {b.member.settings.host_ip: path_mtu}
    return a, b


def test_the_path_mtu_probe_passes_when_the_node_network_fits_the_path():
    a, b = view_pair(1460, 1460, 1460)
    assert nethost.path_mtu_probe(a, b).ok


def test_a_path_below_the_node_mtu_names_the_setting():
    a, b = view_pair(1500, 1500, 1460)
    p = nethost.path_mtu_probe(a, b)
    assert not p.ok and "the path MTU 1460 is below the node's MTU 1500" in p.cause
    assert p.fix.startswith("set NODE_MTU=1460 for h1")
    assert "engine's network MTU option" not in p.fix


def test_a_node_network_made_before_node_mtu_was_set_is_to_be_made_again():
    a, b = view_pair(1460, 1500, 1460)
    p = nethost.path_mtu_probe(a, b)
    assert not p.ok and "NODE_MTU is 1460 but h1's node network was made with MTU 1500" in p.fix
    assert "docker network rm u7s" in p.fix


def test_lost_large_packets_name_the_setting():
    a, b = view_pair(1500, 1500, None)
    probe = netcheck.Probe("h1", "h2", "mtu", False, "1450-byte packets across the overlay were lost")
    netcheck.diagnose([probe], {"h1": a, "h2": b})
    assert "set NODE_MTU" in probe.fix and "below 1500" in probe.fix
