"""Flannel's release states and public addresses, against a scripted node."""

import io
import json

import pytest

from u7s.node import flannel
from u7s.errors import U7sError
from u7s.node.container import Node
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import FakeHost, make_settings


def scripted(state=None, port=8472):
    host = FakeHost()
    node = Node(host, make_settings(PORT_FLANNEL=port), Reporter(stream=io.StringIO()))
    host.on("docker", "exec", stdout="")
    if state is None:
        host.on("docker", "exec", contains="status", exited=1, stderr="Error: release: not found")
    else:
        host.on("docker", "exec", contains="status",
                stdout=json.dumps({"name": "flannel", "info": {"status": state}, "version": 1}))
    return node, host


def in_node(host, tool):
    return [argv[argv.index("u7s-node") + 1:] for argv in host.calls if tool in argv]


@pytest.mark.parametrize("text, state", [
    ('{"info": {"status": "deployed"}}', "deployed"),
    ('{"info": {"status": "pending-install"}}', "pending-install"),
])
def test_parse_release_state(text, state):
    assert flannel.parse_release_state(text) == state


@pytest.mark.parametrize("text", ["", "STATUS: deployed", "{}", '{"info": {}}', '{"info": {"status": ""}}'])
def test_parse_release_state_refuses_what_is_not_helms_json(text):
    with pytest.raises(U7sError, match="no release state"):
        flannel.parse_release_state(text)


def test_a_deployed_release_is_left_alone():
    node, host = scripted("deployed")
    assert flannel.install(node) is None
    assert in_node(host, "helm") == [["helm", "status", "flannel", "--namespace", "kube-flannel", "-o", "json"]]


UPGRADE = ["helm", "upgrade", "--install", "flannel", "/flannel", "--namespace", "kube-flannel",
           "--set-json", "flannel.backendPort=9072", "--set-json", "podCidr=\"10.244.0.0/16\""]


def test_no_release_is_installed_with_port_flannel():
    node, host = scripted(None, port=9072)
    assert flannel.install(node) == "flannel installed (VXLAN on UDP 9072)"
    assert in_node(host, "helm")[-1] == UPGRADE
    assert ["kubectl", "label", "namespace", "kube-flannel", "--overwrite",
            "pod-security.kubernetes.io/enforce=privileged"] in in_node(host, "kubectl")


def test_a_failed_release_is_not_installed_it_is_upgraded_and_said_so():
    node, host = scripted("failed", port=9072)
    assert flannel.install(node) == "flannel release was failed: reinstalled (VXLAN on UDP 9072)"
    assert in_node(host, "helm")[1:] == [UPGRADE]


def test_a_pending_release_is_removed_first_since_helm_refuses_to_upgrade_it():
    node, host = scripted("pending-install", port=9072)
    assert "was pending-install" in flannel.install(node)
    assert in_node(host, "helm")[1:] == [["helm", "uninstall", "flannel", "--namespace", "kube-flannel"], UPGRADE]


def test_wrong_public_ip_compares_what_flannel_uses_with_the_host_ip_label():
    def obj(name, label, used):
        meta = {"name": name, "labels": {"usernetes/host-ip": label} if label else {}}
        if used:
            meta["annotations"] = {flannel.PUBLIC_IP_IN_USE: used}
        return {"metadata": meta}

    nodes = [obj("a", "192.0.2.1", "192.0.2.1"), obj("b", "192.0.2.2", "10.100.7.100"),
             obj("c", "192.0.2.3", None), obj("d", None, "10.0.0.1")]
    assert flannel.wrong_public_ip(nodes) == {"b": "10.100.7.100"}


def test_restart_deletes_only_the_pods_on_the_nodes_named():
    node, host = scripted("deployed")
    pods = {"items": [
        {"metadata": {"name": "kube-flannel-ds-aaaaa"}, "spec": {"nodeName": "u7s-a"}},
        {"metadata": {"name": "kube-flannel-ds-bbbbb"}, "spec": {"nodeName": "u7s-b"}},
    ]}
    host.on("docker", "exec", contains="pods", stdout=json.dumps(pods))
    assert flannel.restart_pods(node, ["u7s-b", "u7s-c"]) == ["u7s-b"]
    assert in_node(host, "kubectl")[-1] == ["kubectl", "delete", "pod", "--namespace", "kube-flannel",
                                             "--wait=false", "--ignore-not-found", "kube-flannel-ds-bbbbb"]
    assert flannel.restart_pods(node, []) == []
