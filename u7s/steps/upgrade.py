"""Move a cluster to the Kubernetes version of the node image the settings now name.

As kubeadm's own procedure, where a node's kubelet moves with its container's image: first the
control plane (the new image's kubeadm, copied into the running node, runs `kubeadm upgrade apply`;
then a new node container from the new image on the same volumes: the new kubelet), then each worker
in turn (drain, the new kubeadm's `upgrade node` in the running node, new node container, wait Ready,
uncordon). So no kubelet is ever newer than the API server. What kubeadm refuses is refused before any
host is touched: a skipped minor version and a downgrade. Each step checks first, so a run cut short
can be run again and finishes the upgrade.
"""

from __future__ import annotations

import json
import re
import time

from u7s.render import engine
from u7s.config.settings import Settings
from u7s.errors import U7sError, last_line
from u7s.node import kube
from u7s.node.container import Node
from u7s.steps import lifecycle as steps
from u7s.steps import newkubeadm
from u7s.steps.nodes_remove import drain_argv
from u7s.steps.step import Step, StepFailed, execute

VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$")


def parse_version(text: str) -> tuple[int, int, int]:
    m = VERSION.match(text.strip())
    if not m:
        raise U7sError(f"not a Kubernetes version: {text.strip()[:40]!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def skew_problem(current: str, target: str) -> str | None:
    """Pure: why kubeadm would refuse to move the cluster from `current` to `target`, or None."""
    cur, new = parse_version(current), parse_version(target)
    if new < cur:
        return (f"the node image carries {target}, lower than the cluster's {current}: kubeadm does not "
                "support downgrades; name an image of the same or the next minor version")
    if new[0] != cur[0] or new[1] > cur[1] + 1:
        return (f"the node image carries {target}, the cluster runs {current}: kubeadm can upgrade only 1 "
                f"minor version at a time; upgrade to v{cur[0]}.{cur[1] + 1} first")
    return None


def image_of(s: Settings) -> str:
    """The image whose kubeadm decides the version: NODE_IMAGE, or the base the node image is built from."""
    return s.node_image or s.node_base_image


def image_version(node: Node) -> str:
    """`kubeadm version -o short` of the image the settings name, in a throw-away container."""
    s = node.s
    r = node.host.run(engine.engine_cmd(s, "run", "--rm", "--entrypoint", "kubeadm", image_of(s),
                                        "version", "-o", "short"), check=False, timeout=300)
    if not r.ok:
        tail = r.stderr_tail()
        raise U7sError(f"{node.host.name}: cannot read the Kubernetes version of {image_of(s)}: {tail}")
    version = last_line(r.stdout)
    parse_version(version)
    return version


def cluster_version(cp: Node) -> str:
    return json.loads(kube.kubectl(cp, "version", "-o", "json").stdout)["serverVersion"]["gitVersion"]


def kubelet_versions(cp: Node) -> dict[str, str]:
    return {n["metadata"]["name"]: n.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "")
            for n in kube.get_nodes(cp)}


def _wait_upgraded(cp: Node, name: str, target: str) -> str:
    """Wait until the node's (restarted) kubelet reports the new version and the node is Ready again.

    Ready alone is not enough: the Node keeps its old Ready condition until the new kubelet reports.
    """
    from u7s.run.poll import wait_for

    def reported() -> tuple[bool, str]:
        obj = next((n for n in kube.get_nodes(cp) if n["metadata"]["name"] == name), None)
        if obj is None:
            return False, "not registered"
        version = obj.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "?")
        ready = kube.node_is_ready(obj)
        return version == target and ready, f"kubelet {version}, " + ("Ready" if ready else kube.not_ready_reason(obj))

    wait_for(reported, what=f"{name}'s kubelet to report {target} and Ready", timeout=cp.s.timeout)
    return f"{name} is Ready with kubelet {target}"


# kubeadm upgrade apply's cluster health checks (phases/upgrade/health.go). Right after the control plane's
# container was made anew they fail for a while: its Node is NotReady until the kubelet reports, and the
# health-check Job cannot run (or complete in kubeadm's 15 s) before the node is back.
HEALTH_CHECKS = ("[ERROR ControlPlaneNodesReady]", "[ERROR CreateJob]", "[ERROR APIServerHealth]")


