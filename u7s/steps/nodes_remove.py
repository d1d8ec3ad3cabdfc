"""Take one worker out of a cluster cleanly: drain, delete its Node, kubeadm reset, down -v.

The steps run in order (k0sctl and `minikube node delete` do the same); the first
two on the control plane, the last two on the host that leaves. Each step checks
first and says what it found, so a run cut short can be run again. The other nodes
are not touched: they keep their NODE_SUBNETs (each host's subnet is read back from
the compose file it runs with). The control plane cannot be removed this way.
"""

from __future__ import annotations

import dataclasses

from u7s.render import engine
from u7s.errors import U7sError
from u7s.node import kube
from u7s.session import Member
from u7s.steps import lifecycle as steps
from u7s.steps.step import Step, StepFailed, execute


def drain_argv(node_name: str, timeout: int, force: bool) -> list[str]:
    """kubectl drain as `minikube node delete` and k0sctl use it: DaemonSet pods stay, emptyDir data goes."""
    return ["drain", node_name, "--ignore-daemonsets", "--delete-emptydir-data", f"--timeout={timeout}s",
            *(["--force"] if force else [])]


def _registered(cp: Member, node_name: str) -> bool:
    return kube.kubectl(cp.node, "get", "node", node_name, "-o", "name", check=False).ok


# Actions take (run, member, node_name, timeout, force): node_name is the leaving worker's Node. remove() runs
# them on a run of the control plane and that worker alone, so "workers" is the worker that leaves.
def _drain(run, cp: Member, node_name: str, timeout: int, force: bool) -> str:
    if not _registered(cp, node_name):
        return f"{node_name} is not registered: nothing to drain"
    r = kube.kubectl(cp.node, *drain_argv(node_name, timeout, force), check=False)
    if not r.ok:
        tail = r.stderr_tail()
        hint = "" if force else "; pods no controller manages are only deleted with --force"
        raise U7sError(f"kubectl drain {node_name} failed: {tail}{hint}")
    evicted = sum(1 for line in r.stdout.splitlines() if line.startswith(("evicting pod", "pod/")))
    return f"{node_name} cordoned and drained ({evicted} pod(s) evicted or deleted)"


def _delete_node(run, cp: Member, node_name: str, **_) -> str:
    if not _registered(cp, node_name):
        return f"no Node {node_name}: nothing to delete"
    kube.kubectl(cp.node, "delete", "node", node_name, "--ignore-not-found")
    return f"Node {node_name} deleted"


def _reset(run, leaving: Member, **_) -> str:
    node = leaving.node
    if not node.running():
        return "no node container: nothing to reset"
    return steps.kubeadm_reset(node)


def _down_v(run, leaving: Member, **_) -> str:
    from u7s.steps.leasesteps import release

    said = steps.down(leaving.node, volumes=True)
    release(run, leaving)  # its host's record of the lease; the cluster keeps the lease
    return said


DRAIN = Step("drain", _drain, lambda m, node_name, timeout, force: [
    f"run kubectl {' '.join(drain_argv(node_name, timeout, force))}"], hosts="control-plane", one_by_one=True)
DELETE_NODE = Step("delete-node", _delete_node, lambda m, node_name, **_: [f"run kubectl delete node {node_name}"],
                   hosts="control-plane", one_by_one=True)
RESET = Step("reset", _reset, lambda m, node_name, **_: [f"run kubeadm reset --force in {node_name}"],
             hosts="workers", one_by_one=True)
DOWN_V = Step("down-v", _down_v, lambda m, **_: ["run " + " ".join(engine.compose_down(m.settings, volumes=True))],
              hosts="workers", one_by_one=True)
REMOVE = [DRAIN, DELETE_NODE, RESET, DOWN_V]


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
    pair = dataclasses.replace(run, members=[cp, leaving])  # the other hosts are not touched
    try:
        execute(pair, REMOVE, node_name=leaving.settings.node_name, timeout=timeout, force=force)
    except StepFailed as exc:
        raise U7sError(f"remove-node {name}: {exc.step.title} failed on {exc.member.name}: {exc.cause}; "
                       "nothing after it was done; run again when fixed") from None
    if not run.dry_run:
        run.report.done(f"{name} removed from the cluster; delete it from {run.inventory.path} "
                        "(or run `u7s cluster.create` to join it again)")
