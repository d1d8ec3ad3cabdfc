"""Start calico-node on one node, and its CNI plugin: the u7s TEST STAND-IN for Calico (lab only).

The kubelet stand-in runs the pod labelled `k8s-app=calico-node` through `CalicoPod`
(the flannel pod runner's life: image pulls, init containers, restarts and the
`flannel-*` switches, which act on whichever CNI pod runs). What the rest of the
cluster can see of Calico:

  - install-cni writes `/etc/cni/net.d/10-calico.conflist` from the `calico-config`
    ConfigMap's `cni_network_config` (its __NAME__ values filled in, CNI_MTU from `veth_mtu`),
    which makes the kubelet Ready;
  - calico-node makes `vxlan.calico` as Felix does (VNI 4096, UDP FELIX_VXLANPORT, MTU
    FELIX_VXLANMTU, its VTEP MAC, `local` the node's eth0 address), whose kernel socket holds
    the UDP port in the node (no peers, no routes: it moves no packets), and writes the Node's
    `projectcalico.org/IPv4Address` (the `IP` its pod spec gives: the Node's address, as the
    kubelet fills `status.hostIP`) and `projectcalico.org/VXLANTunnelMACAddr`;
  - Felix then keeps the node's iptables in line with the NetworkPolicies
    (u7s_standin_calico_policy.py), about once a second;
  - the CNI plugin (`add_workload`) gives a pod a network namespace of its own with a veth pair
    as Calico's does: host side `cali` + 11 hex digits of sha1(NAMESPACE.NAME), proxy ARP, a /32
    route to the pod; pod side `eth0`, default route via 169.254.1.1. The address is taken from
    the Node's podCIDR (Calico's IPAM hands out /26 blocks of its pool instead).
"""

import hashlib
import json
import os
import subprocess

import u7s_standin_calico_policy as policy
import u7s_standin_flannel as flannel
import u7s_standin_flannelpod as flannelpod
from u7s_standin_client import path_of
from u7s_standin_common import CNI_DIR, host_path, under_test, write_atomic

CONFIG_MAP = "calico-config"
DEVICE = "vxlan.calico"
VNI = 4096  # Felix's default vxlanVNI
DEFAULT_PORT, DEFAULT_MTU = 4789, 1450  # Felix's vxlanPort; its MTU when none is set and none detected
IPV4_ADDRESS = "projectcalico.org/IPv4Address"
VTEP_MAC = "projectcalico.org/VXLANTunnelMACAddr"
KUBECONFIG = f"{CNI_DIR}/calico-kubeconfig"
GATEWAY = "169.254.1.1"  # the pods' default gateway, answered by proxy ARP on the host side


def is_calico_node(pod):
    return ((pod.get("metadata") or {}).get("labels") or {}).get("k8s-app") == "calico-node"


def calico_runs():
    """Whether install-cni has run on this node (the kubelet's CNI is Calico)."""
    return os.path.exists(host_path(f"{CNI_DIR}/10-calico.conflist"))


def env_of(client, pod, container, node):
    """The container's environment as the kubelet resolves it: values, ConfigMap keys, spec.nodeName and
    status.hostIP (the Node's first InternalIP, else its ExternalIP)."""
    out = {}
    for item in container.get("env") or []:
        source = item.get("valueFrom") or {}
        if "value" in item:
            out[item["name"]] = item["value"]
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            cm = client.get(path_of(ref["name"], pod["metadata"]["namespace"], "configmaps"))
            out[item["name"]] = (cm.get("data") or {}).get(ref["key"], "")
        elif (source.get("fieldRef") or {}).get("fieldPath") == "spec.nodeName":
            out[item["name"]] = pod["spec"].get("nodeName", "")
        elif (source.get("fieldRef") or {}).get("fieldPath") == "status.hostIP":
            out[item["name"]] = flannel.public_ip({"status": node.get("status", {})}) or ""
    return out


def install_cni(client, pod, node_name):
    """What install-cni does: fill in the network config and write it as CNI_CONF_NAME."""
    init = next(c for c in pod["spec"].get("initContainers") or [] if c["name"] == "install-cni")
    env = env_of(client, pod, init, client.get(path_of(node_name, None, "nodes")))
    text = (env["CNI_NETWORK_CONFIG"].replace("__KUBERNETES_NODE_NAME__", node_name)
            .replace("__CNI_MTU__", env.get("CNI_MTU") or str(DEFAULT_MTU))
            .replace("__KUBECONFIG_FILEPATH__", KUBECONFIG))
    json.loads(text)  # install-cni refuses a config that is not JSON
    write_atomic(host_path(f"{CNI_DIR}/{env.get('CNI_CONF_NAME', '10-calico.conflist')}"), text + "\n")


def vxlan_argv(node_name, port, mtu, local):
    return ["ip", "link", "add", DEVICE, "address", flannel.vtep_mac("calico/" + node_name), "mtu", str(mtu),
            "type", "vxlan", "id", str(VNI), *(["local", local] if local else []), "dev", "eth0",
            "dstport", str(port), "nolearning"]


