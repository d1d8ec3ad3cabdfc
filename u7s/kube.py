"""Kubernetes steps inside a node: kubeadm, kubectl and helm, as the reference runs them.

Reading (`is_*`, `get_*`) is kept apart from acting; every action checks first
and returns what it did, so each step can be re-run. Parsers are pure functions.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

from . import workdir
from .errors import U7sError
from .node import Node
from .poll import wait_for

ADMIN_CONF = "/etc/kubernetes/admin.conf"
KUBELET_CONF = "/etc/kubernetes/kubelet.conf"
HOST_IP_LABEL = "usernetes/host-ip"
PUBLIC_IP_ANNOTATION = "flannel.alpha.coreos.com/public-ip-overwrite"
UNINITIALIZED_TAINT = "node.cloudprovider.kubernetes.io/uninitialized"
CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane"
FLANNEL_NAMESPACE = "kube-flannel"
FLANNEL_CHART = "/flannel"

TOKEN = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")
CA_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
ENDPOINT = re.compile(r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")


# -- kubeadm init / reset ------------------------------------------------------------------
def is_initialized(node: Node) -> bool:
    return node.exists(ADMIN_CONF)


def kubeadm_init(node: Node) -> bool:
    """Run `kubeadm init` with the rendered configuration; False when already initialised."""
    if is_initialized(node):
        return False
    workdir.stage(node.host, node.s)
    config = workdir.in_node(workdir.KUBEADM_CONFIG)
    with node.report.step("kubeadm init"):
        node.exec(["kubeadm", "init", "--config", config, "--skip-token-print"])
    return True


def wait_api(node: Node) -> None:
    def ready() -> tuple[bool, str]:
        r = node.exec(["kubectl", "get", "--raw", "/readyz"], check=False)
        return r.ok and r.stdout.strip() == "ok", (r.stdout or r.stderr).strip()[-200:] or "no answer"

    wait_for(ready, what="the API server to answer /readyz", timeout=node.s.timeout)


def kubeadm_reset(node: Node) -> None:
    node.exec(["kubeadm", "reset", "--force"])


# -- kubectl helpers -----------------------------------------------------------------------
def kubectl(node: Node, *args: str, check: bool = True):
    return node.exec(["kubectl", *args], check=check)


def get_nodes(node: Node) -> list[dict]:
    return json.loads(kubectl(node, "get", "nodes", "-o", "json").stdout).get("items", [])


def node_is_ready(obj: dict) -> bool:
    for cond in obj.get("status", {}).get("conditions", []):
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def wait_node_ready(node: Node, name: str) -> None:
    def ready() -> tuple[bool, str]:
        r = kubectl(node, "get", "node", name, "-o", "json", check=False)
        if not r.ok:
            return False, r.stderr.strip() or "not registered"
        return node_is_ready(json.loads(r.stdout)), "registered, not Ready"

    wait_for(ready, what=f"node {name} to be Ready", timeout=node.s.timeout)


def _has_taint(obj: dict, key: str) -> bool:
    return any(t.get("key") == key for t in obj.get("spec", {}).get("taints") or [])


# -- sync-external-ip ----------------------------------------------------------------------
@dataclass(frozen=True)
class ExternalIpPlan:
    """What sync-external-ip must change on one node (empty when it is already in sync)."""

    node: str
    host_ip: str | None
    set_address: bool
    set_annotation: bool
    remove_taint: bool

    @property
    def changes(self) -> list[str]:
        return [
            what
            for what, needed in (
                (f"ExternalIP {self.host_ip}", self.set_address),
                (f"annotation {PUBLIC_IP_ANNOTATION}", self.set_annotation),
                (f"taint {UNINITIALIZED_TAINT} removed", self.remove_taint),
            )
            if needed
        ]


def plan_external_ips(nodes: list[dict]) -> list[ExternalIpPlan]:
    """Pure: per node, what differs from ExternalIP = its usernetes/host-ip label."""
    plans = []
    for obj in nodes:
        meta = obj.get("metadata", {})
        host_ip = (meta.get("labels") or {}).get(HOST_IP_LABEL)
        if not host_ip:
            plans.append(ExternalIpPlan(meta.get("name", "?"), None, False, False, False))
            continue
        addresses = obj.get("status", {}).get("addresses") or []
        plans.append(
            ExternalIpPlan(
                node=meta["name"],
                host_ip=host_ip,
                set_address=addresses != [{"type": "ExternalIP", "address": host_ip}],
                set_annotation=(meta.get("annotations") or {}).get(PUBLIC_IP_ANNOTATION) != host_ip,
                remove_taint=_has_taint(obj, UNINITIALIZED_TAINT),
            )
        )
    return plans


def sync_external_ip(node: Node) -> list[ExternalIpPlan]:
    """Make each node's ExternalIP, flannel public-ip annotation and taint match its host."""
    plans = plan_external_ips(get_nodes(node))
    for plan in plans:
        if plan.host_ip is None:
            node.report.warn(f"node {plan.node} has no {HOST_IP_LABEL} label: left alone")
            continue
        if plan.set_address:
            patch = {"status": {"addresses": [{"type": "ExternalIP", "address": plan.host_ip}]}}
            kubectl(node, "patch", "node", plan.node, "--subresource=status", "--type=merge",
                    "-p", json.dumps(patch))
        if plan.set_annotation:
            kubectl(node, "annotate", "node", plan.node, "--overwrite",
                    f"{PUBLIC_IP_ANNOTATION}={plan.host_ip}")
        if plan.remove_taint:
            kubectl(node, "taint", "node", plan.node, f"{UNINITIALIZED_TAINT}-")
    return plans


