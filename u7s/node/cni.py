"""Which pod network runs, as the wait for Ready and the network check see it (CNI: flannel or calico).

Each CNI is a DaemonSet with one pod per node whose agent, once it runs, writes an
annotation on its Node: flanneld its `public-ip`, calico-node its `IPv4Address`.
Ready means that pod running and ready on the node and the annotation written.
"""

from __future__ import annotations

from typing import NamedTuple

from u7s.config.cnichoice import CALICO
from u7s.node import calico, flannel


class Cni(NamedTuple):
    name: str
    namespace: str
    label: tuple[str, str]  # the label of its pods (key, value)
    started: str  # the Node annotation its agent writes once it runs
    agent: str  # the container that writes it, as people know it

    def owns(self, pod: dict) -> bool:
        """Pure: whether a pod is one of this CNI's node agents."""
        return ((pod.get("metadata") or {}).get("labels") or {}).get(self.label[0]) == self.label[1]


FLANNEL = Cni("flannel", flannel.NAMESPACE, ("app", "flannel"), flannel.PUBLIC_IP_IN_USE, "flanneld")
CALICO_CNI = Cni("calico", calico.NAMESPACE, calico.POD_LABEL, calico.IPV4_ADDRESS, "calico-node")


def of(s) -> Cni:
    """The CNI of a node's settings (settings made before CNI existed run flannel)."""
    return CALICO_CNI if getattr(s, "cni", "flannel") == CALICO else FLANNEL


def wrong_calico_address(nodes: list[dict], want: dict[str, str]) -> list[str]:
    """Pure: the nodes (of `want`: name -> HOST_IP) whose calico-node took another address than their host's.

    calico-node reads its `IP` (the pod's status.hostIP) once, at start: a pod that started before
    sync-external-ip gave its Node the ExternalIP uses another address until it starts again.
    """
    out = []
    for obj in nodes:
        meta = obj.get("metadata") or {}
        used = ((meta.get("annotations") or {}).get(calico.IPV4_ADDRESS) or "").split("/")[0]
        if used and meta.get("name") in want and used != want[meta["name"]]:
            out.append(meta["name"])
    return sorted(out)


def restart_calico(node, node_names: list[str]) -> list[str]:
    """Delete calico-node's pods on these nodes (its DaemonSet starts new ones); the nodes restarted."""
    import json

    from u7s.node.kube import kubectl

    if not node_names:
        return []
    r = kubectl(node, "get", "pods", "--namespace", calico.NAMESPACE, "-l", "=".join(calico.POD_LABEL),
                "-o", "json", check=False)
    pods = json.loads(r.stdout).get("items", []) if r.ok else []
    mine = [p for p in pods if (p.get("spec") or {}).get("nodeName") in node_names]
    delete_pods(node, [p["metadata"]["name"] for p in mine])
    return sorted({p["spec"]["nodeName"] for p in mine})


def delete_pods(node, names: list[str]) -> None:
    """Delete these pods of the node's CNI, not waiting: its DaemonSet starts a new one on each node at once."""
    if of(node.s) is FLANNEL:
        flannel.delete_pods(node, names)
    elif names:
        from u7s.node.kube import kubectl

        kubectl(node, "delete", "pod", "--namespace", calico.NAMESPACE, "--wait=false", "--ignore-not-found", *names)
