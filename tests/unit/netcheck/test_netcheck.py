"""The network check: its node program's arguments and output, and a whole run's commands per host.

Recorded output of the node program (fixtures netcheck-*.txt) comes from the lab;
the probe phase also runs here for real, in bash, with stand-in socat and ping.
"""

from __future__ import annotations

import io
import os
import shlex
import subprocess

import pytest

from u7s.config.inventory import parse
from u7s.run.hosts import Result
from u7s.session import Member
from u7s.netcheck import check as netcheck
from u7s.netcheck import host as nethost
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import FakeFacts, FakeHost, fixture, make_settings

NAMES = ("h1", "h2", "h3")


def views_of(count: int = 3, **flags) -> list[netcheck.NodeView]:
    inventory = parse({"hosts": [{"name": f"h{i + 1}", "address": f"10.213.0.{11 + i}",
                                  **({"role": "control-plane"} if i == 0 else {})} for i in range(count)]})
    views = []
    for i, spec in enumerate(inventory.hosts):
        settings = make_settings(FakeFacts(hostname=spec.name, host_ip=spec.address), **flags)
        member = Member(spec, Reporter(spec.name, stream=io.StringIO()), FakeHost(), settings)
        views.append(netcheck.NodeView(member, i, netcheck.mac_for(i)))
    return views


def test_the_peer_table_carries_every_other_node_and_nothing_else():
    views = views_of(3)
    args = netcheck.prepare_args(views[1], views)
    assert args[:5] == [netcheck.mac_for(1), "169.254.251.2", str(netcheck.VNI), "8472", "50"]
    assert netcheck.VNI != 1  # flannel's: a device of ours with it could not share flannel's UDP port
    ports, table = args[5:args.index("--")], args[args.index("--") + 1:]
    assert ports == ["10250", "2379", "6443"]
    assert table == ["169.254.251.1", netcheck.mac_for(0), "10.213.0.11", "8472",
                     "169.254.251.3", netcheck.mac_for(2), "10.213.0.13", "8472"]


def test_the_program_is_constant_and_every_value_an_argument():
    views = views_of(2, PORT_FLANNEL=9072)
    argv = netcheck.node_program("prepare", *netcheck.prepare_args(views[0], views))
    assert argv[:2] == ["bash", "-c"] and argv[2] == netcheck.program_text()
    assert "9072" not in argv[2] and "10.213.0.12" not in argv[2]
    assert argv[3:8] == ["u7s-netcheck", "prepare", netcheck.DEVICE, netcheck.BANNER, str(netcheck.OVERLAY_PORT)]


def test_prepare_facts_are_read_from_recorded_output():
    views = views_of(3)
    v = views[0]
    netcheck.read_facts(v, fixture("netcheck-prepare.txt"))
    assert (v.node_mtu, v.has_ping, v.vxlan) == (1500, True, "")
    assert v.ours == {"PORT_KUBE_APISERVER", "PORT_KUBELET", "PORT_ETCD"}  # nodes up, no cluster yet

    assert not v.flannel
    netcheck.read_facts(views[1], fixture("netcheck-prepare-flannel.txt"))  # a control plane where flannel runs
    assert (views[1].has_ping, views[1].vxlan, views[1].flannel) == (True, "", True)
    assert views[1].ours == {"PORT_ETCD"}  # its API server and kubelet answer (the lab's stand-ins have no etcd)
    netcheck.read_facts(views[1], "mtu=1450\nping=no\nbusy=6443\nours=2379\nflannel=no\nvxlan=cannot create\n")
    assert (views[1].node_mtu, views[1].has_ping, views[1].vxlan, views[1].flannel) == (1450, False, "cannot create",
                                                                                       False)
    assert views[1].ours == {"PORT_ETCD"}  # a real service answers on the others
    netcheck.read_facts(views[2], "")
    assert views[2].vxlan  # no word on the device: its pairs are not reported as passed for a reason nobody gave


def prepared(views):
    for v in views:
        netcheck.read_facts(v, fixture("netcheck-prepare.txt"))
    return views


