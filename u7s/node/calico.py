"""Calico (CNI=calico): its manifest, rendered from compose/calico.yaml.j2 and applied with the node's kubectl.

As for storage (u7s/node/localpath.py: apply_manifest): the manifest is written into the
control plane's working directory and applied; kubectl says `unchanged` for every
object when Calico is in place, which is how a second `create` knows nothing was
done. Calico's VXLAN takes PORT_FLANNEL (Felix's `vxlanPort`): the one UDP port a
node publishes for the pod network, whichever CNI runs. Its tunnel MTU is the
cluster's smallest NODE_MTU minus VXLAN's 50 bytes, as flannel's is.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from u7s.config.settings import DEFAULT_MTU
from u7s.node.container import Node
from u7s.render import templates as render
from u7s.render.bundle import CALICO_IMAGES

NAMESPACE = "kube-system"
POD_LABEL = ("k8s-app", "calico-node")
CNI_CONF_NAME = "10-calico.conflist"
VXLAN_DEVICE = "vxlan.calico"
VXLAN_OVERHEAD = 50  # an IPv4 VXLAN header, as Felix subtracts it
MANIFEST = "calico.yaml"
# Written by calico-node at start-up with the address it gives the node (`IP`): it runs.
IPV4_ADDRESS = "projectcalico.org/IPv4Address"
IMAGES = CALICO_IMAGES  # cni (install-cni), node, kube-controllers


class Crd(NamedTuple):
    kind: str
    plural: str
    scope: str = "Cluster"
    group: str = "crd.projectcalico.org"
    version: str = "v1"


def _plural(kind: str) -> str:
    word = kind.lower()
    return word[:-1] + "ies" if word.endswith("y") else word + "es" if word.endswith("s") else word + "s"


# The kinds Calico reads and writes in the Kubernetes datastore (its calico.yaml defines each).
CRDS = (
    *(Crd(kind, _plural(kind)) for kind in (
        "BGPConfiguration", "BGPFilter", "BGPPeer", "BlockAffinity", "CalicoNodeStatus", "ClusterInformation",
        "FelixConfiguration", "GlobalNetworkPolicy", "GlobalNetworkSet", "HostEndpoint", "IPAMBlock", "IPAMConfig",
        "IPAMHandle", "IPPool", "IPReservation", "KubeControllersConfiguration", "StagedGlobalNetworkPolicy",
        "Tier")),
    *(Crd(kind, _plural(kind), "Namespaced") for kind in (
        "NetworkPolicy", "NetworkSet", "StagedNetworkPolicy", "StagedKubernetesNetworkPolicy")),
    Crd("AdminNetworkPolicy", "adminnetworkpolicies", group="policy.networking.k8s.io", version="v1alpha1"),
    Crd("BaselineAdminNetworkPolicy", "baselineadminnetworkpolicies", group="policy.networking.k8s.io",
        version="v1alpha1"),
)

# The CNI configuration install-cni writes on each node (it fills in the __NAME__ values there).
CNI_NETWORK_CONFIG = json.dumps({
    "name": "k8s-pod-network", "cniVersion": "0.3.1",
    "plugins": [
        {"type": "calico", "log_level": "info", "log_file_path": "/var/log/calico/cni/cni.log",
         "datastore_type": "kubernetes", "nodename": "__KUBERNETES_NODE_NAME__", "mtu": "__CNI_MTU__",
         "ipam": {"type": "calico-ipam"}, "policy": {"type": "k8s"},
         "kubernetes": {"kubeconfig": "__KUBECONFIG_FILEPATH__"}},
        {"type": "portmap", "snat": True, "capabilities": {"portMappings": True}},
    ]}, indent=2).replace('"__CNI_MTU__"', "__CNI_MTU__")  # a number once filled in


def vxlan_mtu(mtu: int | None) -> int:
    """Pure: the VXLAN device's and pods' MTU for a node network of `mtu` (the cluster's smallest)."""
    return (mtu or DEFAULT_MTU) - VXLAN_OVERHEAD


def manifest(cluster_name: str, port: int, mtu: int, pod_subnet: str) -> str:
    """Pure: Calico's objects: VXLAN on UDP `port`, the tunnel MTU from `mtu`, the default pool `pod_subnet`."""
    return render.render(
        "calico.yaml.j2", cluster_name=cluster_name, namespace=NAMESPACE, crds=[c._asdict() for c in CRDS],
        calico_plurals=sorted(c.plural for c in CRDS if c.group == "crd.projectcalico.org"),
        veth_mtu=vxlan_mtu(mtu), cni_network_config=CNI_NETWORK_CONFIG, cni_conf_name=CNI_CONF_NAME,
        cni_image=IMAGES[0], node_image=IMAGES[1], controllers_image=IMAGES[2], pool_cidr=pod_subnet,
        vxlan_port=port)


def install(node: Node, mtu: int | None = None) -> tuple[str, bool]:
    """Apply the manifest; what to say, and whether kubectl changed any object.

    `mtu` is the cluster's smallest NODE_MTU (this node's own by default).
    """
    from u7s.node.localpath import apply_manifest

    s = node.s
    mtu = s.node_mtu if mtu is None else mtu
    node.require_running()
    changed = apply_manifest(node, MANIFEST, manifest(s.cluster or s.project, s.port_flannel, mtu, s.pod_subnet))
    how = f"VXLAN on UDP {s.port_flannel}, VXLAN MTU {vxlan_mtu(mtu)}, pool {s.pod_subnet}; NetworkPolicy enforced"
    if not changed:
        return f"calico already installed ({how})", False
    return f"calico installed ({how}): {len(changed)} object(s) created or changed", True
