"""cluster.remove-node: drain, delete the Node, reset, down -v, in that order; refusals before any change."""

from __future__ import annotations

import pytest
import yaml

from u7s.steps import nodes_remove
from u7s.session import Run
from u7s.errors import U7sError
from u7s.session import Member
from u7s.config.inventory import parse
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import FakeHost, make_settings

INVENTORY = """
cluster: {name: t}
hosts:
  - {name: cp, address: 192.0.2.1, role: control-plane}
  - {name: w1, address: 192.0.2.2}
"""


def _run(dry_run=False, registered=True, drain_fails=False):
    inv = parse(yaml.safe_load(INVENTORY))
    cp_host, w_host = FakeHost(), FakeHost({make_settings(HOSTNAME="w1").path("docker-compose.yaml"): "x"})
    for host in (cp_host, w_host):
        host.on("docker", "inspect", stdout='{"Running": true}')
        host.on("docker", "exec", stdout="")
        host.on("docker", "compose", stdout="")
        host.on("rm", "-rf", stdout="")  # down -v takes the default volume directory (U7S_STORAGE_DIR)
    cp_host.on("docker", "exec", contains="get", exited=0 if registered else 1,
               stderr="" if registered else 'Error from server (NotFound): nodes "u7s-w1" not found')
    cp_host.on("docker", "exec", contains="drain", exited=1 if drain_fails else 0,
               stdout="node/u7s-w1 cordoned\nevicting pod default/web-1\npod/web-1 evicted\nnode/u7s-w1 drained\n",
               stderr="error: unable to drain node \"u7s-w1\" due to error: cannot delete Pods that declare no "
                      "controller (use --force to override): default/bare\n" if drain_fails else "")
    members = [Member(inv.hosts[0], Reporter("cp"), cp_host, make_settings(HOSTNAME="cp")),
               Member(inv.hosts[1], Reporter("w1"), w_host, make_settings(HOSTNAME="w1"))]
    return Run(inv, members, Reporter(), dry_run=dry_run), cp_host, w_host


def _in_node(host):
    return [argv[argv.index("u7s-node") + 1:] for argv in host.calls if "exec" in argv]


def test_steps_run_in_order_on_the_right_hosts():
    run, cp, w = _run()
    nodes_remove.remove(run, "w1", timeout=120, force=False)
    assert ["kubectl", "drain", "u7s-w1", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=120s"] \
        in _in_node(cp)
    assert _in_node(cp).index(["kubectl", "delete", "node", "u7s-w1", "--ignore-not-found"]) > \
        _in_node(cp).index(["kubectl", "drain", "u7s-w1", "--ignore-daemonsets", "--delete-emptydir-data",
                            "--timeout=120s"])
    assert ["kubeadm", "reset", "--force"] in _in_node(w)
    assert w.calls[-2][-2:] == ["down", "-v"]
    assert w.calls[-1] == ["rm", "-rf", "--", make_settings(HOSTNAME="w1").storage_dir]
    assert not any("down" in argv for argv in cp.calls)


def test_force_reaches_kubectl_drain():
    run, cp, _ = _run()
    nodes_remove.remove(run, "w1", timeout=60, force=True)
    assert any(argv[-1] == "--force" and "drain" in argv for argv in cp.calls)


def test_a_failed_drain_stops_before_anything_is_deleted_and_says_about_force():
    run, cp, w = _run(drain_fails=True)
    with pytest.raises(U7sError, match=r"drain failed on cp: .*declare no controller.*only deleted with --force"):
        nodes_remove.remove(run, "w1", timeout=60, force=False)
    assert not any("delete" in argv for argv in _in_node(cp))
    assert not any("reset" in argv for argv in _in_node(w))


def test_an_unregistered_node_is_not_drained_but_its_host_is_still_cleaned():
    run, cp, w = _run(registered=False)
    nodes_remove.remove(run, "w1", timeout=60, force=False)
    assert not any("drain" in argv for argv in cp.calls)
    assert ["kubeadm", "reset", "--force"] in _in_node(w)


def test_dry_run_changes_nothing():
    run, cp, w = _run(dry_run=True)
    nodes_remove.remove(run, "w1", timeout=60, force=False)
    assert cp.calls == [] and w.calls == []


@pytest.mark.parametrize("name, message", [
    ("cp", "cp is the control plane"),
    ("nope", "no host named 'nope'; known: cp, w1"),
])
def test_refusals(name, message):
    run, cp, w = _run()
    with pytest.raises(U7sError, match=message):
        nodes_remove.remove(run, name, timeout=60, force=False)
    assert cp.calls == [] and w.calls == []
