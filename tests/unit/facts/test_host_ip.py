"""HOST_IP's default: the address the inventory reaches a host by when the host has it, else the default
route's source; hosts that the route gives one address (NAT) refused with a line that says what to set.

Recorded outputs: a namespace laid out as a Vagrant VM (tests/unit/fixtures/README.md).
"""

from __future__ import annotations

import io
import json

import pytest

from u7s.config.crosshost import check_resolved
from u7s.config.inventory import parse
from u7s.config.resolve import resolve
from u7s.errors import U7sError
from u7s.facts import hostip
from u7s.facts.host import HostFacts, likely_probes
from u7s.session import Member, resolve_all
from u7s.ui import tables
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import FakeFacts, FakeHost, fixture

NAT_NIC, PRIVATE_NIC = "10.0.2.15", "192.168.56.12"  # the recording's two NICs; the default route uses the first
UNREACHABLE = "RTNETLINK answers: Network is unreachable\n"


def vm(route: bool = True, addresses: bool = True) -> FakeHost:
    """A host with the recording's two NICs; without `route`, no default route (air-gapped)."""
    host = FakeHost()
    host.name = "vm1"
    if route:
        host.on(*hostip.ROUTE, stdout=fixture("ip-route-get-1-nat.json"))
    else:
        host.on(*hostip.ROUTE, exited=2, stderr=UNREACHABLE)
    host.on(*hostip.ADDRESSES, stdout=fixture("ip-addr-show-two-nics.json") if addresses else "",
            exited=0 if addresses else 255, stderr="" if addresses else "Option \"--json\" is unknown\n")
    return host


def test_every_ipv4_address_of_the_recorded_host():
    assert hostip.parse_addresses(fixture("ip-addr-show-two-nics.json")) == {"127.0.0.1", NAT_NIC, PRIVATE_NIC}


@pytest.mark.parametrize("text", ["", "[]", "{}", "[1]", '[{"addr_info": [{"family": "inet"}]}]', "Error: x"])
def test_other_output_means_no_addresses(text):
    assert hostip.parse_addresses(text) == set()


def test_the_address_ssh_reached_comes_first_then_the_given_one_or_what_the_name_resolves_to():
    assert hostip.reached_by("192.168.56.12") == ["192.168.56.12"]
    assert hostip.reached_by("vm1.example", peer="192.168.56.12", resolve=lambda n: ["192.168.56.12", "10.1.1.1"]) \
        == ["192.168.56.12", "10.1.1.1"]
    assert hostip.reached_by("vm1.example", resolve=lambda n: []) == []
    assert hostip.reached_by(None) == []
    # Vagrant's forwarded SSH port: 127.0.0.1 is on every host, so it says nothing of this one.
    assert hostip.reached_by("127.0.0.1", peer="127.0.0.1") == []
    assert hostip.reached_by("fd00::12", peer="fd00::12", resolve=lambda n: []) == []


def test_the_inventory_address_on_the_second_nic_wins_over_the_default_route():
    host = vm()
    facts = HostFacts(host, [PRIVATE_NIC])
    assert (facts.host_ip(), facts.host_ip_source()) == (PRIVATE_NIC, hostip.FROM_INVENTORY)
    assert hostip.ROUTE not in host.calls  # not needed


def test_an_address_the_host_does_not_have_falls_back_to_the_default_route():
    """The inventory reaches the VM through a forwarded address (NAT): it is not one to publish on."""
    facts = HostFacts(vm(), ["10.213.0.1"])
    assert (facts.host_ip(), facts.host_ip_source()) == (NAT_NIC, hostip.FROM_ROUTE)


def test_without_an_inventory_address_the_route_decides_as_in_the_reference():
    host = vm()
    facts = HostFacts(host)
    assert (facts.host_ip(), facts.host_ip_source()) == (NAT_NIC, hostip.FROM_ROUTE)
    assert host.calls == [hostip.ROUTE]  # the host's addresses are not asked


def test_a_host_without_a_default_route_takes_its_inventory_address():
    facts = HostFacts(vm(route=False), [PRIVATE_NIC])
    assert (facts.host_ip(), facts.host_ip_source()) == (PRIVATE_NIC, hostip.FROM_INVENTORY)


def test_no_default_route_and_no_address_of_its_own_is_one_line_naming_the_host_and_the_setting():
    with pytest.raises(U7sError) as caught:
        HostFacts(vm(route=False), ["10.213.0.1"]).host_ip()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("HOST_IP: vm1 has no default route and the address it is reached by (10.213.0.1) "
                              "is not one of its addresses; set HOST_IP for vm1")
    with pytest.raises(U7sError, match=r"\(10.213.0.1\) could not be checked .*; set HOST_IP for vm1"):
        HostFacts(vm(route=False, addresses=False), ["10.213.0.1"]).host_ip()
    with pytest.raises(U7sError, match=r"^HOST_IP: `ip route get 1` failed on vm1 \(no route\?\); set HOST_IP$"):
        HostFacts(vm(route=False)).host_ip()