def _node_ready(cp: Node, name: str) -> tuple[bool, str]:
    obj = next((n for n in kube.get_nodes(cp) if n["metadata"]["name"] == name), None)
    if obj is None:
        return False, "not registered"
    return (True, "Ready") if kube.node_is_ready(obj) else (False, kube.not_ready_reason(obj))


def apply_when_healthy(cp: Node, target: str, kubeadm: str = "kubeadm") -> int:
    """`kubeadm upgrade apply`, tried again while only its health checks fail, up to U7S_TIMEOUT; the tries made.

    Each try waits first for the control plane's Node to be Ready (kubeadm refuses a NotReady one). A
    failure of anything else, or health checks failing past the timeout, quotes kubeadm's own lines.
    """
    from u7s.run.poll import wait_for

    deadline = time.monotonic() + cp.s.timeout
    name, tries = cp.s.node_name, 0
    while True:
        left = max(1.0, deadline - time.monotonic())
        wait_for(lambda: _node_ready(cp, name), what=f"{name} to be Ready before kubeadm upgrade apply", timeout=left)
        tries += 1
        result = cp.exec([kubeadm, "upgrade", "apply", "--yes", target], check=False)
        if result.ok:
            return tries
        said = kube.kubeadm_error(result)
        if not any(check in said for check in HEALTH_CHECKS):
            raise U7sError(f"{cp.host.name}: kubeadm upgrade apply failed (exit {result.exited}): {said}")
        if time.monotonic() >= deadline:
            raise U7sError(f"{cp.host.name}: kubeadm upgrade apply failed its health checks {tries} times in "
                           f"{cp.s.timeout}s (U7S_TIMEOUT): {said}")


def _recreate(node: Node) -> str:
    return steps.up(node)


def _move_kubelet(c: Node, node: Node, target: str) -> str:
    """The node container made anew from the new image (its kubelet moves), once the API server runs `target`."""
    server = cluster_version(c)
    if parse_version(server) < parse_version(target):
        raise U7sError(f"the API server runs {server}: {node.s.node_name}'s new kubelet ({target}) would be newer, "
                       "which Kubernetes' version-skew policy forbids; kubeadm upgrade apply has to finish first")
    return _recreate(node)


def _container_dry(node: Node, target: str) -> str:
    return (f"run {' '.join(engine.compose_up(node.s))} ({image_of(node.s)}, same volumes): "
            f"its kubelet moves to {target}")


def _kubeadm_dry(node: Node, target: str) -> str:
    return (f"copy kubeadm {target} from {image_of(node.s)} into the running {node.s.node_name} "
            f"({newkubeadm.path_in_node(target)})")


# The steps, in the order each host goes through those that are for it: the control plane first, then each worker
# in turn (one_by_one). On each node the new image's kubeadm runs in the container that still runs the old kubelet;
# only then is the container made anew (new kubelet). A step finds from the cluster what is done already: a node
# whose kubelet reports `target` has been through all of it. Actions take (run, member, target, timeout, force).
def _moved(run, m, target: str) -> bool:
    return kubelet_versions(run.control_plane.node).get(m.settings.node_name) == target


def _drain(run, m, target: str, timeout: int, force: bool, **_) -> str:
    name = m.settings.node_name
    if _moved(run, m, target):
        return f"{name} already runs {target}: not drained"
    r = kube.kubectl(run.control_plane.node, *drain_argv(name, timeout, force), check=False)
    if not r.ok:
        tail = r.stderr_tail()
        raise U7sError(f"kubectl drain {name} failed: {tail}" + ("" if force else " (--force deletes pods "
                                                                   "no controller manages)"))
    return f"{name} drained"


def _place(run, m, target: str, **_) -> str:
    if m.spec.is_control_plane:  # the upgrade's first step: the API server must answer
        kube.wait_api(m.node)
    if _moved(run, m, target):
        return f"{m.settings.node_name} already runs {target}"
    return newkubeadm.place(m.node, image_of(m.settings), target)


