"""Table-driven step cases: recorded host answers in; the commands run and the --dry-run lines out.

Each case names the command words that the step's dry-run text promises; the test checks that the
text says them and that the action, run against the recorded answers, runs them: the two cannot drift.
"""

from __future__ import annotations

import io

import pytest

from u7s.session import Member, alone, one_host
from u7s.steps import nodes_remove, upgrade, workflows
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import FakeHost, make_settings

RUNNING = '{"Status":"running","Running":true}'
NODES = '{"items": []}'  # what `kubectl get nodes -o json` says (no kubelet at the new version yet)
IN_NODE = {("docker", "inspect"): {"stdout": RUNNING}, ("docker", "exec"): {"stdout": NODES}}
LEAVING = {"node_name": "u7s-w1", "timeout": 60, "force": True}
UPGRADE = {"target": "v1.36.0", "timeout": 120, "force": False}
CASES = {
    # step: (recorded answers: command prefix -> answer, parameters, the command words its text names)
    "down": (workflows.DOWN, {("docker", "inspect"): {"stdout": RUNNING}, ("docker", "compose"): {}}, {},
             ["docker compose -f /w/docker-compose.yaml -p u7s down"]),
    "down-v": (workflows.DOWN_V, {("docker", "inspect"): {"stdout": RUNNING}, ("docker", "compose"): {},
                                  ("docker", "exec"): {}, ("rm",): {}}, {},
               ["docker compose -f /w/docker-compose.yaml -p u7s down -v", "/var/local-path-provisioner",
                "/w/storage"]),
    "reset": (workflows.RESET, {("docker", "inspect"): {"stdout": RUNNING}, ("docker", "exec"): {}}, {},
              ["kubeadm reset --force"]),
    "kubectl": (workflows.KUBECTL, {("docker", "cp"): {}, ("chmod",): {}}, {"path": "/w/bin/kubectl"},
                ["/usr/bin/kubectl", "/w/bin/kubectl", "0755"]),
    # cluster.remove-node (on a run of one host, the control plane and the leaving node are the same here)
    "remove: drain": (nodes_remove.DRAIN, IN_NODE, LEAVING,
                      ["kubectl drain u7s-w1 --ignore-daemonsets --delete-emptydir-data --timeout=60s --force"]),
    "remove: delete-node": (nodes_remove.DELETE_NODE, IN_NODE, LEAVING, ["kubectl delete node u7s-w1"]),
    "remove: reset": (nodes_remove.RESET, IN_NODE, LEAVING, ["kubeadm reset --force"]),
    "remove: down-v": (nodes_remove.DOWN_V, {**IN_NODE, ("docker", "compose"): {}, ("rm",): {}}, LEAVING,
                       ["docker compose -f /w/docker-compose.yaml -p u7s down -v"]),
    # upgrade
    "upgrade: drain": (upgrade.DRAIN, IN_NODE, UPGRADE,
                       ["kubectl drain u7s-host1 --ignore-daemonsets --delete-emptydir-data --timeout=120s"]),
    "upgrade: uncordon": (upgrade.UNCORDON, IN_NODE, UPGRADE, ["kubectl uncordon u7s-host1"]),
}


def member(host: FakeHost) -> Member:
    return alone(host, make_settings(U7S_WORKDIR="/w"), Reporter(stream=io.StringIO()))


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_dry_run_text_names_what_the_action_runs(name):
    step, answers, params, promised = CASES[name]
    host = FakeHost(files={"/w/docker-compose.yaml": "services: {}\n"})  # what `up` wrote
    for prefix, answer in answers.items():
        host.on(*prefix, **answer)
    text = " ".join(step.would(member(host), **params))
    here = member(host)
    step.action(one_host(here), here, **params)
    ran = [" ".join(argv) for argv in host.calls]
    for words in promised:
        assert words in text, f"{name}: the dry-run text does not name {words!r}: {text}"
        assert any(words in command for command in ran), f"{name}: the action did not run {words!r}: {ran}"