def test_route_and_addresses_are_asked_in_the_one_round_trip_of_facts():
    given = {"CONTAINER_ENGINE": "docker", "COMPOSE": "docker compose", "HOSTNAME": "vm1", "U7S_WORKDIR": "/w",
             "NODE_MTU": "1500"}  # else NODE_MTU asks for both probes (the MTU of HOST_IP's interface)

    def ip_probes(*args):
        return [p for p in likely_probes(*args) if p[0] == "ip"]

    assert ip_probes(given) == [hostip.ROUTE]
    assert ip_probes(given, [PRIVATE_NIC]) == [hostip.ROUTE, hostip.ADDRESSES]
    assert ip_probes({**given, "HOST_IP": "192.0.2.5"}, [PRIVATE_NIC]) == []
    host = vm().on("sh", exited=1)  # detect-engine.sh: nothing found
    facts = HostFacts(host, [PRIVATE_NIC])
    facts.prefetch(likely_probes(given, facts.reached_by))
    asked = len(host.calls)
    facts.host_ip()
    assert len(host.calls) == asked  # answered from the prefetched probes


def test_an_explicit_host_ip_wins_and_says_where_it_came_from():
    host = FakeHost()  # no rules: any probe would fail the test
    given = {"HOST_IP": "192.168.56.99", "CONTAINER_ENGINE": "docker", "COMPOSE": "docker compose",
             "HOSTNAME": "vm1", "U7S_WORKDIR": "/w", "U7S_ENGINE_HOST": "unix:///run/user/1000/docker.sock",
             "NODE_MTU": "1500"}
    s = resolve(HostFacts(host, [PRIVATE_NIC]), config=given)
    assert (s.host_ip, s.sources["HOST_IP"]) == ("192.168.56.99", "config")
    assert host.calls == []


def test_settings_show_where_host_ip_came_from():
    s = resolve(FakeFacts(host_ip=PRIVATE_NIC, host_ip_source=hostip.FROM_INVENTORY))
    rows = {line.split()[0]: line for line in tables.settings(s).plain().splitlines() if line.strip()}
    assert PRIVATE_NIC in rows["HOST_IP"] and "inventory address" in rows["HOST_IP"]


# -- across hosts: one address from the default route on several machines (NAT) ------------------------
def nat_run(hosts: list[dict], owned: dict[str, list[str]] | None = None):
    """Resolve an inventory of hosts whose default route's source is 10.0.2.15 on each (Vagrant's NAT NIC)."""
    inv = parse({"hosts": hosts}, "hosts.yaml")
    members = []
    for spec in inv.hosts:
        host = FakeHost()
        host.name = spec.name
        host.on("hostname", stdout=f"{spec.name}\n")
        host.on(*hostip.ROUTE, stdout=fixture("ip-route-get-1-nat.json"))
        mine = (owned or {}).get(spec.name, [NAT_NIC])
        host.on(*hostip.ADDRESSES, stdout=json.dumps([{"ifname": "eth0", "addr_info": [
            {"family": "inet", "local": a, "prefixlen": 24} for a in mine]}]))
        host.on("sh", contains="HOME", stdout="/home/u")
        host.on("docker", "network", stdout="")
        host.on("docker", "inspect", exited=1, stderr="Error: No such object\n")  # no node yet
        host.on("cat", exited=1)  # nor its working directory's marker
        members.append(Member(spec, Reporter(stream=io.StringIO()), host=host))
    config = {"CONTAINER_ENGINE": "docker", "COMPOSE": "docker compose"}
    return members, lambda: resolve_all(members, inv, {}, config)


def test_two_vms_behind_nat_are_refused_with_one_line_that_says_to_set_host_ip_per_host():
    """As `vagrant ssh-config` gives them: 127.0.0.1 with a forwarded port each."""
    members, run = nat_run([
        {"name": "cp", "address": "127.0.0.1", "role": "control-plane", "ssh": {"port": 2222}},
        {"name": "w1", "address": "127.0.0.1", "ssh": {"port": 2200}},
    ])
    with pytest.raises(U7sError) as caught:
        run()
    assert str(caught.value) == (
        "cp and w1 would both get HOST_IP 10.0.2.15 (cp and w1: from the default route; NAT gives hosts one such "
        "address): set HOST_IP per host in hosts.yaml, each to the address the other hosts reach it by; other "
        "PORT_* values do not help")