# -- flannel -------------------------------------------------------------------------------
def flannel_installed(node: Node) -> bool:
    return node.exec(["helm", "status", "flannel", "--namespace", FLANNEL_NAMESPACE], check=False).ok


def install_flannel(node: Node) -> bool:
    """Install the flannel chart unless a release exists; False when it was there already."""
    if flannel_installed(node):
        return False
    if not kubectl(node, "get", "namespace", FLANNEL_NAMESPACE, "-o", "name", check=False).ok:
        kubectl(node, "create", "namespace", FLANNEL_NAMESPACE)
    kubectl(node, "label", "namespace", FLANNEL_NAMESPACE, "--overwrite",
            "pod-security.kubernetes.io/enforce=privileged")
    node.exec([
        "helm", "install", "flannel", "--namespace", FLANNEL_NAMESPACE,
        "--set-json", f"flannel.backendPort={node.s.port_flannel}", FLANNEL_CHART,
    ])
    return True


# -- taints --------------------------------------------------------------------------------
def remove_control_plane_taint(node: Node, name: str) -> bool:
    """Let pods schedule on the control plane (single-host clusters); False when already so."""
    obj = json.loads(kubectl(node, "get", "node", name, "-o", "json").stdout)
    if not _has_taint(obj, CONTROL_PLANE_TAINT):
        return False
    kubectl(node, "taint", "node", name, f"{CONTROL_PLANE_TAINT}-")
    return True


# -- joining -------------------------------------------------------------------------------
def parse_join_command(text: str) -> list[str]:
    """Pure: the argv of `kubeadm token create --print-join-command`, validated.

    The output is data from a host, so it is split into words and checked here,
    then quoted once into the join script; it is never run as shell text.
    """
    try:
        words = shlex.split(text.replace("\r", " "))
    except ValueError:
        raise U7sError("kubeadm printed an unexpected join command (unbalanced quotes)") from None
    if words[:2] != ["kubeadm", "join"] or len(words) < 3 or not ENDPOINT.match(words[2]):
        raise U7sError("kubeadm printed an unexpected join command (expected `kubeadm join HOST:PORT ...`)")
    options = _options(words[3:])
    if not TOKEN.match(options.get("--token", "")):
        raise U7sError("kubeadm's join command has no valid --token")
    if not CA_HASH.match(options.get("--discovery-token-ca-cert-hash", "")):
        raise U7sError("kubeadm's join command has no valid --discovery-token-ca-cert-hash")
    return words


def _options(words: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("--"):
            # The word is not shown: a misplaced one may be the token itself.
            raise U7sError(f"kubeadm's join command has an unexpected word at position {i + 4}")
        name, eq, value = word.partition("=")
        if not eq and i + 1 < len(words) and not words[i + 1].startswith("--"):
            value = words[i + 1]
            i += 1
        options[name] = value
        i += 1
    return options


def create_join_command(node: Node, ttl: str | None = None) -> list[str]:
    argv = ["kubeadm", "token", "create", "--print-join-command"]
    if ttl:
        argv += ["--ttl", ttl]
    return parse_join_command(node.exec(argv).stdout)


def is_joined(node: Node) -> bool:
    return node.exists(KUBELET_CONF)


def kubeadm_join(node: Node, script_rel: str = workdir.JOIN_COMMAND) -> bool:
    """Run the join script (already in the working directory) in the node; False if joined."""
    if is_joined(node):
        return False
    with node.report.step("kubeadm join"):
        node.exec(["bash", workdir.in_node(script_rel)])
    return True


# -- kubeconfig ----------------------------------------------------------------------------
def admin_kubeconfig(node: Node, server_host: str) -> str:
    """The node's admin.conf with the API server at server_host:PORT_KUBE_APISERVER."""
    import yaml

    config = yaml.safe_load(node.read(ADMIN_CONF))
    return rewrite_server(config, f"https://{server_host}:{node.s.port_kube_apiserver}")


def rewrite_server(config: dict, server: str) -> str:
    """Pure: point every cluster of a kubeconfig at `server`."""
    import yaml

    for cluster in config.get("clusters") or []:
        cluster.setdefault("cluster", {})["server"] = server
    return yaml.safe_dump(config, sort_keys=False)