def test_recorded_probe_output_of_a_healthy_lab_becomes_passed_probes_with_the_usual_words():
    views = prepared(views_of(3))
    probes = netcheck.probes_from(views[0], views, fixture("netcheck-probe-ok.txt"))
    assert [p.check for p in probes] == [
        "tcp PORT_KUBE_APISERVER", "tcp PORT_KUBELET", "tcp PORT_ETCD", "vxlan", "ping", "mtu"] * 2
    assert all(p.ok for p in probes), [p for p in probes if not p.ok]
    assert {p.target for p in probes} == {"h2", "h3"} and {p.source for p in probes} == {"h1"}
    details = {(p.target, p.check): p.detail for p in probes}
    assert details[("h2", "tcp PORT_KUBE_APISERVER")] == "10.213.0.12:6443 answered"
    views[1].ours.discard("PORT_KUBE_APISERVER")  # had a service answered, any answer would do
    probes = netcheck.probes_from(views[0], views, fixture("netcheck-probe-ok.txt"))
    assert probes[0].ok and probes[0].detail == "10.213.0.12:6443 a service is listening"
    assert details[("h3", "vxlan")] == "TCP across the overlay to 169.254.251.3 over UDP 8472"
    assert details[("h3", "mtu")] == "1450-byte packets across the overlay"


def test_recorded_probe_output_with_udp_blocked_fails_the_overlay_and_names_the_cause():
    views = prepared(views_of(3))
    probes = netcheck.probes_from(views[0], views, fixture("netcheck-probe-udp-blocked.txt"))
    bad = {(p.target, p.check): p for p in netcheck.failures(probes)}
    assert set(bad) == {("h3", "vxlan"), ("h3", "ping")}  # no large ping after the small one failed
    assert not any(p.check == "mtu" and p.target == "h3" for p in probes)
    netcheck.diagnose(probes, {v.member.name: v for v in views})
    assert "UDP 8472" in bad[("h3", "vxlan")].cause and "allow UDP 8472" in bad[("h3", "vxlan")].fix


# -- which pairs are probed, which ways, and which are not (with why): a host added to a running cluster --
def running_and_added(count: int = 3) -> list[netcheck.NodeView]:
    """A running cluster (flannel.1 on every node, as recorded on the lab) and, last, the host being added."""
    views = views_of(count)
    for v in views:
        netcheck.read_facts(v, fixture("netcheck-prepare.txt" if v is views[-1] else "netcheck-prepare-flannel.txt"))
    return views


def probe_output(a: netcheck.NodeView, views, lost=()) -> str:
    """The probe phase's lines from A (as the recorded ones): everything answers but the overlay to hosts in `lost`."""
    lines = []
    for b in (b for b in views if b is not a):
        lines += [f"{b.index}\ttcp\t{b.member.settings.ports[key]}\t0\t1\t" for key in netcheck.TCP_PORTS]
        if b.member.name in lost:
            lines += [f"{b.index}\tvxlan\t-\t1\t0\tsocat[9] E connecting to AF=2 {b.overlay_ip}:17946: Connection "
                      "timed out", f"{b.index}\tping\t-\t1\t-\t"]
        else:
            lines += [f"{b.index}\tvxlan\t-\t0\t1\t", f"{b.index}\tping\t-\t0\t-\t", f"{b.index}\tmtu\t-\t0\t-\t"]
    return "\n".join(lines) + "\n"


def overlays_probed(a, views) -> list[str]:
    return netcheck.probe_args(a, views, 8)[2:][2::7]  # per peer: index, HOST_IP, overlay (- when not), size, 3 ports


def every_probe(views, lost_from=lambda name: ()) -> list[netcheck.Probe]:
    probes = [p for a in views
              for p in netcheck.probes_from(a, views, probe_output(a, views, lost_from(a.member.name)))]
    netcheck.diagnose(probes, {v.member.name: v for v in views})
    return probes


