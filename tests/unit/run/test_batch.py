"""Batches of read-only commands: one round trip per host, each command's result as if run alone."""

from __future__ import annotations

import io
import shlex

import invoke
import pytest

from u7s import session
from u7s.errors import CommandFailed, U7sError
from u7s.facts.host import HOME, HOSTNAME, HostFacts, likely_probes
from u7s.node import kube
from u7s.run import batch
from u7s.run.answered import Answered
from u7s.run.hosts import LocalHost, Result
from u7s.session import Member
from u7s.checks import status
from u7s.steps import workflows
from u7s.steps.outcome import ALREADY, already, changed
from u7s.checks.preflight import Preflight
from u7s.ui.report import Reporter
from tests.unit.steps.test_cluster_phases import INVENTORY
from tests.unit.checks.test_preflight import healthy_host
from tests.unit.u7s_fakes import FakeFacts, FakeHost, fixture, make_settings

AWKWARD = [
    ["echo", "a b", "$(id)", "it's", "*", ""],
    ["sh", "-c", "echo out; echo err >&2; exit 3"],
    ["printf", "%s", "no newline at the end"],
    ["printf", ""],
    ["sh", "-c", "printf 'x\\n\\n'; printf 'e\\n\\n' >&2"],
    ["printf", "%s", "\nu7s-batch 0\n"],  # looks like a marker, is not one: the boundary is random
    ["cat"],  # its input is closed: it ends at once
    ["sh", "-c", 'test "$#" = 2 && printf "%s|" "$@"', "sh", "one", "two words"],
]


def test_a_batch_gives_each_command_the_result_it_gets_alone():
    host = LocalHost(invoke.Context(), "here")
    together = host.run_many(AWKWARD)
    assert together == [host.run(argv, check=False, stdin="") for argv in AWKWARD]
    assert together[0].stdout == "a b $(id) it's * \n"
    assert together[1] == Result(3, "out\n", "err\n")
    assert together[7].stdout == "one|two words|"


def test_a_command_that_is_not_found_exits_127_as_alone():
    host = LocalHost(invoke.Context(), "here")
    found = host.run_many([["true"], ["u7s-no-such-command"]])
    assert found[0].ok and found[1].exited == 127 and "u7s-no-such-command" in found[1].stderr


def test_a_batch_is_one_command_whose_words_are_never_script_text():
    argv = batch.command([["echo", "$(reboot)"], ["id"]], "u7s-b")
    assert argv[:3] == ["sh", "-c", batch.SCRIPT] and "reboot" not in batch.SCRIPT
    assert argv[3:] == ["u7s-batch", "u7s-b", "2", "echo", "$(reboot)", "1", "id"]


def test_output_cut_short_yields_the_results_before_the_cut_and_the_rest_run_alone():
    text = "one\n\nB 0\n\nB\ntwo\n\nB 1\nbad"  # the second command's section never ended
    assert batch.parse(text, "B") == [Result(0, "one\n", "")]

    class Cut(FakeHost):
        def _run(self, command, *, stdin, timeout):
            if command.startswith("sh -c"):
                self.calls.append(["batch"])
                boundary = shlex.split(command)[4]
                return Result(0, text.replace("B", boundary), "")
            return super()._run(command, stdin=stdin, timeout=timeout)

    host = Cut().on("id", stdout="uid=1\n")
    assert batch.run_together(host, [["echo", "one"], ["id"]]) == [Result(0, "one\n", ""), Result(0, "uid=1\n", "")]
    assert host.calls == [["batch"], ["id"]]


def test_answered_serves_the_batch_and_passes_anything_else_through():
    host = FakeHost().on("id", stdout="uid=1\n").on("false", exited=1, stderr="no\n").on("date", stdout="now\n")
    answered = Answered(host, [["id"], ["false"]])
    assert host.calls == [["id"], ["false"]]
    assert answered.run(["id"]).stdout == "uid=1\n"
    assert answered.run(["false"], check=False).exited == 1
    with pytest.raises(CommandFailed):
        answered.run(["false"])
    assert answered.run(["date"]).stdout == "now\n"
    assert host.calls == [["id"], ["false"], ["date"]]


def test_answered_does_not_ask_again_what_the_run_already_knows():
    host = FakeHost().on("id", stdout="uid=1\n")
    answered = Answered(host, [["id"], ["docker", "compose", "version"]],
                              known={("docker", "compose", "version"): Result(0, "v2\n", ""), ("other",): None})
    assert host.calls == [["id"]]
    assert answered.run(["docker", "compose", "version"]).stdout == "v2\n"


class CountingHost(FakeHost):
    """A scripted host that counts its batches."""

    batches = 0

    def run_many(self, argvs):
        self.batches += 1
        return super().run_many(argvs)


