"""metrics-server, so that `kubectl top` works: rendered from compose/metrics-server.yaml.j2, applied in the node.

Two of its arguments are chosen for u7s's nodes (README: metrics-server):

- `--kubelet-insecure-tls`: kubeadm leaves each kubelet serving HTTPS with a certificate it
  signed itself (no `serverTLSBootstrap`, which would need someone to approve every node's
  serving CSR), so there is no CA to check it against. metrics-server still authenticates to
  the kubelet with its ServiceAccount's token, and the API server reaches metrics-server as an
  aggregated API; only the kubelet's identity goes unchecked.
- `--kubelet-preferred-address-types=ExternalIP`: a node's InternalIP is its container's
  address on its own host's node network, which other hosts do not reach, and node names
  (u7s-HOSTNAME) resolve nowhere but in their own node. The ExternalIP is the host's HOST_IP,
  set by sync-external-ip, where the kubelet's port (PORT_KUBELET) is published; the API server
  reaches kubelets the same way (the kubeadm configuration). `--kubelet-use-node-status-port`
  takes that port from the Node, so leased or custom PORT_KUBELET values work.

`install` applies the manifest; kubectl says `unchanged` for every object when it is in place.
"""

from __future__ import annotations

from u7s.node.container import Node
from u7s.node.localpath import apply_manifest
from u7s.render import templates as render

NAME = "metrics-server"
NAMESPACE = "kube-system"
GROUP = "metrics.k8s.io"
MANIFEST = "metrics-server.yaml"
VERSION = "v0.8.1"
IMAGE = f"registry.k8s.io/metrics-server/metrics-server:{VERSION}"
IMAGES = (IMAGE,)  # what an air-gapped bundle carries when METRICS_SERVER is on
PORT = 10250  # in the pod's own network namespace: no clash with the kubelet's port on the node
ARGS = (
    "--cert-dir=/tmp",
    f"--secure-port={PORT}",
    "--kubelet-preferred-address-types=ExternalIP",
    "--kubelet-use-node-status-port",
    "--kubelet-insecure-tls",
    "--metric-resolution=15s",
)


def manifest(cluster_name: str) -> str:
    """Pure: metrics-server's objects (ServiceAccount, RBAC, Service, Deployment, APIService)."""
    return render.render("metrics-server.yaml.j2", cluster_name=cluster_name, server=NAME, namespace=NAMESPACE,
                         app=NAME, labels={"k8s-app": NAME}, group=GROUP, image=IMAGE, args=list(ARGS), port=PORT)


def install(node: Node) -> tuple[str, bool]:
    """Apply the manifest; what to say, and whether kubectl changed any object."""
    changed = apply_manifest(node, MANIFEST, manifest(node.s.cluster or node.s.project))
    where = f"{IMAGE}; `kubectl top nodes` answers once its pod runs"
    if not changed:
        return f"metrics-server already installed ({where})", False
    return f"metrics-server installed ({where}): {', '.join(changed)}", True