def test_a_host_added_to_a_running_cluster_has_vxlan_probed_both_ways_with_every_node():
    views = running_and_added()
    assert [v.flannel for v in views] == [True, True, False]
    for a in views:  # flannel on a node no longer takes its pairs out: every peer's overlay is probed, from every node
        assert overlays_probed(a, views) == [b.overlay_ip for b in views if b is not a]
    probes = every_probe(views)
    vxlan = {(p.source, p.target): p for p in probes if p.check == "vxlan"}
    assert set(vxlan) == {(a, b) for a in NAMES for b in NAMES if a != b} and all(p.ok for p in vxlan.values())
    assert vxlan[("h3", "h1")].detail == "TCP across the overlay to 169.254.251.1 over UDP 8472 (beside flannel's " \
                                         "device there)"
    assert vxlan[("h1", "h3")].detail == "TCP across the overlay to 169.254.251.3 over UDP 8472"
    assert netcheck.summary(probes) == f"{len(probes)} of {len(probes)} probes passed"


def test_udp_blocked_on_the_added_host_fails_its_pairs_both_ways_naming_the_addresses_port_and_cause():
    views = running_and_added()
    # h3 drops UDP 8472: the running nodes' overlay traffic never reaches it, and its own is never answered
    probes = every_probe(views, lambda name: ("h1", "h2") if name == "h3" else ("h3",))
    bad = {(p.source, p.target, p.check): p for p in netcheck.failures(probes)}
    assert set(bad) == {(a, b, check) for a, b in (("h1", "h3"), ("h3", "h1"), ("h2", "h3"), ("h3", "h2"))
                        for check in ("vxlan", "ping")}
    assert bad[("h1", "h3", "vxlan")].cause == "UDP 8472 from 10.213.0.11 to 10.213.0.13 is blocked (or 8472 back)"
    assert bad[("h3", "h2", "vxlan")].cause == "UDP 8472 from 10.213.0.13 to 10.213.0.12 is blocked (or 8472 back)"
    assert bad[("h1", "h3", "vxlan")].fix == "allow UDP 8472 between the hosts' addresses in every firewall on the path"
    assert netcheck.summary(probes) == f"{len(probes) - 8} of {len(probes)} probes passed"


def test_a_node_without_a_test_device_leaves_only_its_own_pairs_unchecked_and_the_summary_says_why():
    views = running_and_added()
    why = "cannot bring a VXLAN device up on UDP 8472: RTNETLINK answers: Address already in use"
    views[1].vxlan = why  # e.g. flannel made with GBP: its socket is not shared
    assert overlays_probed(views[0], views) == ["-", "169.254.251.3"]
    assert overlays_probed(views[1], views) == ["-", "-"]
    assert overlays_probed(views[2], views) == ["169.254.251.1", "-"]
    probes = every_probe(views)
    assert not netcheck.failures(probes)
    vxlan = {(p.source, p.target): p for p in probes if p.check == "vxlan"}
    skipped = {pair for pair, p in vxlan.items() if p.detail.startswith("not checked: ")}
    assert skipped == {("h1", "h2"), ("h2", "h1"), ("h2", "h3"), ("h3", "h2")}
    assert vxlan[("h3", "h2")].detail == f"not checked: h2: {why}"
    assert not any(p.check in ("ping", "mtu") and "h2" in (p.source, p.target) for p in probes)
    assert netcheck.summary(probes) == \
        f"{len(probes) - 4} of {len(probes)} probes passed; 4 vxlan not checked (h2: {why})"
    views[0].vxlan = "cannot create a VXLAN device (VNI 30007, UDP 8472): Operation not supported"
    both = netcheck.probes_from(views[0], views, probe_output(views[0], views))
    assert [p.detail for p in both if p.check == "vxlan"][0] == f"not checked: h1: {views[0].vxlan}; h2: {why}"


def test_a_refused_port_of_ours_says_what_socat_said_and_missing_lines_fail():
    views = prepared(views_of(2))
    text = "1\ttcp\t10250\t1\t0\t2026/11/30 12:00:00 socat[7] E connect(5, AF=2 10.213.0.12:10250, 16): " \
           "Connection refused\n"
    probes = {p.check: p for p in netcheck.probes_from(views[0], views, text)}
    assert not probes["tcp PORT_KUBELET"].ok and probes["tcp PORT_KUBELET"].detail.endswith("Connection refused")
    assert not probes["tcp PORT_ETCD"].ok and not probes["vxlan"].ok and not probes["ping"].ok
    views[0].has_ping = False
    probes = {p.check: p for p in netcheck.probes_from(views[0], views, text)}
    assert probes["ping"].ok and probes["ping"].detail == "not checked: the node has no ping"


