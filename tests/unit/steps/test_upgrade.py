"""upgrade: kubeadm's version policy checked first, then the steps in order, control plane before workers."""

from __future__ import annotations

import json

import pytest

from u7s.steps import upgrade
from u7s.errors import U7sError
from u7s.node.container import Node
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import FakeHost, make_settings, run_of


@pytest.mark.parametrize("current, target, fragment", [
    ("v1.35.0", "v1.37.0", "kubeadm can upgrade only 1 minor version at a time; upgrade to v1.36 first"),
    ("v1.35.2", "v1.35.1", "does not support downgrades"),
    ("v1.35.0", "v1.34.9", "does not support downgrades"),
    ("v1.35.0", "v2.0.0", "only 1 minor version"),
])
def test_kubeadm_refusals(current, target, fragment):
    assert fragment in upgrade.skew_problem(current, target)


@pytest.mark.parametrize("current, target", [("v1.35.0", "v1.36.0"), ("v1.35.0", "v1.35.4"), ("v1.35.0", "v1.35.0")])
def test_allowed_moves(current, target):
    assert upgrade.skew_problem(current, target) is None


def test_version_text_is_checked():
    with pytest.raises(U7sError, match="not a Kubernetes version"):
        upgrade.parse_version("latest")


def _node(hostname, cluster="v1.35.0", image="v1.36.0", kubelets=None):
    s = make_settings(HOSTNAME=hostname, NODE_IMAGE="localhost/u7s-node:next")
    host = FakeHost()
    host.name = hostname
    host.on("docker", "inspect", stdout='{"Running": true, "StartedAt": "x"}')
    host.on("docker", "exec", stdout="")
    host.on("docker", "run", "--rm", "--entrypoint", "kubeadm", stdout=image + "\n")
    host.on("docker", "exec", contains="version", stdout=json.dumps({"serverVersion": {"gitVersion": cluster}}))
    nodes = {"items": [{"metadata": {"name": n}, "status": {"nodeInfo": {"kubeletVersion": v},
                                                           "conditions": [{"type": "Ready", "status": "True"}]}}
                       for n, v in (kubelets or {}).items()]}
    host.on("docker", "exec", contains="nodes", stdout=json.dumps(nodes))
    return Node(host, s, Reporter(hostname))


def _in_node(node):
    return [argv[argv.index("u7s-node") + 1:] for argv in node.host.calls if "exec" in argv]


def test_dry_run_lists_each_hosts_steps_in_order_and_changes_nothing(capsys):
    cp, w1 = _node("cp"), _node("w1")
    upgrade.run_upgrade(run_of(cp, {"w1": w1}, dry_run=True))
    err = capsys.readouterr().err
    order = [line.split("would ", 1)[1].split(" ")[:3] for line in err.splitlines() if "would " in line]
    assert [o[:2] for o in order] == [["copy", "kubeadm"], ["run", "kubeadm"], ["run", "docker"], ["wait", "until"],
                                      ["run", "kubectl"], ["copy", "kubeadm"], ["run", "kubeadm"], ["run", "docker"],
                                      ["wait", "until"], ["run", "kubectl"]]
    assert "would run kubeadm v1.36.0 upgrade apply --yes v1.36.0 in u7s-cp (its kubelet stays as it is)" in err
    assert "would copy kubeadm v1.36.0 from localhost/u7s-node:next into the running u7s-w1 " \
           "(/usr/local/lib/u7s/kubeadm-v1.36.0)" in err
    assert "cluster at v1.35.0; the node image carries v1.36.0" in err
    assert not any(a[:1] == ["kubeadm"] and "upgrade" in a for a in _in_node(cp) + _in_node(w1))
    assert not any("compose" in argv or "create" in argv for argv in cp.host.calls + w1.host.calls)


def test_a_skipped_minor_is_refused_before_any_host_is_touched():
    cp, w1 = _node("cp", image="v1.37.0"), _node("w1", image="v1.37.0")
    with pytest.raises(U7sError, match="only 1 minor version at a time"):
        upgrade.run_upgrade(run_of(cp, {"w1": w1}))
    assert not any("compose" in argv for argv in cp.host.calls + w1.host.calls)


