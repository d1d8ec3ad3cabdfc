"""CNI=calico on one lab host: the node turns Ready through Calico, and a NetworkPolicy denies a connection.

The calico-node stand-in (tests/lab/standins/u7s_standin_calico.py) writes Calico's CNI
configuration, makes vxlan.calico on PORT_FLANNEL and enforces NetworkPolicy ingress in the
node's iptables; the kubelet stand-in runs the other pods as real listeners in network
namespaces of their own. The connections below are real TCP connections inside the node.
"""

from __future__ import annotations

import json

import pytest
from test_kubernetes import kubectl, node, poll, u7s  # noqa: F401 (node: a clean single node, a fixture)

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]

NAME = "u7s-h1"
IMAGE = "docker.io/library/nginx:alpine"
# Connect, read the answer (the listener's pod name); exit 1 when nothing answers within a second.
CONNECT = ("import socket, sys\n"
           "try:\n"
           "    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1); print(s.recv(64).decode())\n"
           "except OSError as e:\n"
           "    sys.exit(f'no connection: {e}')\n")


def pod(name, labels, ports=()):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {"containers": [{"name": "c", "image": IMAGE,
                                     "ports": [{"containerPort": p} for p in ports]}]}}


POLICY = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
          "metadata": {"name": "web-from-trusted", "namespace": "default"},
          "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
                   "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "trusted"}}}],
                                "ports": [{"protocol": "TCP", "port": 8080}]}]}}


def apply(host, obj):
    kubectl(host, "apply", "-f", "-", input=json.dumps(obj))


def running(host):
    items = json.loads(kubectl(host, "get", "pods", "-n", "default", "-o", "json").stdout)["items"]
    return {p["metadata"]["name"]: p for p in items if (p.get("status") or {}).get("podIP")}


def connect(host, source, target_ip, port=8080):
    """A TCP connection from SOURCE pod's network namespace (as containerd names it) to the target."""
    return host.docker(["exec", "u7s-node", "nsenter", f"--net=/run/netns/cni-{source['metadata']['uid']}",
                        "python3", "-c", CONNECT, target_ip, str(port)],
                       check=False)


def test_calico_makes_the_node_ready_and_a_network_policy_denies_what_it_allowed_before(lab, node):
    r = u7s(node, lab.node_image, "create", extra=["CNI=calico"])
    assert "calico installed (VXLAN on UDP 8472, VXLAN MTU 1450, pool 10.244.0.0/16" in r.stderr + r.stdout
    ready = kubectl(node, "get", "nodes", NAME, "-o", "json").stdout
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in json.loads(ready)["status"]["conditions"])
    assert node.docker(["exec", "u7s-node", "test", "-f", "/etc/cni/net.d/10-calico.conflist"],
                       check=False).returncode == 0
    assert kubectl(node, "get", "pods", "-n", "kube-flannel", "-o", "name").stdout == ""  # no flannel
    device = node.docker(["exec", "u7s-node", "ip", "-d", "link", "show", "vxlan.calico"]).stdout
    assert "mtu 1450" in device and "vxlan id 4096" in device and "dstport 8472" in device

    for obj in (pod("web", {"app": "web"}, [8080]), pod("client", {"app": "client"}), pod("trusted", {"role": "trusted"})):
        apply(node, obj)
    try:
        pods = poll("three pods running with an address", lambda: (p := running(node)) and len(p) == 3 and p)
    except AssertionError:  # what the kubelet and Felix said, for the report
        journal = node.docker(["exec", "u7s-node", "journalctl", "-u", "kubelet", "--no-pager", "-n", "60"],
                              check=False).stdout
        raise AssertionError(f"{kubectl(node, 'get', 'pods', '-A', '-o', 'wide').stdout}\n{journal}") from None
    web_ip = pods["web"]["status"]["podIP"]
    before = connect(node, pods["client"], web_ip)
    assert before.returncode == 0 and before.stdout.strip() == "web", before.stderr

    apply(node, POLICY)
    denied = poll("the policy to be enforced", lambda: (r := connect(node, pods["client"], web_ip)).returncode and r)
    assert "no connection: timed out" in denied.stderr  # Calico drops, it does not refuse
    allowed = connect(node, pods["trusted"], web_ip)
    assert allowed.returncode == 0 and allowed.stdout.strip() == "web", allowed.stderr
    rules = node.docker(["exec", "u7s-node", "iptables", "-S", "cali-FORWARD"]).stdout
    assert "Drop if no policies passed packet" in rules and "cali:default/web-from-trusted" in rules
