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


def delete_pods(node, names: list[str]) -> None:
    """Delete these pods of the node's CNI, not waiting: its DaemonSet starts a new one on each node at once."""
    if of(node.s) is FLANNEL:
        flannel.delete_pods(node, names)
    elif names:
        from u7s.node.kube import kubectl

        kubectl(node, "delete", "pod", "--namespace", calico.NAMESPACE, "--wait=false", "--ignore-not-found", *names)
