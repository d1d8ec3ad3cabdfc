"""Flannel: its helm release, and its pods' view of each node's public address.

helm exits 0 for `helm status` whatever state the release is in, so the state
is read from its JSON (`.info.status`): only `deployed` counts as installed.
Flannel reads a node's public-ip-overwrite annotation once, when its pod
starts, and writes the address it then uses to the `public-ip` annotation: a
pod that started before the overwrite was set is restarted (deleted; its
DaemonSet makes a new one) so that flannel carries traffic to HOST_IP.
"""

from __future__ import annotations

import json

from u7s.config.settings import DEFAULT_MTU
from u7s.errors import U7sError
from u7s.node.externalip import HOST_IP_LABEL
from u7s.node.kube import kubectl
from u7s.node.container import Node
from u7s.run.poll import wait_for

NAMESPACE = "kube-flannel"
RELEASE = "flannel"
CHART = "/flannel"
POD_SELECTOR = "app=flannel"
PUBLIC_IP_IN_USE = "flannel.alpha.coreos.com/public-ip"  # written by flannel itself
PSA_LABEL = "pod-security.kubernetes.io/enforce=privileged"
VXLAN_OVERHEAD = 50  # flannel's VXLAN device: the MTU it is given minus this
STATUS = ["helm", "status", RELEASE, "--namespace", NAMESPACE, "-o", "json"]


def parse_release_state(text: str) -> str:
    """Pure: the release state from `helm status -o json` (deployed, failed, pending-install, ...)."""
    try:
        state = json.loads(text)["info"]["status"]
    except (ValueError, LookupError, TypeError):
        raise U7sError("helm status printed no release state (`.info.status`)") from None
    if not isinstance(state, str) or not state:
        raise U7sError("helm status printed no release state (`.info.status`)")
    return state


def release_state(node: Node) -> str | None:
    """The flannel release's state, or None when there is no release."""
    r = node.exec(STATUS, check=False)
    if r.ok:
        return parse_release_state(r.stdout)
    if "not found" in r.stderr:
        return None
    tail = r.stderr_tail()
    raise U7sError(f"{node.host.name}: helm status {RELEASE} failed: {tail}")


def cluster_mtu(mtus: list[int]) -> int:
    """Pure: the MTU flannel's VXLAN is given: the smallest node network of the cluster (one DaemonSet, one value)."""
    return min(mtus, default=DEFAULT_MTU)


def install(node: Node, mtu: int | None = None) -> str | None:
    """Install or repair the release; None when it is deployed already, else what was done.

    `mtu` is the node networks' (the cluster's smallest NODE_MTU, this node's own by default): flannel
    makes its VXLAN device 50 bytes smaller. At 1500 flannel is left to read it from the node's eth0.
    """
    mtu = node.s.node_mtu if mtu is None else mtu
    state = release_state(node)
    if state == "deployed":
        return None
    if not kubectl(node, "get", "namespace", NAMESPACE, "-o", "name", check=False).ok:
        kubectl(node, "create", "namespace", NAMESPACE)
    kubectl(node, "label", "namespace", NAMESPACE, "--overwrite", PSA_LABEL)
    if state is not None and state.startswith("pending"):
        # helm refuses to upgrade a release with an operation in progress: an interrupted one is removed first.
        node.exec(["helm", "uninstall", RELEASE, "--namespace", NAMESPACE])
    node.exec([
        "helm", "upgrade", "--install", RELEASE, CHART, "--namespace", NAMESPACE,
        "--set-json", f"flannel.backendPort={node.s.port_flannel}",
        "--set-json", f"podCidr={json.dumps(node.s.pod_subnet)}",
        *(["--set-json", f"flannel.mtu={mtu}"] if mtu != DEFAULT_MTU else []),
    ])
    how = f"VXLAN on UDP {node.s.port_flannel}" + (f", VXLAN MTU {mtu - VXLAN_OVERHEAD}" if mtu != DEFAULT_MTU else "")
    if state is None:
        return f"flannel installed ({how})"
    return f"flannel release was {state}: reinstalled ({how})"


def wrong_public_ip(nodes: list[dict], host_ips: dict[str, str] | None = None) -> dict[str, str]:
    """Pure: node -> the address flannel uses there, where that is not its host's address.

    That address is `host_ips`' (node name -> HOST_IP, the hosts of the run), else the node's host-ip label.
    """
    out = {}
    for obj in nodes:
        meta = obj.get("metadata", {})
        name = meta.get("name", "?")
        want = (host_ips or {}).get(name) or (meta.get("labels") or {}).get(HOST_IP_LABEL)
        used = (meta.get("annotations") or {}).get(PUBLIC_IP_IN_USE)
        if want and used and used != want:
            out[name] = used
    return out


def public_ip_pending(nodes: list[dict], want: dict[str, str]) -> dict[str, str]:
    """Pure: for each node of `want` (name -> address) whose flannel does not use that address yet, what it uses."""
    used = {obj.get("metadata", {}).get("name"): (obj["metadata"].get("annotations") or {}).get(PUBLIC_IP_IN_USE)
            for obj in nodes}
    return {name: (used[name] or "no public-ip yet") if name in used else "not registered"
            for name, address in sorted(want.items()) if used.get(name) != address}


def pods_by_node(node: Node) -> dict[str, list[str]]:
    """Flannel's pods, by the node they run on (empty when flannel is not installed)."""
    r = kubectl(node, "get", "pods", "--namespace", NAMESPACE, "-l", POD_SELECTOR, "-o", "json", check=False)
    if not r.ok:
        return {}
    out: dict[str, list[str]] = {}
    for pod in json.loads(r.stdout).get("items", []):
        where = pod.get("spec", {}).get("nodeName")
        if where:
            out.setdefault(where, []).append(pod["metadata"]["name"])
    return out


def restart_pods(node: Node, node_names: list[str]) -> list[str]:
    """Delete flannel's pods on these nodes (the DaemonSet starts new ones); return the nodes restarted."""
    if not node_names:
        return []
    pods = pods_by_node(node)
    delete_pods(node, [pod for name in node_names for pod in pods.get(name, [])])
    return sorted(name for name in node_names if pods.get(name))


def delete_pods(node: Node, names: list[str]) -> None:
    """Delete these flannel pods, not waiting: the DaemonSet starts a new one on each node at once."""
    if names:
        kubectl(node, "delete", "pod", "--namespace", NAMESPACE, "--wait=false", "--ignore-not-found", *names)


def wait_public_ip(node: Node, want: dict[str, str]) -> None:
    """Wait until flannel on each node of `want` (name -> address) uses that address (its new pod wrote it)."""

    def check() -> tuple[bool, str]:
        r = kubectl(node, "get", "nodes", "-o", "json", check=False)
        if not r.ok:
            return False, f"the API did not answer: {r.stderr.strip()[-200:]}"
        pending = public_ip_pending(json.loads(r.stdout).get("items", []), want)
        return not pending, "; ".join(f"{name} uses {used}" for name, used in pending.items()) or "all in use"

    if want:
        wait_for(check, what=f"flannel on {', '.join(sorted(want))} to use its host's address ({PUBLIC_IP_IN_USE})",
                 timeout=node.s.timeout)