def test_one_address_with_other_ssh_ports_is_not_told_to_change_ports():
    """Vagrant's forwarded ports are other machines; one machine's users share its sshd (and its ports)."""
    forwarded = parse({"hosts": [
        {"name": "cp", "address": "127.0.0.1", "role": "control-plane", "ssh": {"port": 2222}},
        {"name": "w1", "address": "127.0.0.1", "ssh": {"port": 2200}}]}, "hosts.yaml")
    assert [h.name for h in forwarded.hosts] == ["cp", "w1"]
    with pytest.raises(Exception, match="share address 10.213.0.1 and port"):
        parse({"hosts": [
            {"name": "a", "address": "10.213.0.1", "role": "control-plane", "ssh": {"user": "alice"}},
            {"name": "b", "address": "10.213.0.1", "ssh": {"user": "bob", "port": 22}}]}, "hosts.yaml")


def test_host_ip_per_host_or_an_inventory_address_the_hosts_have_is_accepted():
    members, run = nat_run([
        {"name": "cp", "address": "192.168.56.11", "role": "control-plane"},
        {"name": "w1", "address": "10.213.0.2", "settings": {"HOST_IP": "192.168.56.12"}},
    ], owned={"cp": [NAT_NIC, "192.168.56.11"]})
    result = run()
    assert not result.failed
    assert [(m.settings.host_ip, m.settings.sources["HOST_IP"]) for m in members] == [
        ("192.168.56.11", hostip.FROM_INVENTORY), ("192.168.56.12", "config")]


def test_one_machine_reached_twice_by_one_address_is_not_taken_for_nat():
    """Several users' instances on one machine (one address in hosts.yaml) share its route's address."""
    from u7s.config.crosshost import shared_route_addresses
    from u7s.config.inventory import HostSpec, Ssh
    from tests.unit.u7s_fakes import make_settings

    routed = FakeFacts(host_ip=NAT_NIC)
    members = [Member(HostSpec(name, "10.213.0.1", role, False, Ssh(user=name)), Reporter(stream=io.StringIO()),
                      settings=make_settings(routed, HOSTNAME=name))
               for name, role in (("alice", "control-plane"), ("bob", "worker"))]
    assert shared_route_addresses(members) == ([], set())
    elsewhere = Member(HostSpec("carol", "10.213.0.2", "worker", False, Ssh()), Reporter(stream=io.StringIO()),
                       settings=make_settings(routed, HOSTNAME="carol"))
    problems, named = shared_route_addresses([*members, elsewhere])
    assert [p.split(" would")[0] for p in problems] == ["alice and carol"] and named == {"alice", "bob", "carol"}


def test_a_set_host_ip_shared_with_a_routed_one_names_the_routed_host():
    members, run = nat_run([
        {"name": "cp", "address": "10.213.0.1", "role": "control-plane", "settings": {"HOST_IP": NAT_NIC}},
        {"name": "w1", "address": "10.213.0.2"},
    ])
    with pytest.raises(U7sError, match=r"^cp and w1 would both get HOST_IP 10.0.2.15 \(w1: from the default route;"):
        run()


def test_check_resolved_says_nat_once_and_no_port_advice_for_those_hosts():
    members, run = nat_run([
        {"name": "cp", "address": "10.213.0.1", "role": "control-plane"},
        {"name": "w1", "address": "10.213.0.2"},
        {"name": "w2", "address": "10.213.0.3"},
    ])
    with pytest.raises(U7sError) as caught:
        run()
    lines = str(caught.value).splitlines()
    assert len(lines) == 1 and lines[0].startswith("cp and w1 would both get HOST_IP 10.0.2.15")
    with pytest.raises(U7sError, match=r"^cp and w2 would both get HOST_IP 10.0.2.15 .*do not help$"):
        check_resolved([m for m in members if m.name != "w1"])


def test_ssh_target_is_the_name_after_ssh_config_and_the_peer_only_without_a_jump_host():
    from types import SimpleNamespace

    transport = SimpleNamespace(getpeername=lambda: ("192.168.56.12", 22))
    client = SimpleNamespace(get_transport=lambda: transport)
    direct = SimpleNamespace(host="vm1.example", gateway=None, client=client)
    assert hostip.ssh_target(direct) == ("vm1.example", "192.168.56.12")
    jumped = SimpleNamespace(host="vm1.example", gateway=object(), client=client)
    assert hostip.ssh_target(jumped) == ("vm1.example", None)  # the socket's peer is the jump host