def test_images_carrying_different_versions_are_refused():
    cp, w1 = _node("cp"), _node("w1", image="v1.35.0")
    with pytest.raises(U7sError, match="different versions"):
        upgrade.run_upgrade(run_of(cp, {"w1": w1}))


def test_waiting_ends_only_when_the_new_kubelet_reports_its_version():
    cp = _node("cp", kubelets={"u7s-w1": "v1.35.0"})
    short = make_settings(HOSTNAME="cp", NODE_IMAGE="localhost/u7s-node:next", U7S_TIMEOUT="1")
    node = Node(cp.host, short, Reporter("cp"))
    with pytest.raises(U7sError, match=r"u7s-w1's kubelet to report v1.36.0 and Ready \(last seen: kubelet v1.35.0, Ready\)"):
        upgrade._wait_upgraded(node, "u7s-w1", "v1.36.0")
    assert upgrade._wait_upgraded(node, "u7s-w1", "v1.35.0") == "u7s-w1 is Ready with kubelet v1.35.0"


HEALTH = ("[preflight] Some fatal errors occurred:\n\t[ERROR CreateJob]: Job \"upgrade-health-check-x1y2z\" in the "
          "namespace \"kube-system\" did not complete in 15s: no condition of type Complete\n[preflight] If you know "
          "what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`\nerror: error "
          "execution phase preflight: preflight checks failed\nTo see the stack trace of this error execute with "
          "--v=5 or higher\n")


def _applies(node):
    return [a for a in _in_node(node) if a[1:3] == ["upgrade", "apply"]]


def test_apply_is_tried_again_while_only_kubeadms_health_checks_fail():
    from u7s.run.hosts import Result

    cp = _node("cp", kubelets={"u7s-cp": "v1.35.0"})
    cp.host.on("docker", "exec", contains="apply", stdout="[upgrade] SUCCESS!\n")
    failures = [1, 2]  # the first two tries fail kubeadm's CreateJob check, as right after a restart
    cp.host.rules.insert(0, (lambda argv: "apply" in argv and bool(failures) and bool(failures.pop()),
                             Result(1, "", HEALTH)))
    assert upgrade.apply_when_healthy(cp, "v1.36.0") == 3


def test_another_apply_failure_or_health_checks_past_the_timeout_quote_kubeadm():
    cp = _node("cp", kubelets={"u7s-cp": "v1.35.0"})
    cp.host.on("docker", "exec", contains="apply", exited=1, stderr="error execution phase control-plane: "
               "couldn't upgrade control plane. kubeadm has tried to recover everything into the earlier state\n"
               "To see the stack trace of this error execute with --v=5 or higher\n")
    with pytest.raises(U7sError, match=r"^cp: kubeadm upgrade apply failed \(exit 1\): error execution phase "
                                       r"control-plane: couldn't upgrade control plane\. .*earlier state$"):
        upgrade.apply_when_healthy(cp, "v1.36.0")
    assert len(_applies(cp)) == 1
    short = Node(cp.host, make_settings(HOSTNAME="cp", NODE_IMAGE="localhost/u7s-node:next", U7S_TIMEOUT="1"),
                 Reporter("cp"))
    cp.host.on("docker", "exec", contains="apply", exited=1, stderr=HEALTH)
    with pytest.raises(U7sError, match=r"^cp: kubeadm upgrade apply failed its health checks \d+ times in 1s "
                                       r"\(U7S_TIMEOUT\): \[ERROR CreateJob\]: Job .*error execution phase preflight"):
        upgrade.apply_when_healthy(short, "v1.36.0")


def test_apply_waits_for_the_control_plane_to_be_ready_first():
    cp = _node("cp")  # the Node is not registered: kubeadm would refuse it
    short = Node(cp.host, make_settings(HOSTNAME="cp", NODE_IMAGE="localhost/u7s-node:next", U7S_TIMEOUT="1"),
                 Reporter("cp"))
    with pytest.raises(U7sError, match=r"u7s-cp to be Ready before kubeadm upgrade apply \(last seen: not registered"):
        upgrade.apply_when_healthy(short, "v1.36.0")
    assert _applies(cp) == []
