"""metrics-server on one lab host: `kubectl top` fails before `install-metrics-server` and works after it.

The node's real kubectl asks the API server stand-in, which serves metrics.k8s.io only once
the APIService is Available (metrics-server's pod Running); its numbers come from the
kubelet stand-in's /metrics/resource, reached as metrics-server reaches it: the node's
ExternalIP (HOST_IP) at the port its Node reports, over the kubelet's self-signed TLS.
"""

from __future__ import annotations

import pytest
from test_kubernetes import NAME, kubectl, node, poll, u7s  # noqa: F401 (node: the fixture)

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]


def test_kubectl_top_fails_until_install_metrics_server_and_then_lists_the_node(lab, node):
    u7s(node, lab.node_image, "create")  # METRICS_SERVER is off by default
    before = kubectl(node, "top", "nodes", check=False)
    assert (before.returncode, before.stderr.strip()) == (1, "error: Metrics API not available")

    installed = u7s(node, lab.node_image, "install-metrics-server")
    assert "metrics-server installed (registry.k8s.io/metrics-server/metrics-server:v0.8.1" in installed.stderr
    again = u7s(node, lab.node_image, "install-metrics-server")
    assert "metrics-server already installed" in again.stderr

    def top():
        r = kubectl(node, "top", "nodes", "--no-headers", check=False)
        return r.returncode == 0 and r.stdout.split()

    row = poll("kubectl top nodes", top, timeout=60)
    name, cpu, _, memory, _ = row
    assert name == NAME and cpu.endswith("m") and memory.endswith("Mi") and int(memory[:-2]) > 0
    pods = kubectl(node, "top", "pods", "-A", "--no-headers").stdout.splitlines()
    assert any(p.split()[:2][0] == "kube-system" and p.split()[1].startswith("metrics-server-") for p in pods), pods
