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
