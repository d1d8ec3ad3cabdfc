"""Start flannel on one node: the u7s TEST STAND-IN for flannel's containers (lab only; moves no packets).

The pod runner (u7s_standin_flannelpod.py, driven by the kubelet stand-in) calls
`install_cni` for the chart's install-cni init container: it writes the CNI
configuration that makes the kubelet Ready. It then calls `start` for flanneld,
which does what flanneld does at start that the rest of the cluster can see: it reads
the Node's public-ip-overwrite annotation ONCE (falling back to the node's
InternalIP), makes its VXLAN device flannel.1 as flanneld's vxlan backend does (which
holds UDP on the backend's port in the node: what the network check meets on a
running node), publishes the address it uses and its VXLAN backend in the Node's
annotations, and writes /run/flannel/subnet.env.
"""

import hashlib
import json
import subprocess

from u7s_standin_client import path_of
from u7s_standin_common import CNI_DIR, host_path, under_test, write_atomic

OVERWRITE = "flannel.alpha.coreos.com/public-ip-overwrite"
PUBLIC_IP = "flannel.alpha.coreos.com/public-ip"
BACKEND_TYPE = "flannel.alpha.coreos.com/backend-type"
BACKEND_DATA = "flannel.alpha.coreos.com/backend-data"
SUBNET_MANAGER = "flannel.alpha.coreos.com/kube-subnet-manager"
CNI_CONF = f"{CNI_DIR}/10-flannel.conflist"
DEVICE = "flannel.1"  # flanneld's name for VNI 1
DEFAULT_PORT = 8472  # flanneld's vxlan port when the backend sets none (the kernel's default)
NET_CONF_MAP = "kube-flannel-cfg"
# What the flannel chart's cni-conf.json holds.
CNI_CONFLIST = {
    "name": "cbr0", "cniVersion": "0.3.1",
    "plugins": [{"type": "flannel", "delegate": {"hairpinMode": True, "isDefaultGateway": True}},
                {"type": "portmap", "capabilities": {"portMappings": True}}],
}


def public_ip(node):
    """Return the address flannel uses: the overwrite annotation, else the first InternalIP, else ExternalIP."""
    overwrite = (node.get("metadata", {}).get("annotations") or {}).get(OVERWRITE)
    if overwrite:
        return overwrite
    addresses = node.get("status", {}).get("addresses") or []
    for kind in ("InternalIP", "ExternalIP"):
        for address in addresses:
            if address.get("type") == kind:
                return address["address"]
    return None


def vtep_mac(node_name):
    """Return a stable locally administered MAC for the node's flannel.1 device."""
    digest = hashlib.sha256(node_name.encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x0A, *digest[:5]))


def vxlan_mtu(backend):
    """flannel.1's MTU as flanneld makes it: the backend's MTU, else the external interface's (eth0), minus 50."""
    mtu = backend.get("MTU")
    if not mtu:
        try:
            with open("/sys/class/net/eth0/mtu", encoding="utf-8") as f:
                mtu = int(f.read().strip())
        except (OSError, ValueError):
            mtu = 1500
    return int(mtu) - 50


def install_cni():
    """What the chart's install-cni init container does: copy its cni-conf.json into /etc/cni/net.d."""
    write_atomic(host_path(CNI_CONF), json.dumps(CNI_CONFLIST, indent=2) + "\n")


def vxlan_argv(node_name, backend, local):
    """`ip link add` for flannel.1 as flanneld makes it: VNI, its VTEP MAC and MTU, the local address, on eth0."""
    return ["ip", "link", "add", DEVICE, "address", vtep_mac(node_name), "mtu", str(vxlan_mtu(backend)),
            "type", "vxlan", "id", str(backend.get("VNI", 1)), *(["local", local] if local else []), "dev", "eth0",
            "dstport", str(backend.get("Port") or DEFAULT_PORT), "nolearning"]


def make_device(node_name, backend):
    """Make flannel.1 afresh (a pod's start is a fresh start); "" when it is up, else why not."""
    if under_test():  # unit tests run the stand-ins on the test machine: no device there
        return ""
    shown = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", "eth0"], capture_output=True, text=True)
    words = shown.stdout.split()
    local = words[words.index("inet") + 1].split("/")[0] if "inet" in words else ""
    subprocess.run(["ip", "link", "del", DEVICE], capture_output=True)
    for argv in (vxlan_argv(node_name, backend, local), ["ip", "link", "set", DEVICE, "up"]):
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != 0:
            return f"{' '.join(argv)}: {r.stderr.strip()}"
    return ""


def start(client, node_name, pod, log):
    """Run flanneld's start-up for POD on NODE_NAME; return the public IP it chose (None when it failed)."""
    node = client.get(path_of(node_name, None, "nodes"))
    address = public_ip(node)
    namespace = pod["metadata"]["namespace"]
    net_conf = json.loads(client.get(path_of(NET_CONF_MAP, namespace, "configmaps"))["data"]["net-conf.json"])
    backend = net_conf.get("Backend", {})
    failed = make_device(node_name, backend)
    if failed:  # flanneld exits: its pod does not become Running
        log(f"flannel {pod['metadata']['name']}: cannot make {DEVICE}: {failed}")
        return None
    log(f"flannel {pod['metadata']['name']}: public IP {address} "
        f"({'from ' + OVERWRITE if (node['metadata'].get('annotations') or {}).get(OVERWRITE) else 'no overwrite'}), "
        f"backend {backend.get('Type')} port {backend.get('Port')}")
    client.patch(path_of(node_name, None, "nodes"), {"metadata": {"annotations": {
        PUBLIC_IP: address, BACKEND_TYPE: backend.get("Type", "vxlan"), SUBNET_MANAGER: "true",
        BACKEND_DATA: json.dumps({"VNI": backend.get("VNI", 1), "VtepMAC": vtep_mac(node_name)},
                                 separators=(",", ":"))}}})
    subnet = node.get("spec", {}).get("podCIDR", "")
    write_atomic(host_path("/run/flannel/subnet.env"),
                 f"FLANNEL_NETWORK={net_conf.get('Network', '')}\nFLANNEL_SUBNET={subnet}\n"
                 f"FLANNEL_MTU={vxlan_mtu(backend)}\nFLANNEL_IPMASQ=true\n")
    return address
