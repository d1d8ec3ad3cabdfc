"""The calico stand-in's Felix: NetworkPolicies turned into the node's iptables rules, as Calico enforces ingress."""

from __future__ import annotations

import sys
from pathlib import Path

STANDINS = Path(__file__).resolve().parents[1] / "lab" / "standins"
sys.path.insert(0, str(STANDINS))

import u7s_standin_calico as calico  # noqa: E402
import u7s_standin_calico_policy as policy  # noqa: E402


def pod(name, ip, labels, ns="default", node="u7s-h1", ports=()):
    return {"metadata": {"name": name, "namespace": ns, "labels": labels, "uid": name},
            "spec": {"nodeName": node, "containers": [{"name": "c", "ports": [{"name": f"p{p}", "containerPort": p}
                                                                           for p in ports]}]},
            "status": {"podIP": ip}}


def netpol(spec, name="web-in", ns="default"):
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


WEB = pod("web", "10.244.0.5", {"app": "web"}, ports=(8080,))
CLIENT = pod("client", "10.244.0.6", {"app": "client"})
TRUSTED = pod("trusted", "10.244.0.7", {"role": "trusted"})
OTHER_NS = pod("probe", "10.244.0.8", {"role": "trusted"}, ns="ops")
NAMESPACES = [{"metadata": {"name": "default", "labels": {}}}, {"metadata": {"name": "ops", "labels": {"team": "ops"}}}]
PODS = [WEB, CLIENT, TRUSTED, OTHER_NS]


def rules(policies, pods=PODS):
    return policy.rules(policies, pods, NAMESPACES, "u7s-h1", calico.host_iface)


def test_a_pod_no_policy_selects_takes_everything():
    lines = rules([])
    assert lines[0] == "-A cali-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
    assert f"-A cali-FORWARD -o {calico.host_iface(WEB)} -j ACCEPT" in lines


def test_a_selecting_policy_allows_its_sources_and_ports_and_drops_the_rest():
    web = calico.host_iface(WEB)
    lines = rules([netpol({"podSelector": {"matchLabels": {"app": "web"}},
                           "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "trusted"}}}],
                                        "ports": [{"port": "p8080"}]}]})])
    mine = [line for line in lines if f"-o {web}" in line]
    assert mine == [
        f'-A cali-FORWARD -o {web} -s 10.244.0.7/32 -p tcp --dport 8080 -m comment --comment "cali:default/web-in" '
        "-j ACCEPT",
        f'-A cali-FORWARD -o {web} -m comment --comment "Drop if no policies passed packet" -j DROP']
    assert f"-A cali-FORWARD -o {calico.host_iface(CLIENT)} -j ACCEPT" in lines  # not selected: open


def test_a_namespace_selector_reaches_into_other_namespaces_and_an_empty_ingress_denies_all():
    web = calico.host_iface(WEB)
    lines = rules([netpol({"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"team": "ops"}}}]}]})])
    assert f'-A cali-FORWARD -o {web} -s 10.244.0.8/32 -m comment --comment "cali:default/web-in" -j ACCEPT' in lines
    deny = [line for line in rules([netpol({"podSelector": {}, "policyTypes": ["Ingress"]})]) if f"-o {web}" in line]
    assert deny == [f'-A cali-FORWARD -o {web} -m comment --comment "Drop if no policies passed packet" -j DROP']


def test_an_egress_only_policy_leaves_ingress_open_and_other_nodes_pods_are_not_this_nodes():
    lines = rules([netpol({"podSelector": {}, "policyTypes": ["Egress"], "egress": []})])
    assert f"-A cali-FORWARD -o {calico.host_iface(WEB)} -j ACCEPT" in lines
    away = pod("away", "10.244.1.5", {"app": "web"}, node="u7s-h2")
    assert not [line for line in rules([], [away]) if calico.host_iface(away) in line]


def test_calicos_interface_name_is_cali_and_eleven_hex_digits_of_the_pods_namespace_and_name():
    assert calico.host_iface(WEB) == "cali" + __import__("hashlib").sha1(b"default.web").hexdigest()[:11]
    assert len(calico.host_iface(WEB)) == 15  # the kernel's limit for an interface name


# ---------------------------------------------------------------- the stand-ins together, on the test machine

import json  # noqa: E402

from u7s.node import calico as u7s_calico  # noqa: E402
from tests.unit.standin_nodes import CP  # noqa: E402
from tests.unit.test_standins import cluster, cp_node, kubectl, kubelet_port, poll  # noqa: E402,F401 (fixtures)


def test_calicos_manifest_makes_the_node_ready_and_pods_get_addresses(cluster, kubectl, tmp_path):
    manifest = tmp_path / "calico.yaml"
    manifest.write_text(u7s_calico.manifest("t", 8472, 1500, "10.244.0.0/16"))
    cluster.kubectl(kubectl, "apply", "-f", str(manifest))
    conflist = cluster.root / "etc/cni/net.d/10-calico.conflist"
    poll("calico's CNI configuration", conflist.exists, timeout=30)
    assert json.loads(conflist.read_text())["plugins"][0]["mtu"] == 1450

    def node():
        return json.loads(cluster.kubectl(kubectl, "get", "node", CP, "-o", "json").stdout)

    poll("calico-node's address on the Node", lambda: u7s_calico.IPV4_ADDRESS in node()["metadata"]["annotations"],
         timeout=30)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default",
                                                          "labels": {"app": "web"}},
           "spec": {"nodeName": CP, "containers": [{"name": "c", "image": "docker.io/library/nginx:alpine"}]}}
    path = tmp_path / "pod.json"
    path.write_text(json.dumps(pod))
    cluster.kubectl(kubectl, "apply", "-f", str(path))
    got = poll("the pod's address", lambda: json.loads(cluster.kubectl(
        kubectl, "get", "pod", "web", "-o", "json").stdout).get("status", {}).get("podIP"), timeout=30)
    assert got.startswith("10.244.")
    cluster.kubectl(kubectl, "delete", "pod", "web", "--wait=false")