def test_path_mtus_of_all_peers_come_from_one_recorded_batch():
    recorded = fixture("netcheck-path-mtu.txt")
    assert nethost.parse_path_mtus(recorded) == {"10.213.0.12": 1500, "10.213.0.13": 1500, "192.0.2.99": 1500}
    small = recorded.replace("dev eth0 1500", "dev eth0 1200")  # as the lab's small-MTU fault test leaves it
    assert nethost.parse_path_mtus(small)["10.213.0.12"] == 1200
    own = 'route 10.213.0.12 [{"dst":"10.213.0.12","dev":"eth0","metrics":[{"mtu":1400}]}]\nroute 192.0.2.1 \n'
    assert nethost.parse_path_mtus(own + "dev eth0 1500\n") == {"10.213.0.12": 1400, "192.0.2.1": None}
    argv = nethost.path_mtus_argv(["10.213.0.11", "10.213.0.13"])
    assert argv[:2] == ["sh", "-c"] and argv[-2:] == ["10.213.0.11", "10.213.0.13"]


class NodeHost(FakeHost):
    """A fake host whose node answers the node program as a healthy lab node does, and counts commands."""

    def __init__(self, name: str):
        super().__init__()
        self.name, self.running = name, True
        self.prepared = "mtu=1500\nping=yes\nours=2379\nours=10250\nours=6443\nflannel=no\nvxlan=ok\n"
        self.on("docker", "inspect", stdout='{"Running": true}')
        self.on("sh", "-c", contains="rp_filter", stdout="0\n2\n")
        self.on("sh", "-c", contains="path-mtu", stdout="")

    def _run(self, command, *, stdin, timeout):
        argv = shlex.split(command)
        if argv[:2] == ["docker", "exec"] and "bash" in argv:
            self.calls.append(argv)
            if not self.running:
                return Result(1, "", f"Error response from daemon: container {argv[2]} is not running")
            phase, args = argv[argv.index("bash") + 4], argv[argv.index("bash") + 8:]
            if phase == "prepare":
                return Result(0, self.prepared, "")
            if phase == "probe":
                lines = []
                for i in range(2, len(args), 7):
                    index, ports = args[i], args[i + 4:i + 7]
                    lines += [f"{index}\ttcp\t{port}\t0\t1\t" for port in ports]
                    lines += [f"{index}\tvxlan\t-\t0\t1\t", f"{index}\tping\t-\t0\t-\t", f"{index}\tmtu\t-\t0\t-\t"]
                return Result(0, "\n".join(lines) + "\n", "")
            return Result(0, "", "")
        return super()._run(command, stdin=stdin, timeout=timeout)


def fleet(count: int) -> list[Member]:
    views = views_of(count)
    for v in views:
        v.member.host = NodeHost(v.member.name)
    return [v.member for v in views]


@pytest.mark.parametrize("count", [2, 6])
def test_each_host_gets_the_same_few_commands_however_many_peers_it_has(count):
    members = fleet(count)
    probes = netcheck.NetworkCheck(members).run()
    assert not netcheck.failures(probes)
    pairs = count * (count - 1)
    assert sum(p.check == "vxlan" for p in probes) == pairs and sum(p.check == "path-mtu" for p in probes) == pairs
    for m in members:
        phases = [argv[argv.index("bash") + 4] for argv in m.host.calls if "bash" in argv]
        assert phases == ["prepare", "probe", "cleanup"]
        assert len(m.host.calls) == 5  # and rp_filter, path MTUs: no command per peer


def test_a_whole_run_counts_what_it_could_not_probe_and_says_why():
    members = fleet(3)
    members[1].host.prepared = fixture("netcheck-prepare-flannel.txt").replace(
        "vxlan=ok", "vxlan=cannot bring a VXLAN device up on UDP 8472: RTNETLINK answers: Address already in use")
    probes = netcheck.NetworkCheck(members).run()
    assert not netcheck.failures(probes)
    assert netcheck.summary(probes) == f"{len(probes) - 4} of {len(probes)} probes passed; 4 vxlan not checked (h2: " \
        "cannot bring a VXLAN device up on UDP 8472: RTNETLINK answers: Address already in use)"
    members[1].host.prepared = fixture("netcheck-prepare-flannel.txt")  # flannel runs there: checked all the same
    probes = netcheck.NetworkCheck(members).run()
    assert sum(p.check == "vxlan" for p in probes) == 6 and netcheck.summary(probes).endswith("probes passed")