def test_preflight_asks_a_healthy_host_one_batch_and_nothing_else():
    s = make_settings(U7S_MOUNTS="/srv/data:/data")
    host = healthy_host(s)
    host.__class__ = CountingHost
    host.on("test", "-e", "/srv/data")
    asked = []
    original = host.run_many
    host.run_many = lambda argvs: asked.extend(argvs) or original(argvs)
    results = Preflight(host, s).run()
    assert host.batches == 1 and host.calls == asked
    assert {r.name for r in results} >= {"engine", "ports", "host paths", "rp_filter", "kubectl"}


def test_preflight_leaves_out_what_the_facts_already_asked():
    s = make_settings(U7S_MOUNTS="/srv/data:/data")
    host = healthy_host(s).on("test", "-e", "/srv/data")
    compose = [*s.compose, "version"]
    facts = HostFacts(host)
    facts.prefetch([compose])
    assert host.calls == [compose]
    results = Preflight(host, s, known=facts.answers).run()
    assert host.calls.count(compose) == 1  # asked once in the run: by the facts
    assert next(r for r in results if r.name == "compose").status == "ok"


def test_facts_settings_need_are_asked_in_one_batch():
    host = CountingHost().on("hostname", stdout="h1\n").on("ip", stdout='[{"prefsrc": "192.0.2.7"}]')
    host.on("sh", "-c", stdout="/home/u")
    facts = HostFacts(host)
    facts.prefetch(likely_probes({"CONTAINER_ENGINE": "podman", "COMPOSE": "podman compose"}))
    assert host.batches == 1 and [HOSTNAME, HOME] == [c for c in host.calls if c in (HOSTNAME, HOME)]
    calls = len(host.calls)
    assert (facts.hostname(), facts.host_ip(), facts.home()) == ("h1", "192.0.2.7", "/home/u")
    assert len(host.calls) == calls  # answered from the batch


def test_likely_probes_leave_out_what_the_user_gave():
    assert likely_probes({"HOSTNAME": "a", "HOST_IP": "192.0.2.1", "U7S_WORKDIR": "/w", "CONTAINER_ENGINE": "podman",
                          "COMPOSE": "podman compose", "NODE_MTU": 1460}) == []
    docker = likely_probes({"CONTAINER_ENGINE": "docker"})
    assert ["docker", "compose", "version"] in docker and not any("podman-compose" in p for p in docker)
    assert any("bypass4netnsd" in " ".join(p) for p in likely_probes({}))


def lab_run(answers: dict[str, dict]):
    """A run over INVENTORY's three hosts, each a FakeHost scripted by `answers[name]` (argv prefix -> stdout)."""
    stream = io.StringIO()
    members = []
    for spec in INVENTORY.hosts:
        host = CountingHost()
        host.name = spec.name
        for prefix, (exited, stdout) in answers.get(spec.name, {}).items():
            host.on(*prefix, exited=exited, stdout=stdout)
        members.append(Member(spec, Reporter(spec.name, stream=stream), host,
                              make_settings(FakeFacts(hostname=spec.name))))
    return session.Run(INVENTORY, members, Reporter(stream=stream)), stream


RUNNING = '{"Status":"running","Running":true,"StartedAt":"2026-11-30T12:00:00Z"}'


