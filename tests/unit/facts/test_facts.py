"""Host facts: the parser on a recorded `ip --json route get 1`, and each probe's argv."""

import pytest

from u7s.errors import U7sError
from u7s.facts.host import HostFacts
from u7s.facts.hostip import parse_route_get
from tests.unit.u7s_fakes import FakeHost, fixture


def test_parse_route_get_recorded():
    assert parse_route_get(fixture("ip-route-get-1.json")) == "192.0.2.2"


@pytest.mark.parametrize("text", ["", "[]", "{}", '[{"dst": "1.0.0.0"}]', "Error: Network is unreachable"])
def test_parse_route_get_refuses_other_output(text):
    with pytest.raises(U7sError, match="HOST_IP: .*; set HOST_IP"):
        parse_route_get(text)


def test_probes_and_caching():
    host = FakeHost()
    host.on("hostname", stdout="host1\n")
    host.on("ip", "--json", "route", "get", "1", stdout=fixture("ip-route-get-1.json"))
    host.on("sh", "-c", contains="HOME", stdout="/home/user")
    facts = HostFacts(host)
    assert facts.hostname() == "host1" and facts.hostname() == "host1"
    assert facts.host_ip() == "192.0.2.2"
    assert facts.home() == "/home/user"
    assert host.calls.count(["hostname"]) == 1


def test_has_command_passes_the_name_as_an_argument():
    host = FakeHost()
    host.on("sh", "-c", contains="command -v", exited=1)
    host.on("sh", "-c", 'command -v "$1" >/dev/null', "sh", "podman-compose")
    facts = HostFacts(host)
    assert facts.has_command("podman-compose") is True
    assert facts.has_command("x; rm -rf ~") is False
    assert host.calls[-1] == ["sh", "-c", 'command -v "$1" >/dev/null', "sh", "x; rm -rf ~"]


def test_no_route_says_to_set_host_ip():
    host = FakeHost().on("ip", exited=2, stderr="RTNETLINK answers: Network is unreachable")
    with pytest.raises(U7sError, match=r"HOST_IP: `ip route get 1` failed on fake .*; set HOST_IP"):
        HostFacts(host).host_ip()


def test_bypass4netnsd_probe():
    host = FakeHost().on("sh", "-c", contains="bypass4netnsd.sock")
    assert HostFacts(host).bypass4netnsd_running() is True
    assert "XDG_RUNTIME_DIR" in host.calls[0][2]


def test_compose_plugin_asks_the_engines_cli_once():
    host = FakeHost().on("docker", "compose", "version", exited=1, stderr="docker: 'compose' is not a docker command.")
    facts = HostFacts(host)
    assert facts.compose_plugin("docker") is False and facts.compose_plugin("docker") is False
    assert host.calls == [["docker", "compose", "version"]]


def test_the_route_gives_its_mtu_and_device():
    from u7s.facts.system import parse_route

    with_mtu = '[{"dst":"192.0.2.7","dev":"eth0","prefsrc":"192.0.2.5","metrics":[{"mtu":1400}],"flags":[],"uid":0}]'
    plain = '[{"dst":"192.0.2.7","dev":"eth0","prefsrc":"192.0.2.5","flags":[],"uid":0,"cache":[]}]'
    assert parse_route(with_mtu) == (1400, "eth0")
    assert parse_route(plain) == (None, "eth0")
    assert parse_route("RTNETLINK answers: Network is unreachable") == (None, "")