def start(client, node_name, pod, log):
    """calico-node's start-up: its address, vxlan.calico, the Node's annotations; the address, or None."""
    node = client.get(path_of(node_name, None, "nodes"))
    env = env_of(client, pod, pod["spec"]["containers"][0], node)
    address = env.get("IP") or flannel.public_ip(node)
    port, mtu = int(env.get("FELIX_VXLANPORT") or DEFAULT_PORT), int(env.get("FELIX_VXLANMTU") or DEFAULT_MTU)
    if not under_test():
        subprocess.run(["ip", "link", "del", DEVICE], capture_output=True)
        for argv in (vxlan_argv(node_name, port, mtu, _eth0_address()), ["ip", "link", "set", DEVICE, "up"]):
            r = subprocess.run(argv, capture_output=True, text=True)
            if r.returncode != 0:
                log(f"calico {pod['metadata']['name']}: cannot make {DEVICE}: {r.stderr.strip()}")
                return None
    log(f"calico {pod['metadata']['name']}: IPv4 address {address}, {DEVICE} on UDP {port}, MTU {mtu}")
    client.patch(path_of(node_name, None, "nodes"), {"metadata": {"annotations": {
        IPV4_ADDRESS: f"{address}/32", VTEP_MAC: flannel.vtep_mac("calico/" + node_name)}}})
    return address


def _eth0_address():
    words = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", "eth0"], capture_output=True,
                           text=True).stdout.split()
    return words[words.index("inet") + 1].split("/")[0] if "inet" in words else ""


class CalicoPod(flannelpod.FlannelPod):
    """calico-node's pod: the flannel runner's life, Calico's init container and agent, then Felix's policy loop."""

    def __init__(self, pod):
        super().__init__(pod)
        self.felix = policy.Felix()

    def install_cni(self, client, pod, node_name):
        install_cni(client, pod, node_name)

    def start_agent(self, client, node_name, pod, log):
        return start(client, node_name, pod, log)

    def sync(self, client, node_name, pod, log, now=None):
        super().sync(client, node_name, pod, log, now)
        if self.phase == "running":
            try:
                self.felix.sync(client, node_name, log)
            except (OSError, subprocess.SubprocessError) as e:  # Felix logs it and tries again
                log(f"calico felix: {e}")


# ---------------------------------------------------------------- the CNI plugin

def host_iface(pod):
    """Calico's name for a pod's host-side veth: cali + the first 11 hex digits of sha1(NAMESPACE.NAME)."""
    meta = pod["metadata"]
    return "cali" + hashlib.sha1(f"{meta['namespace']}.{meta['name']}".encode()).hexdigest()[:11]


def netns_name(pod):
    return "cni-" + pod["metadata"]["uid"]


def in_netns(pod):
    """The command prefix that runs a program in the pod's network namespace (and no other)."""
    return ["nsenter", f"--net=/run/netns/{netns_name(pod)}"]


def pod_address(node, pod, taken):
    """An address of the Node's podCIDR not yet in use on this node (.2 up), stable for a pod where free."""
    import ipaddress

    net = ipaddress.ip_network(node.get("spec", {}).get("podCIDR") or "10.244.0.0/24")
    hosts = list(net.hosts())[1:]
    start = int(hashlib.sha1(pod["metadata"]["uid"].encode()).hexdigest(), 16) % len(hosts)
    for i in range(len(hosts)):
        candidate = str(hosts[(start + i) % len(hosts)])
        if candidate not in taken:
            return candidate
    raise RuntimeError(f"no free address in {net}")


def add_workload(pod, node, taken):
    """CNI ADD: a network namespace with eth0 for the pod, its host side routed; returns the pod's IP."""
    ns, iface, ip = netns_name(pod), host_iface(pod), pod_address(node, pod, taken)
    if under_test():  # unit tests run the stand-ins on the test machine: no namespaces there
        return ip
    tmp = "tmp" + iface[4:]
    inside = in_netns(pod)  # not `ip -n`: it mounts a fresh /sys, which a rootless node may not
    for argv in (["ip", "netns", "add", ns],
                 ["ip", "link", "add", iface, "type", "veth", "peer", "name", tmp],
                 ["ip", "link", "set", tmp, "netns", ns],
                 [*inside, "ip", "link", "set", tmp, "name", "eth0"],
                 [*inside, "ip", "addr", "add", f"{ip}/32", "dev", "eth0"],
                 [*inside, "ip", "link", "set", "lo", "up"],
                 [*inside, "ip", "link", "set", "eth0", "up"],
                 [*inside, "ip", "route", "add", GATEWAY, "dev", "eth0", "scope", "link"],
                 [*inside, "ip", "route", "add", "default", "via", GATEWAY, "dev", "eth0"],
                 ["sysctl", "-qw", f"net.ipv4.conf.{iface}.proxy_arp=1"],
                 ["sysctl", "-qw", f"net.ipv4.neigh.{iface}.proxy_delay=0"],  # else ARP answers wait up to 0.8 s
                 ["ip", "link", "set", iface, "up"],
                 ["ip", "route", "replace", f"{ip}/32", "dev", iface, "scope", "link"]):
        subprocess.run(argv, check=True, capture_output=True, text=True)
    return ip


def del_workload(pod):
    """CNI DEL: the namespace goes, and with it the veth pair and its route."""
    if under_test():
        return
    subprocess.run(["ip", "netns", "del", netns_name(pod)], capture_output=True)
    subprocess.run(["ip", "link", "del", host_iface(pod)], capture_output=True)
