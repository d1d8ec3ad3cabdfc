"""The ordered steps of `create` and the messages of a step that had nothing to do."""

import io

import pytest

from u7s.steps import lifecycle, workflows
from u7s.node.container import Node
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import FakeHost, make_settings


def test_create_runs_the_reference_order():
    assert [step.task_name for step in workflows.CREATE_ONE_HOST] == [
        "up", "kubeadm-init", "sync-external-ip", "install-flannel", "install-storage", "install-metrics-server",
        "kubeconfig", "untaint", "wait-ready",
    ]
    # Across hosts, the same steps keep the phase names the cluster tasks print ("== init (cp)").
    assert [step.title for step in workflows.CREATE] == [
        "preflight", "up", "init", "check-network", "join", "sync-external-ip", "install-flannel", "install-storage",
        "install-metrics-server", "wait-ready",
    ]


def test_down_without_a_node_says_so_and_runs_nothing_that_changes():
    s = make_settings(U7S_WORKDIR="/w")
    host = FakeHost().on("docker", "inspect", exited=1, stderr="Error: No such container: u7s-node")
    assert lifecycle.down(Node(host, s, Reporter(stream=io.StringIO()))) == "no node container: nothing to stop"
    assert [argv[1] for argv in host.calls] == ["inspect"]


def test_install_flannel_twice_is_harmless():
    s = make_settings()
    host = FakeHost().on("docker", "inspect", stdout='{"Status":"running","Running":true}')
    host.on("docker", "exec", contains="helm", stdout='{"info": {"status": "deployed"}}')
    assert lifecycle.install_flannel(Node(host, s, Reporter(stream=io.StringIO()))) == "flannel already installed"


def test_a_step_for_hosts_no_runner_knows_is_refused_when_it_is_made():
    from u7s.steps.step import Step

    with pytest.raises(ValueError, match=r"step join: hosts='worker'; expected one of all, control-plane, workers"):
        Step("join", None, lambda m: [], hosts="worker")
    assert all(s.hosts in ("all", "control-plane", "workers") for s in vars(workflows).values() if isinstance(s, Step))



def _run(alone=False, names=("cp", "w1", "w2")):
    """A run of these hosts, the one named cp its control plane."""
    from u7s.config.inventory import HostSpec, Inventory, Ssh
    from u7s.session import Member, Run

    specs = [HostSpec(n, None, "control-plane" if n == "cp" else "worker", False, Ssh()) for n in names]
    members = [Member(spec, Reporter(spec.name, stream=io.StringIO())) for spec in specs]
    return Run(Inventory("hosts.yaml", "t", specs), members, Reporter(stream=io.StringIO()), alone=alone)


def test_one_by_one_steps_go_host_by_host_control_plane_first_and_stop_at_the_first_failure():
    from u7s.errors import U7sError
    from u7s.steps.step import Step, StepFailed, execute

    done = []

    def act(title):
        def action(run, m, fail_on=""):
            if m.name == fail_on:
                raise U7sError("broken")
            done.append((m.name, title))
            return "ok"
        return action

    stretch = [Step("a", act("a"), lambda m, **_: [], hosts="all", one_by_one=True),
               Step("b", act("b"), lambda m, **_: [], hosts="workers", one_by_one=True)]
    execute(_run(names=("w1", "cp", "w2")), stretch)  # the control plane first, wherever the inventory lists it
    assert done == [("cp", "a"), ("w1", "a"), ("w1", "b"), ("w2", "a"), ("w2", "b")]
    done.clear()
    with pytest.raises(StepFailed) as failed:
        execute(_run(), stretch, fail_on="w1")
    assert (failed.value.step.title, failed.value.member.name, str(failed.value.cause)) == ("a", "w1", "broken")
    assert done == [("cp", "a")]  # w2 was not started: one host at a time, and the run stopped


def test_one_host_on_its_own_gets_its_errors_as_they_are():
    from u7s.errors import U7sError
    from u7s.steps.step import Step, execute

    def broken(run, m):
        raise U7sError("the advice as it is")

    with pytest.raises(U7sError, match="^the advice as it is$"):
        execute(_run(alone=True, names=("cp",)), [Step("x", broken, lambda m: [])])
