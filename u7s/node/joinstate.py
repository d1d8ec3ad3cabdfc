"""Whether a worker's node has really joined this cluster, or holds what a failed or stale join left.

kubeadm join writes /etc/kubernetes/pki/ca.crt, then the kubelet's kubeconfig; its
preflight refuses to run again while either exists ([ERROR FileAvailable--...]). So a
join that failed half-way, or a worker that joined a control plane since made anew
(another CA), can only join after `kubeadm reset --force`. The worker's own kubelet
credentials tell which case it is: they can read its Node only when the node joined
this cluster and its kubelet registered it.
"""

from __future__ import annotations

from u7s.node import apiretry
from u7s.node.container import Node

CA_CRT = "/etc/kubernetes/pki/ca.crt"
KUBELET_CONF = "/etc/kubernetes/kubelet.conf"

FRESH, JOINED, STALE = "fresh", "joined", "stale"


def probes(name: str) -> list[list[str]]:
    """The three reads `classify` needs, run in the node (kubelet.conf, ca.crt, the Node with the kubelet's creds)."""
    return [["test", "-e", KUBELET_CONF], ["test", "-e", CA_CRT],
            ["kubectl", "--kubeconfig", KUBELET_CONF, "--request-timeout=10s", "get", "node", name, "-o", "name"]]


def classify(kubelet_conf: bool, ca_crt: bool, node_read, name: str) -> tuple[str, str]:
    """Pure: (FRESH | JOINED | STALE, why) from the three probes' outcomes (node_read: a Result).

    An answer that says nothing (the API is away for a moment, another error) counts as joined:
    only a clear sign of a stale join leads to a reset.
    """
    if not kubelet_conf:
        if ca_crt:
            return STALE, f"an earlier kubeadm join failed half-way ({CA_CRT} is there, {KUBELET_CONF} is not)"
        return FRESH, ""
    if node_read.ok:
        return JOINED, ""
    err = node_read.stderr or ""
    said = node_read.stderr_tail()[:apiretry.QUOTED]
    if apiretry.is_transient(err):
        return JOINED, "the API did not answer; taken as joined"
    if "x509" in err or "unknown authority" in err or "Unauthorized" in err:
        return STALE, (f"{KUBELET_CONF} belongs to another cluster (its CA or credentials are not this control "
                       f"plane's: {said}); the control plane was probably made anew")
    if "NotFound" in err or "not found" in err:
        return STALE, (f"{KUBELET_CONF} is there but node {name} never registered: an earlier kubeadm join "
                       "failed half-way")
    return JOINED, f"not verified: {said}"


def read(node: Node) -> tuple[str, str]:
    """Probe the worker's node (it must be running), in one batch, and classify what it holds."""
    from u7s.render import engine

    conf, ca, got = node.host.run_many([engine.node_exec(node.s, argv, env=False, stdin=False)
                                        for argv in probes(node.s.node_name)])
    return classify(conf.ok, ca.ok, got, node.s.node_name)