def node_list(*ready_names):
    items = [{"metadata": {"name": n}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
             for n in ready_names]
    return '{"items": %s}' % str(items).replace("'", '"')


def test_status_asks_each_host_once():
    engine_answers = {("docker", "info"): (0, fixture("docker-info-rootless.json")),
                      ("docker", "inspect"): (0, RUNNING)}
    run, _ = lab_run({
        "cp": {**engine_answers, ("docker", "exec"): (0, node_list("u7s-cp", "u7s-w1"))},
        "w1": engine_answers,
        "w2": {("docker", "info"): (1, ""), ("docker", "inspect"): (1, "")},
    })
    rows = {r["host"]: r for r in status.status_rows(run)}
    assert all(m.host.batches == 1 and len(m.host.calls) == (4 if m.name == "cp" else 2) for m in run.members)
    assert (rows["cp"]["rootless"], rows["cp"]["node"], rows["cp"]["ready"]) == (True, "running", True)
    assert (rows["w1"]["node"], rows["w1"]["ready"]) == ("running", True)
    assert (rows["w2"]["rootless"], rows["w2"]["node"], rows["w2"]["ready"]) == (None, "absent", None)
    cp_exec = run.members[0].host.calls[2]
    assert cp_exec[:3] == ["docker", "exec", "u7s-node"]
    assert cp_exec[3:] == ["kubectl", "--kubeconfig", kube.ADMIN_CONF, "--request-timeout=5s", "get", "nodes",
                           "-o", "json"]
    assert run.members[0].host.calls[3][3:] == ["kubeadm", "certs", "check-expiration"]  # the 30-day warning's
    assert rows["cp"]["cert_warning"] is None  # an answer that is no certificate table warns of nothing


def test_network_check_is_not_needed_when_every_worker_has_joined():
    joined = {("docker", "inspect"): (0, RUNNING), ("docker", "exec"): (0, "")}
    run, stream = lab_run({"w1": joined, "w2": joined})
    assert workflows._network(run, run.members) == {}
    assert "network check: not needed, no host joins" in stream.getvalue()
    assert run.joined == {"w1", "w2"}
    assert workflows._join(run, run.members[1]) == "already joined"
    assert all(m.host.batches == 1 for m in run.members[1:]) and not run.members[0].host.calls


def test_nothing_done_only_when_every_changing_step_found_its_work_done():
    done = {
        "preflight": {"cp": "preflight passed (0 warning(s))"},
        "up": {"cp": already("node u7s-cp already up (10.100.1.100); nothing changed")},
        "init": {"cp": already("already initialised: kubeadm init not run again; external IPs in sync on 3 node(s)")},
        "join": {"w1": already("already joined"), "w2": already("already joined")},
        "sync-external-ip": {"cp": already("external IPs in sync on 3 node(s)")},
        "install-flannel": {"cp": already("flannel already installed")},
        "install-storage": {"cp": already("local-path storage already installed (StorageClass local-path, the "
                                          "default; volumes in /w/storage on each host)")},
        "wait-ready": {"cp": already("every node is Ready (u7s-cp, u7s-w1, u7s-w2)")},
    }
    assert workflows.nothing_done(done)
    for title, host, said in (("up", "cp", changed("node u7s-cp restarted and booted (10.100.1.100)")),
                              ("join", "w2", changed("joined u7s-cp via 192.0.2.1")),
                              ("install-flannel", "cp", changed("flannel installed (VXLAN on UDP 8472)")),
                              ("install-storage", "cp", changed("local-path storage installed: "
                                                                "storageclass.storage.k8s.io/local-path")),
                              ("wait-ready", "cp", changed("every node became Ready (u7s-cp, u7s-w1, u7s-w2)")),
                              ("up", "cp", "a plain message, without a status")):
        assert not workflows.nothing_done({**done, title: {**done[title], host: said}})
    assert not workflows.nothing_done({k: v for k, v in done.items() if k != "up"})
    assert not workflows.nothing_done({k: v for k, v in done.items() if k != "wait-ready"})


def test_nothing_done_reads_the_status_never_the_words():
    reworded = {title: {"cp": already(f"{title}: nothing needed")} for title in ("up", "init", "wait-ready")}
    assert workflows.nothing_done(reworded)
    assert not workflows.nothing_done({**reworded, "up": {"cp": changed("node u7s-cp already up; nothing changed")}})


def test_sync_after_joins_is_not_repeated_when_this_run_joined_no_one():
    run, _ = lab_run({})
    cp = run.members[0]
    sync = already("external IPs in sync on 3 node(s)")
    run.outcomes["init"] = {"cp": already(f"already initialised: kubeadm init not run again; {sync}", sync=sync)}
    run.outcomes["join"] = {"w1": already("already joined"), "w2": already("already joined")}
    said = workflows._sync(run, cp)
    assert said == "external IPs in sync on 3 node(s)" and said.status == ALREADY and not cp.host.calls
    run.outcomes["join"]["w2"] = changed("joined u7s-cp via 192.0.2.1")
    with pytest.raises(AssertionError, match="no rule"):  # it syncs: asks the (unscripted) host
        workflows._sync(run, cp)


def test_a_worker_that_cannot_be_asked_whether_it_joined_is_a_failure_of_the_network_step():
    joined = {("docker", "inspect"): (0, RUNNING), ("docker", "exec"): (0, "")}
    run, _ = lab_run({"w1": joined})
    w2 = run.members[2]
    w2.host.run_many = lambda argvs: (_ for _ in ()).throw(OSError("connection reset"))
    assert workflows._network(run, run.members) == {"w2": "connection reset"}
    assert w2.failed == "connection reset" and run.joined == {"w1"}


def test_status_shows_a_host_lost_during_the_run_as_unreachable_and_the_others_as_they_are():
    engine_answers = {("docker", "info"): (0, fixture("docker-info-rootless.json")),
                      ("docker", "inspect"): (0, RUNNING)}
    run, _ = lab_run({"cp": {**engine_answers, ("docker", "exec"): (0, node_list("u7s-cp"))}, "w1": engine_answers})
    lost = run.members[2].host

    def gone(argvs):
        raise U7sError(f"{lost.name}: lost the SSH connection: EOF")
    lost.run_many = gone
    rows = {r["host"]: r for r in status.status_rows(run)}
    assert (rows["w2"]["reachable"], rows["w2"]["node"]) == (False, None)
    assert "lost the SSH connection" in rows["w2"]["error"]
    assert (rows["cp"]["node"], rows["w1"]["node"]) == ("running", "running")
