"""The lab's metrics-server stand-in, driven by u7s's own manifest through the real kubectl (`kubectl top`).

Before the manifest, `kubectl top nodes` fails as it does on a cluster without metrics-server;
u7s's manifest applied, the API server stand-in runs metrics-server's pod (its Deployment
controller, its scheduler, the kubelet stand-in), the APIService turns Available, and
`kubectl top nodes` / `kubectl top pods -A` print the node's usage scraped from the kubelet's
/metrics/resource. Without `--kubelet-insecure-tls` the kubelet's self-signed certificate fails
every scrape, as for real.
"""

import json

from u7s.node import metricsserver
from tests.unit.standin_nodes import CP
from tests.unit.test_standins import cluster, cp_node, kubectl, kubelet_port, poll  # noqa: F401 (fixtures)


def _ready_with_external_ip(cluster, kubectl):
    """The node Ready (a CNI configuration) with its ExternalIP, as sync-external-ip leaves it (here: loopback)."""
    (cluster.root / "etc/cni/net.d").mkdir(parents=True)
    (cluster.root / "etc/cni/net.d/10-test.conflist").write_text("{}")
    poll("the node to be Ready", lambda: " Ready " in cluster.kubectl(kubectl, "get", "nodes", ok=None).stdout)
    node = cluster.kubectl_json(kubectl, "node", CP)
    addresses = node["status"]["addresses"] + [{"type": "ExternalIP", "address": cluster.loopback}]
    cluster.kubectl(kubectl, "patch", "node", CP, "--subresource=status", "--type=merge",
                    "-p", json.dumps({"status": {"addresses": addresses}}))
    # As sync-external-ip and a single-host create leave it: no uninitialized or control-plane taint.
    cluster.kubectl(kubectl, "patch", "node", CP, "--type=merge", "-p", json.dumps({"spec": {"taints": None}}))
    assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == int(cluster.env["PORT_KUBELET"])


def _apply(cluster, kubectl, tmp_path, text):
    (tmp_path / "metrics-server.yaml").write_text(text)
    return cluster.kubectl(kubectl, "apply", "-f", str(tmp_path / "metrics-server.yaml")).stdout


def test_kubectl_top_fails_without_metrics_server_and_works_with_u7s_manifest(cluster, kubectl, tmp_path):
    _ready_with_external_ip(cluster, kubectl)
    before = cluster.kubectl(kubectl, "top", "nodes", ok=False)
    assert before.stderr.strip() == "error: Metrics API not available"

    applied = _apply(cluster, kubectl, tmp_path, metricsserver.manifest("test"))
    assert "apiservice.apiregistration.k8s.io/v1beta1.metrics.k8s.io created" in applied
    assert all(line.endswith(" unchanged") for line in
               _apply(cluster, kubectl, tmp_path, metricsserver.manifest("test")).splitlines())
    top = poll("kubectl top nodes", lambda: (r := cluster.kubectl(kubectl, "top", "nodes", ok=None)).returncode == 0
               and r, timeout=30)
    header, row = top.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    name, cpu, cpu_share, memory, memory_share = row.split()
    assert name == CP and cpu.endswith("m") and memory.endswith("Mi") and int(memory[:-2]) > 0
    service = cluster.kubectl_json(kubectl, "apiservice", "v1beta1.metrics.k8s.io")
    assert service["status"]["conditions"][0]["reason"] == "Passed"

    pods = cluster.kubectl(kubectl, "top", "pods", "-A").stdout.splitlines()
    assert pods[0].split() == ["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert any(line.split()[0] == "kube-system" and line.split()[1].startswith("metrics-server-")
               for line in pods[1:]), pods


def test_without_kubelet_insecure_tls_the_self_signed_kubelet_fails_every_scrape(cluster, kubectl, tmp_path):
    _ready_with_external_ip(cluster, kubectl)
    text = metricsserver.manifest("test").replace('"--kubelet-insecure-tls", ', "")
    assert "--kubelet-insecure-tls" not in text
    _apply(cluster, kubectl, tmp_path, text)
    poll("the APIService to be available", lambda: cluster.kubectl_json(kubectl, "apiservice", "v1beta1.metrics.k8s.io")
         .get("status", {}).get("conditions", [{}])[0].get("reason") == "Passed", timeout=30)
    top = cluster.kubectl(kubectl, "top", "nodes", ok=False)
    assert top.stderr.strip() == "error: metrics not available yet"
