"""Table-driven step cases: recorded host answers in; the commands run and the --dry-run lines out.

Each case names the command words that the step's dry-run text promises; the test checks that the
text says them and that the action, run against the recorded answers, runs them: the two cannot drift.
"""

from __future__ import annotations

import io

import pytest

from u7s.session import Member, alone
from u7s.steps import workflows
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import FakeHost, make_settings

RUNNING = '{"Status":"running","Running":true}'
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
    step.action(None, member(host), **params)
    ran = [" ".join(argv) for argv in host.calls]
    for words in promised:
        assert words in text, f"{name}: the dry-run text does not name {words!r}: {text}"
        assert any(words in command for command in ran), f"{name}: the action did not run {words!r}: {ran}"
