"""Take one worker out of a cluster cleanly: drain, delete its Node, kubeadm reset, down -v.

The steps run in order (k0sctl and `minikube node delete` do the same); the first
two on the control plane, the last two on the host that leaves. Each step checks
first and says what it found, so a run cut short can be run again. The other nodes
are not touched: they keep their NODE_SUBNETs (each host's subnet is read back from
the compose file it runs with). The control plane cannot be removed this way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from u7s.render import engine
from u7s.errors import U7sError
from u7s.node import kube
from u7s.session import Member
from u7s.steps import lifecycle as steps


@dataclass(frozen=True)
class RemovalStep:
    title: str
    where: str  # "control-plane" or "leaving"
    action: Callable[[Member, Member, str], str]
    dry: Callable[[Member, str], str]


def drain_argv(node_name: str, timeout: int, force: bool) -> list[str]:
    """kubectl drain as `minikube node delete` and k0sctl use it: DaemonSet pods stay, emptyDir data goes."""
    return ["drain", node_name, "--ignore-daemonsets", "--delete-emptydir-data", f"--timeout={timeout}s",
            *(["--force"] if force else [])]


def _registered(cp: Member, node_name: str) -> bool:
    return kube.kubectl(cp.node, "get", "node", node_name, "-o", "name", check=False).ok


def _drain(timeout: int, force: bool):
    def action(cp: Member, leaving: Member, node_name: str) -> str:
        if not _registered(cp, node_name):
            return f"{node_name} is not registered: nothing to drain"
        r = kube.kubectl(cp.node, *drain_argv(node_name, timeout, force), check=False)
        if not r.ok:
            tail = r.stderr_tail()
            hint = "" if force else "; pods no controller manages are only deleted with --force"
            raise U7sError(f"kubectl drain {node_name} failed: {tail}{hint}")
        evicted = sum(1 for line in r.stdout.splitlines() if line.startswith(("evicting pod", "pod/")))
        return f"{node_name} cordoned and drained ({evicted} pod(s) evicted or deleted)"
    return action


def _delete_node(cp: Member, leaving: Member, node_name: str) -> str:
    if not _registered(cp, node_name):
        return f"no Node {node_name}: nothing to delete"
    kube.kubectl(cp.node, "delete", "node", node_name, "--ignore-not-found")
    return f"Node {node_name} deleted"


def _reset(cp: Member, leaving: Member, node_name: str) -> str:
    node = leaving.node
    if not node.running():
        return "no node container: nothing to reset"
    return steps.kubeadm_reset(node)


def _down_v(cp: Member, leaving: Member, node_name: str) -> str:
    from u7s.steps.leasesteps import release

    said = steps.down(leaving.node, volumes=True)
    release(None, leaving)  # its host's record of the lease; the cluster keeps the lease
    return said


def plan(timeout: int, force: bool) -> list[RemovalStep]:
    return [
        RemovalStep("drain", "control-plane", _drain(timeout, force),
                    lambda m, n: f"run kubectl {' '.join(drain_argv(n, timeout, force))}"),
        RemovalStep("delete-node", "control-plane", _delete_node, lambda m, n: f"run kubectl delete node {n}"),
        RemovalStep("reset", "leaving", _reset, lambda m, n: f"run kubeadm reset --force in {n}"),
        RemovalStep("down-v", "leaving", _down_v,
                    lambda m, n: "run " + " ".join(engine.compose_down(m.settings, volumes=True))),
    ]


def leaving_member(run, name: str) -> Member:
    """The inventory host to remove: a worker, reachable, with its settings resolved."""
    found = next((m for m in run.members if m.name == name), None)
    if found is None:
        raise U7sError(f"{run.inventory.path}: no host named {name!r}; known: "
                       f"{', '.join(m.name for m in run.members)}")
    if found.spec.is_control_plane:
        raise U7sError(f"{name} is the control plane: it cannot leave its own cluster "
                       "(`u7s cluster.down-v` deletes the whole cluster)")
    if found.failed:
        raise U7sError(f"{name}: {found.failed}; fix it and run again (or delete its Node by hand: "
                       "kubectl drain, kubectl delete node)")
    return found


def remove(run, name: str, timeout: int, force: bool) -> None:
    """Run the steps in order; stop at the first that fails, naming it."""
    leaving = leaving_member(run, name)
    cp = run.control_plane
    if cp.failed:
        raise U7sError(f"{cp.name}: the control plane failed ({cp.failed}); nothing was changed")
    node_name = leaving.settings.node_name
    for step in plan(timeout, force):
        member = cp if step.where == "control-plane" else leaving
        if run.dry_run:
            member.report.info(f"would {step.dry(leaving, node_name)}")
            continue
        try:
            member.report.done(f"{step.title}: {step.action(cp, leaving, node_name)}")
        except U7sError as exc:
            raise U7sError(f"remove-node {name}: {step.title} failed on {member.name}: {exc}; "
                           "nothing after it was done; run again when fixed") from None
    if not run.dry_run:
        run.report.done(f"{name} removed from the cluster; delete it from {run.inventory.path} "
                        "(or run `u7s cluster.create` to join it again)")
