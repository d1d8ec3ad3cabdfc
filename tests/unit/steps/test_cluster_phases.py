"""The multi-host runner's rules, with fake phases: hosts in parallel, failures isolated and listed."""

from __future__ import annotations

import io
import threading
import time

import pytest

from u7s.netcheck import check as netcheck
from u7s.steps import step
from u7s.errors import U7sError
from u7s.run.parallel import run_parallel
from u7s import session
from u7s.facts import system
from u7s.session import Member
from u7s.config.inventory import parse
from u7s.ui.report import Reporter

INVENTORY = parse({
    "hosts": [
        {"name": "cp", "address": "192.0.2.1", "role": "control-plane"},
        {"name": "w1", "address": "192.0.2.2"},
        {"name": "w2", "address": "192.0.2.3"},
    ]
})


def make_run():
    stream = io.StringIO()
    members = [Member(h, Reporter(h.name, stream=stream)) for h in INVENTORY.hosts]
    return session.Run(INVENTORY, members, Reporter(stream=stream)), stream


def phase(title, hosts, action):
    return step.Step(title, lambda run, m: action(m), lambda m: [f"{title} on {m.name}"], hosts=hosts)


def test_a_failing_host_is_left_out_of_later_phases_and_every_failure_is_listed():
    run, _ = make_run()
    seen = []

    def up(m):
        if m.name == "w2":
            raise U7sError("w2: engine not running")
        return "up"

    with pytest.raises(U7sError) as caught:
        step.execute(run, [
            phase("up", "all", up),
            phase("join", "workers", lambda m: seen.append(m.name) or "joined"),
        ])
    assert seen == ["w1"]
    assert "failed on 1 host(s)" in str(caught.value)
    assert "up: w2: engine not running" in str(caught.value)


def test_phases_of_the_control_plane_stop_when_it_failed():
    run, stream = make_run()
    ran = []
    with pytest.raises(U7sError, match="up: cp: boom"):
        step.execute(run, [
            phase("up", "all", lambda m: (_ for _ in ()).throw(U7sError("boom")) if m.name == "cp" else "up"),
            phase("init", "control-plane", lambda m: ran.append(m.name) or "init"),
            phase("join", "workers", lambda m: ran.append(m.name) or "join"),
        ])
    assert sorted(ran) == ["w1", "w2"]
    assert "init: skipped, the control plane failed earlier" in stream.getvalue()


def test_dry_run_describes_each_host_and_runs_nothing():
    run, stream = make_run()
    run.dry_run = True
    step.execute(run, [phase("up", "all", lambda m: pytest.fail("ran in a dry run"))])
    text = stream.getvalue()
    assert all(f"would up on {name}" in text for name in ("cp", "w1", "w2"))


def test_hosts_run_in_parallel_within_a_phase_and_the_cap_is_honoured():
    run, _ = make_run()
    active, peak, lock = [0], [0], threading.Lock()

    def slow(m):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.2)
        with lock:
            active[0] -= 1
        return "done"

    everyone = threading.Barrier(3, timeout=10)  # passes only if all three run at once
    result = run_parallel(run.members, lambda m: everyone.wait() and "" or "met")
    assert sorted(result.ok) == ["cp", "w1", "w2"] and not result.failed
    run_parallel(run.members, slow, limit=2)
    assert peak[0] <= 2


def test_an_unexpected_exception_is_raised_after_the_others_finished():
    run, _ = make_run()
    finished = []

    def action(m):
        if m.name == "cp":
            raise KeyError("bug")
        time.sleep(0.05)
        finished.append(m.name)
        return "ok"

    with pytest.raises(KeyError):
        run_parallel(run.members, action)
    assert sorted(finished) == ["w1", "w2"]


def test_network_failures_are_given_their_likely_cause():
    class S:
        host_ip, port_flannel, port_kube_apiserver, cni = "192.0.2.2", 8472, 6443, "flannel"
        ports = {"PORT_KUBE_APISERVER": 6443}

    class M:
        def __init__(self, name):
            self.name, self.settings = name, S()

    views = {n: netcheck.NodeView(M(n), i, netcheck.mac_for(i)) for i, n in enumerate(("a", "b"))}
    probes = [
        netcheck.Probe("a", "b", "vxlan", False, "no answer"),
        netcheck.Probe("a", "b", "tcp PORT_KUBE_APISERVER", False, "refused"),
        netcheck.Probe("a", "b", "mtu", False, "lost"),
    ]
    netcheck.diagnose(probes, views)
    assert "UDP 8472" in probes[0].cause and "allow UDP 8472" in probes[0].fix
    assert "6443" in probes[1].cause
    assert "MTU" in probes[2].fix
    views["b"].rp_filter = {"all": "0", "default": "1"}
    strict = [netcheck.Probe("a", "b", "vxlan", False, "no answer")]
    netcheck.diagnose(strict, views)
    assert "rp_filter" in strict[0].cause


def test_listening_ports_and_macs():
    ss = "LISTEN 0 4096 0.0.0.0:6443 0.0.0.0:*\nLISTEN 0 128 [::]:22 [::]:*\n"
    assert system.parse_listening(ss) == {("tcp", 6443), ("tcp", 22)}
    assert netcheck.mac_for(0) != netcheck.mac_for(1)
    assert netcheck.mac_for(300) == "02:75:37:00:01:2c"


def test_podmans_pasta_is_reported_by_the_network_check(tmp_path):
    from pathlib import Path

    from u7s.run.hosts import Host, Result
    from u7s.config.resolve import resolve

    recorded = Path(__file__).resolve().parents[1] / "fixtures"
    pasta = recorded / "podman-info-rootless-pasta.json"

    class PodmanHost(Host):
        name = "p1"

        def _run(self, command, *, stdin, timeout):
            return Result(0, pasta.read_text(), "") if " info " in f" {command} " else Result(1, "", "")

        def read_text(self, path):
            return None

        def write_file(self, path, data, mode=0o644):
            return True

        def remove(self, path):
            return False

        def makedirs(self, path, mode=0o700):
            return None

        def run_streaming(self, argv, source, sent=None):
            raise AssertionError("nothing is streamed in this test")

    class Facts:
        def hostname(self): return "p1"
        def host_ip(self): return "192.0.2.1"
        def home(self): return "/home/p"
        def has_command(self, name): return name == "podman"
        def detected_engine(self): return "podman", "/usr/bin/podman"
        def bypass4netnsd_running(self): return False
        def link_mtu(self, host_ip): return 1500, "eth0"

    member = Member(INVENTORY.hosts[0], Reporter("p1", stream=io.StringIO()), PodmanHost(), resolve(Facts()))
    probe = netcheck.NetworkCheck.podman_network(netcheck.NodeView(member, 0, netcheck.mac_for(0)))
    assert not probe.ok and "pasta" in probe.cause and "slirp4netns" in probe.fix
