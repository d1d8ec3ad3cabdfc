"""Calico's manifest (CNI=calico): VXLAN on PORT_FLANNEL, its MTU, the pool from POD_SUBNET, no IP-in-IP; and
what preflight, status, the wait for Ready and the bundle know of the CNI."""

from __future__ import annotations

import json

import yaml

from u7s.checks import preflight
from u7s.node import calico, cni, podnet
from u7s.render import bundle
from tests.unit.u7s_fakes import make_settings


def objects(text):
    return [o for o in yaml.safe_load_all(text) if o]


def env(container):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_the_manifest_carries_vxlan_on_the_nodes_port_its_mtu_and_the_pod_range():
    docs = objects(calico.manifest("lab", 9472, 1460, "10.50.0.0/16"))
    by = {(o["kind"], o["metadata"]["name"]): o for o in docs}
    config = by[("ConfigMap", "calico-config")]["data"]
    assert config["calico_backend"] == "vxlan" and config["veth_mtu"] == "1410"
    ds = by[("DaemonSet", "calico-node")]
    node = env(ds["spec"]["template"]["spec"]["containers"][0])
    assert node["CALICO_IPV4POOL_VXLAN"] == "Always" and node["CALICO_IPV4POOL_IPIP"] == "Never"
    assert node["CALICO_IPV4POOL_CIDR"] == "10.50.0.0/16" and node["FELIX_VXLANPORT"] == "9472"
    assert node["FELIX_VXLANMTU"] == {"configMapKeyRef": {"name": "calico-config", "key": "veth_mtu"}}
    assert node["CLUSTER_TYPE"] == "k8s"  # no BGP
    install = env(ds["spec"]["template"]["spec"]["initContainers"][0])
    assert install["CNI_CONF_NAME"] == "10-calico.conflist"
    filled = config["cni_network_config"].replace("__CNI_MTU__", "1410")
    assert json.loads(filled)["plugins"][0]["type"] == "calico"
    images = {c["image"] for o in docs if o["kind"] in ("DaemonSet", "Deployment")
              for c in o["spec"]["template"]["spec"].get("initContainers", []) + o["spec"]["template"]["spec"]["containers"]}
    assert images == set(calico.IMAGES) == set(bundle.CALICO_IMAGES)
    crds = {o["metadata"]["name"] for o in docs if o["kind"] == "CustomResourceDefinition"}
    assert {"ippools.crd.projectcalico.org", "felixconfigurations.crd.projectcalico.org",
            "networkpolicies.crd.projectcalico.org"} <= crds


def test_the_default_mtu_gives_calicos_own_1450():
    config = next(o for o in objects(calico.manifest("c", 8472, 1500, "10.244.0.0/16")) if o["kind"] == "ConfigMap")
    assert config["data"]["veth_mtu"] == "1450"


def test_preflight_and_status_say_which_cni_runs():
    assert preflight.cni_detail(make_settings()) == (
        "flannel: VXLAN on UDP 8472 (PORT_FLANNEL); NetworkPolicy not enforced (CNI=calico does)")
    assert preflight.cni_detail(make_settings(CNI="calico", PORT_FLANNEL="9472")) == (
        "calico: VXLAN on UDP 9472 (PORT_FLANNEL); NetworkPolicy enforced")
    from u7s.ui.tables import STATUS_COLUMNS

    assert "cni" in STATUS_COLUMNS


def test_a_bundle_for_calico_carries_calicos_images_too():
    assert bundle.pod_images("flannel") == bundle.POD_IMAGES
    assert set(bundle.pod_images("calico")) == set(bundle.POD_IMAGES) | set(bundle.CALICO_IMAGES)


def _node(name, annotations):
    return {"kind": "Node", "metadata": {"name": name, "annotations": annotations},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def _pod(name, node_name, labels, ready=True):
    status = {"phase": "Running", "containerStatuses": [{"name": "calico-node", "ready": ready,
                                                         "state": {"running": {}}, "restartCount": 0}]}
    return {"kind": "Pod", "metadata": {"name": name, "uid": name, "labels": labels},
            "spec": {"nodeName": node_name}, "status": status}


def test_ready_waits_for_calico_node_and_its_address_on_a_calico_cluster():
    assert cni.of(make_settings(CNI="calico")) is cni.CALICO_CNI and cni.of(make_settings()) is cni.FLANNEL
    pods = [_pod("calico-node-a", "u7s-cp", {"k8s-app": "calico-node"})]
    nodes = [_node("u7s-cp", {})]
    waiting = podnet.verdicts(nodes, pods, ["u7s-cp"], cni.CALICO_CNI)
    assert waiting["u7s-cp"].text == ("calico pod calico-node-a is ready but projectcalico.org/IPv4Address is not "
                                      "written yet")
    nodes = [_node("u7s-cp", {calico.IPV4_ADDRESS: "192.0.2.10/32"})]
    assert podnet.verdicts(nodes, pods, ["u7s-cp"], cni.CALICO_CNI) == {}
    # The same listing, read as flannel's: no flannel pod there.
    assert podnet.verdicts(nodes, pods, ["u7s-cp"])["u7s-cp"].text == "no flannel pod on it yet"


def test_the_pod_network_step_applies_calicos_manifest_with_calico_and_helm_is_not_asked():
    import io

    from u7s.node.container import Node
    from u7s.steps import lifecycle
    from u7s.steps.outcome import ALREADY, CHANGED, status_of
    from u7s.ui.report import Reporter
    from tests.unit.u7s_fakes import FakeHost

    applied = "customresourcedefinition.apiextensions.k8s.io/ippools.crd.projectcalico.org created\n" \
              "daemonset.apps/calico-node created\n"
    host = FakeHost().on("docker", "inspect", stdout='{"Status":"running","Running":true}').on(
        "docker", "exec", contains="apply", stdout=applied)
    node = Node(host, make_settings(CNI="calico", NODE_MTU="1460"), Reporter(stream=io.StringIO()))
    said = lifecycle.install_flannel(node, 1400)
    assert status_of(said) == CHANGED and said.startswith(
        "calico installed (VXLAN on UDP 8472, VXLAN MTU 1350, pool 10.244.0.0/16; NetworkPolicy enforced)")
    workdir = "/home/user/.local/share/u7s/u7s"
    assert host.written[f"{workdir}/calico.yaml"] == (calico.manifest("u7s", 8472, 1400, "10.244.0.0/16").encode(),
                                                      0o644)
    assert not [argv for argv in host.calls if "helm" in argv]
    host.on("docker", "exec", contains="apply", stdout="daemonset.apps/calico-node unchanged\n")
    assert status_of(lifecycle.install_flannel(node, 1400)) == ALREADY


def test_calico_node_that_took_another_address_than_its_hosts_is_named_for_a_restart():
    nodes = [_node("u7s-cp", {calico.IPV4_ADDRESS: "192.0.2.10/32"}), _node("u7s-w1", {calico.IPV4_ADDRESS:
                                                                                        "10.100.7.100/32"}),
             _node("u7s-w2", {})]
    want = {"u7s-cp": "192.0.2.10", "u7s-w1": "192.0.2.11", "u7s-w2": "192.0.2.12"}
    assert cni.wrong_calico_address(nodes, want) == ["u7s-w1"]  # w2's calico-node has not started: nothing to do