def test_a_host_that_fails_to_prepare_is_set_aside_and_not_cleaned_up():
    members = fleet(3)
    members[2].host.running = False
    members[2].host.on("docker", "inspect", stdout='{"Running": false}')
    check = netcheck.NetworkCheck(members)
    probes = check.run()
    assert set(check.unreachable) == {"h3"} and "not running" in check.unreachable["h3"]
    assert {p.target for p in probes} == {"h1", "h2"}
    assert not [argv for argv in members[2].host.calls if "cleanup" in argv]


def run_program(*args, path=None, timeout=20):
    env = {**os.environ, "PATH": f"{path}:{os.environ['PATH']}"} if path else None
    return subprocess.run(["bash", "-c", netcheck.program_text(), "u7s-netcheck", *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.parametrize("bad", [
    ["prepare", "u7s-netcheck", "u7s-netcheck", "17946", "02:75:37:00:00:00;reboot", "169.254.251.1", "30007", "8472",
     "50"],
    ["prepare", "u7s-netcheck", "u7s-netcheck", "17946", netcheck.mac_for(0), "169.254.251.1", "1 group 239.1.1.1",
     "8472", "50"],
    ["prepare", "u7s-netcheck", "u7s-netcheck", "17946", netcheck.mac_for(0), "169.254.251.1", "30007", "8472", "50",
     "6443", "--", "169.254.251.2", netcheck.mac_for(1), "10.0.0.2 port 1", "8472"],
    ["probe", "u7s-netcheck", "u7s-netcheck", "17946", "8", "1", "1", "10.0.0.2,fork", "-", "1400", "6443"],
    ["cleanup", "x y", "u7s-netcheck", "17946"],
])
def test_the_program_refuses_a_bad_value_before_it_does_anything(bad):
    r = run_program(*bad)
    assert r.returncode == 2 and "u7s-netcheck: bad" in r.stderr and r.stdout == ""


STANDIN_SOCAT = """#!/bin/bash
# stand-in for socat -T 3 -u TCP:HOST:PORT,connect-timeout=3 STDOUT: answers after a delay, as a far host does
for arg; do case $arg in TCP:*) target=${arg#TCP:}; target=${target%%,*} ;; esac; done
echo "start $target" >>"$U7S_TEST_LOG"
sleep 0.4
echo "end $target" >>"$U7S_TEST_LOG"
case " $U7S_TEST_REFUSE " in *" $target "*)
  echo "$(date '+%Y/%m/%d %H:%M:%S') socat[$$] E connect(5, AF=2 $target, 16): Connection refused" >&2; exit 1 ;;
esac
echo u7s-netcheck
"""
STANDIN_PING = """#!/bin/bash
# stand-in for ping: the last argument is the address; answers unless it is listed as lost
for arg; do address=$arg; done
sleep 0.2
case " $U7S_TEST_LOST " in *" $address "*) exit 1 ;; esac
"""


def test_the_probe_phase_probes_every_peer_at_once_and_prints_a_line_a_probe(tmp_path, monkeypatch):
    for name, text in (("socat", STANDIN_SOCAT), ("ping", STANDIN_PING)):
        (tmp_path / name).write_text(text)
        (tmp_path / name).chmod(0o755)
    monkeypatch.setenv("U7S_TEST_REFUSE", "10.0.0.3:10250 169.254.251.4:17946")
    monkeypatch.setenv("U7S_TEST_LOST", "169.254.251.5")
    monkeypatch.setenv("U7S_TEST_LOG", str(tmp_path / "connections.log"))
    table = []
    for i in range(1, 7):
        table += [str(i), f"10.0.0.{i + 1}", f"169.254.251.{i + 1}", "1422", "6443", "10250", "2379"]
    r = run_program("probe", "u7s-netcheck", "u7s-netcheck", "17946", "64", "3", *table, path=tmp_path)
    assert r.returncode == 0, r.stderr
    # Probes run at once: connections to several peers are open before the first one ends (one after
    # the other, every start would be followed by its end). Timing-free, so a loaded machine passes too.
    log = (tmp_path / "connections.log").read_text().splitlines()
    first_end = next(i for i, line in enumerate(log) if line.startswith("end "))
    peers_open = {line.split()[1].split(":")[0] for line in log[:first_end]}
    assert len(peers_open) >= 3, f"the probes of the peers did not run at once:\n{log}"
    lines = netcheck.parse_probe_lines(r.stdout)
    assert len(r.stdout.splitlines()) == len(lines) == 6 * 6 - 2  # no large ping to peers 3 and 4
    assert lines[(2, "tcp", "10250")][:2] == (1, "0") and lines[(2, "tcp", "10250")][2].endswith("Connection refused")
    assert lines[(1, "tcp", "6443")] == (0, "1", "")
    assert (3, "ping", "-") in lines and (3, "mtu", "-") not in lines  # the overlay's TCP got no answer
    assert lines[(4, "ping", "-")][0] == 1 and (4, "mtu", "-") not in lines
    assert lines[(5, "mtu", "-")] == (0, "-", "")
    assert [int(line.split("\t")[0]) for line in r.stdout.splitlines()] == sorted(
        int(line.split("\t")[0]) for line in r.stdout.splitlines())


STANDIN_IP = """#!/bin/bash
# stand-in for ip (and bridge, ethtool, ss, socat): logs its arguments; a node with flannel.1 if asked, and
# `ip link set DEV up` refused when U7S_TEST_PORT_HELD is set, as the kernel refuses a UDP port held otherwise
echo "${0##*/} $*" >>"$U7S_TEST_LOG"
case "${0##*/} $*" in
"ip -o link show type vxlan") [[ -z ${U7S_TEST_FLANNEL:-} ]] || echo "5: flannel.1: <UP> mtu 1450 vxlan id 1" ;;
"ip link show "*) exit 1 ;;
"ip link set "*" up")
	[[ -z ${U7S_TEST_PORT_HELD:-} ]] || { echo "RTNETLINK answers: Address already in use" >&2; exit 2; } ;;
esac
exit 0
"""


@pytest.mark.parametrize("flannel, held", [("", ""), ("yes", ""), ("yes", "yes")])
def test_prepare_makes_its_device_on_its_own_vni_beside_flannel_and_says_why_when_the_port_is_held(
        tmp_path, monkeypatch, flannel, held):
    for name in ("ip", "bridge", "ethtool", "ss", "socat"):
        (tmp_path / name).write_text(STANDIN_IP)
        (tmp_path / name).chmod(0o755)
    monkeypatch.setenv("U7S_TEST_LOG", str(tmp_path / "calls.log"))
    monkeypatch.setenv("U7S_TEST_FLANNEL", flannel)
    monkeypatch.setenv("U7S_TEST_PORT_HELD", held)
    device = f"u7s-netcheck-unit{os.getpid()}"  # its pid file in /run: not the real check's
    r = run_program("prepare", device, "u7s-netcheck", "17946", netcheck.mac_for(0), "169.254.251.1",
                    str(netcheck.VNI), "8472", "50", "--", "169.254.251.2", netcheck.mac_for(1), "10.0.0.2", "8472",
                    path=tmp_path)
    run_program("cleanup", device, "u7s-netcheck", "17946", path=tmp_path)
    assert r.returncode == 0, r.stderr
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert f"ip link add {device} address {netcheck.mac_for(0)} type vxlan id {netcheck.VNI} dstport 8472 dev eth0 " \
           "nolearning" in calls
    facts = r.stdout.splitlines()
    assert ("flannel=yes" if flannel else "flannel=no") in facts
    if held:
        assert facts[-1] == \
            "vxlan=cannot bring a VXLAN device up on UDP 8472: RTNETLINK answers: Address already in use"
        assert f"ip link del {device}" in calls and not any(c.startswith("bridge") for c in calls)
    else:
        assert facts[-1] == "vxlan=ok" and "bridge -batch -" in calls