def _apply(run, m, target: str, **_) -> str:
    c = m.node
    if _moved(run, m, target):
        return f"control plane already at {target}"
    # Also when the API server runs `target` already: an apply cut short is completed by running it again.
    tries = apply_when_healthy(c, target, newkubeadm.path_in_node(target))
    again = f" (its health checks passed at try {tries})" if tries > 1 else ""
    return f"kubeadm upgrade apply {target} done{again}; the API server runs {cluster_version(c)}"


def _upgrade_node(run, m, target: str, **_) -> str:
    if _moved(run, m, target):
        return f"{m.settings.node_name} already runs {target}: kubeadm upgrade node not needed"
    newkubeadm.run(m.node, target, "upgrade", "node")
    return f"kubeadm upgrade node done with kubeadm {target}"


def _uncordon(run, m, **_) -> str:
    kube.kubectl(run.control_plane.node, "uncordon", m.settings.node_name)
    return f"{m.settings.node_name} uncordoned"


DRAIN = Step("drain", _drain, lambda m, target, timeout, force: [
    f"run kubectl {' '.join(drain_argv(m.settings.node_name, timeout, force))} (on the control plane)"],
    hosts="workers", one_by_one=True)
PLACE = Step("new kubeadm", _place, lambda m, target, **_: [_kubeadm_dry(m.node, target)], one_by_one=True)
APPLY = Step("kubeadm upgrade apply", _apply, lambda m, target, **_: [
    f"run kubeadm {target} upgrade apply --yes {target} in {m.settings.node_name} (its kubelet stays as it is)"],
    hosts="control-plane", one_by_one=True)
UPGRADE_NODE = Step("kubeadm upgrade node", _upgrade_node, lambda m, target, **_: [
    f"run kubeadm {target} upgrade node in {m.settings.node_name} (its kubelet stays as it is)"],
    hosts="workers", one_by_one=True)
CONTAINER = Step("new node container", lambda run, m, target, **_: _move_kubelet(run.control_plane.node, m.node,
                                                                                 target),
                 lambda m, target, **_: [_container_dry(m.node, target)], one_by_one=True)
WAIT = Step("wait Ready", lambda run, m, target, **_: _wait_upgraded(run.control_plane.node, m.settings.node_name,
                                                                     target),
            lambda m, target, **_: [f"wait until {m.settings.node_name} reports kubelet {target} and is Ready"],
            one_by_one=True)
UNCORDON = Step("uncordon", _uncordon, lambda m, **_: [
    f"run kubectl uncordon {m.settings.node_name} (on the control plane)"], hosts="workers", one_by_one=True)
UPGRADE = [DRAIN, PLACE, APPLY, UPGRADE_NODE, CONTAINER, WAIT, UNCORDON]


def check(c: Node, nodes: dict[str, Node]) -> tuple[str, str]:
    """(current, target): read-only; refuses a mixed target or what kubeadm refuses, before any change."""
    c.require_running()
    current = cluster_version(c)
    targets = {name: image_version(node) for name, node in nodes.items()}
    if len(set(targets.values())) > 1:
        shown = ", ".join(f"{name}: {v}" for name, v in targets.items())
        raise U7sError(f"the hosts' node images carry different versions ({shown}); name one image for all")
    target = next(iter(targets.values()))
    problem = skew_problem(current, target)
    if problem:
        raise U7sError(problem)
    return current, target


def run_upgrade(run, timeout: int = 300, force: bool = False) -> None:
    """The whole upgrade over the run's hosts (a cluster's, or one host on its own), or under --dry-run the
    steps per host in order; stops at the first step that fails, naming it."""
    failed = [m.name for m in run.members if m.failed]
    if failed:
        raise U7sError(f"not every host is reachable ({', '.join(failed)}): an upgrade needs them all")
    cp = run.control_plane
    current, target = check(cp.node, {"control-plane": cp.node, **{w.name: w.node for w in run.workers}})
    run.report.info(f"cluster at {current}; the node image carries {target}")
    try:
        execute(run, UPGRADE, target=target, timeout=timeout, force=force)
    except StepFailed as exc:
        where = "control-plane" if exc.member.spec.is_control_plane else exc.member.name
        raise U7sError(f"upgrade: {exc.step.title} failed on {where}: {exc.cause}; the steps before it are done; "
                       "run again when fixed") from None
    if not run.dry_run:
        run.report.done(f"cluster upgraded to {target}")
