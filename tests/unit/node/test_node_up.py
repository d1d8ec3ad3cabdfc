"""`up` on a node that runs: left alone when it runs with the files up would write, started again otherwise."""

from __future__ import annotations

import io

from u7s.node import staging
from u7s.render import engine, workdir
from u7s.node import container
from u7s.node.container import Node
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import FakeHost, make_settings

RUNNING = '{"Status":"running","Running":true,"StartedAt":"2026-11-30T12:00:00Z"}'
RESTARTED = '{"Status":"running","Running":true,"StartedAt":"2026-11-30T13:00:00Z"}'


def running_node(stamp: bool = True):
    s = make_settings(NODE_IMAGE="example/node:1", U7S_WORKDIR="/w")
    host = FakeHost().on(*engine.inspect_state(s), stdout=RUNNING)
    staging.stage(host, s)
    if stamp:
        host.files[s.path(container.UP_STAMP)] = f"{workdir.digest(workdir.files(s))} 2026-11-30T12:00:00Z\n"
    host.on(*engine.compose_up(s), stdout="")
    host.on(*engine.node_exec(s, ["systemctl", "is-system-running"], env=False, stdin=False), stdout="running\n")
    return Node(host, s, Reporter(stream=io.StringIO())), host, s


def compose_runs(host, s):
    return [argv for argv in host.calls if argv[: len(s.compose)] == list(s.compose)]


def test_a_node_running_with_the_same_files_is_left_alone():
    node, host, s = running_node()
    host.calls.clear()
    assert node.up() == "unchanged"
    assert compose_runs(host, s) == [] and not any("systemctl" in argv for argv in host.calls)


def test_without_the_stamp_compose_runs_and_the_stamp_is_written():
    node, host, s = running_node(stamp=False)
    assert node.up() == "unchanged"  # compose found nothing to do: the same start time
    assert len(compose_runs(host, s)) == 1
    assert host.files[s.path(container.UP_STAMP)].endswith(" 2026-11-30T12:00:00Z\n")
    host.calls.clear()
    assert node.up() == "unchanged" and compose_runs(host, s) == []


def test_a_changed_setting_or_a_node_started_since_runs_compose_again():
    node, host, s = running_node()
    changed = Node(host, make_settings(NODE_IMAGE="example/node:1", U7S_WORKDIR="/w", PORT_KUBELET=20250),
                   Reporter(stream=io.StringIO()))
    host.on(*engine.compose_up(changed.s, recreate=True), stdout="")
    changed.up()
    assert compose_runs(host, s) == [engine.compose_up(changed.s, recreate=True)]
    assert host.files[s.path(container.UP_STAMP)].startswith(workdir.digest(workdir.files(changed.s)))

    node, host, s = running_node()  # the stamp names a start time the node no longer has (restarted by hand)
    host.on(*engine.inspect_state(s), stdout=RESTARTED)
    node.up()
    assert len(compose_runs(host, s)) == 1


def test_a_node_made_from_other_files_is_recreated_not_just_started():
    """podman-compose before 1.0.6 `start`s the old container when the compose file changed: u7s asks for a new one."""
    node, host, s = running_node()
    host.files[s.path(container.UP_STAMP)] = "0123 2026-11-30T12:00:00Z\n"  # the last good up had other files
    host.on(*engine.compose_up(s, recreate=True), stdout="")
    host.calls.clear()
    node.up()
    assert compose_runs(host, s) == [engine.compose_up(s, recreate=True)]
