"""What sync-external-ip changes on each Kubernetes Node, planned by a pure function, then applied.

Each node's ExternalIP and flannel's public-ip-overwrite annotation follow its
usernetes/host-ip label (its host's HOST_IP), and the uninitialized taint goes,
as the reference's sync-external-ip does. The kubelet sets that label (its
--node-labels) only when it first registers its Node: where u7s knows a node's
HOST_IP (the hosts of the run), a label that no longer matches is set anew, and
the address and annotation follow. Also: the control-plane taint of a
single-host cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from u7s.node.container import Node
from u7s.node.kube import kubectl

HOST_IP_LABEL = "usernetes/host-ip"
PUBLIC_IP_ANNOTATION = "flannel.alpha.coreos.com/public-ip-overwrite"
UNINITIALIZED_TAINT = "node.cloudprovider.kubernetes.io/uninitialized"
CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane"


def _has_taint(obj: dict, key: str) -> bool:
    return any(t.get("key") == key for t in obj.get("spec", {}).get("taints") or [])


@dataclass(frozen=True)
class ExternalIpPlan:
    """What sync-external-ip must change on one node (empty when it is already in sync)."""

    node: str
    host_ip: str | None
    set_address: bool
    set_annotation: bool
    remove_taint: bool
    set_label: bool = False  # HOST_IP changed since the kubelet registered the node
    label: str | None = None  # the label as it was

    @property
    def changes(self) -> list[str]:
        return [
            what
            for what, needed in (
                (f"label {HOST_IP_LABEL} {self.label or '(none)'} -> {self.host_ip}", self.set_label),
                (f"ExternalIP {self.host_ip}", self.set_address),
                (f"annotation {PUBLIC_IP_ANNOTATION}", self.set_annotation),
                (f"taint {UNINITIALIZED_TAINT} removed", self.remove_taint),
            )
            if needed
        ]


def plan_external_ips(nodes: list[dict], host_ips: dict[str, str] | None = None) -> list[ExternalIpPlan]:
    """Pure: per node, what differs from ExternalIP = its host's address.

    `host_ips` (node name -> HOST_IP) are the hosts u7s knows in this run; any other node keeps its
    usernetes/host-ip label as its address.
    """
    plans = []
    for obj in nodes:
        meta = obj.get("metadata", {})
        name = meta.get("name", "?")
        label = (meta.get("labels") or {}).get(HOST_IP_LABEL)
        host_ip = (host_ips or {}).get(name) or label
        if not host_ip:
            plans.append(ExternalIpPlan(name, None, False, False, False))
            continue
        addresses = obj.get("status", {}).get("addresses") or []
        plans.append(
            ExternalIpPlan(
                node=name,
                host_ip=host_ip,
                set_address=addresses != [{"type": "ExternalIP", "address": host_ip}],
                set_annotation=(meta.get("annotations") or {}).get(PUBLIC_IP_ANNOTATION) != host_ip,
                remove_taint=_has_taint(obj, UNINITIALIZED_TAINT),
                set_label=label != host_ip,
                label=label,
            )
        )
    return plans


def sync_external_ip(node: Node, nodes: list[dict], host_ips: dict[str, str] | None = None) -> list[ExternalIpPlan]:
    """Make each node's host-ip label, ExternalIP, flannel public-ip annotation and taint match its host.

    Every node's changes go to the API in one batch (one round trip); a call that failed there (the API away
    for a moment) is made again on its own, riding out an outage as any kubectl call does.
    """
    from u7s.render import engine

    plans = plan_external_ips(nodes, host_ips)
    calls = []
    for plan in plans:
        if plan.host_ip is None:
            node.report.warn(f"node {plan.node} has no {HOST_IP_LABEL} label: left alone")
            continue
        if plan.set_label:
            calls.append(["label", "node", plan.node, "--overwrite", f"{HOST_IP_LABEL}={plan.host_ip}"])
        if plan.set_address:
            patch = {"status": {"addresses": [{"type": "ExternalIP", "address": plan.host_ip}]}}
            calls.append(["patch", "node", plan.node, "--subresource=status", "--type=merge", "-p", json.dumps(patch)])
        if plan.set_annotation:
            calls.append(["annotate", "node", plan.node, "--overwrite", f"{PUBLIC_IP_ANNOTATION}={plan.host_ip}"])
        if plan.remove_taint:
            calls.append(["taint", "node", plan.node, f"{UNINITIALIZED_TAINT}-"])
    if len(calls) > 1:
        results = node.host.run_many([engine.node_exec(node.s, ["kubectl", *args], stdin=False) for args in calls])
        calls = [args for args, r in zip(calls, results) if not r.ok]
    for args in calls:
        kubectl(node, *args)
    return plans


def remove_control_plane_taint(node: Node, name: str) -> bool:
    """Let pods schedule on the control plane (single-host clusters); False when already so."""
    obj = json.loads(kubectl(node, "get", "node", name, "-o", "json").stdout)
    if not _has_taint(obj, CONTROL_PLANE_TAINT):
        return False
    kubectl(node, "taint", "node", name, f"{CONTROL_PLANE_TAINT}-")
    return True
