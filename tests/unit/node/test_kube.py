"""Kubernetes steps: the pure parsers and planners, then a few actions against a scripted node."""

import io
import json

import pytest
import yaml

from u7s.node import externalip, kube
from u7s.errors import U7sError
from u7s.node.container import Node
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import FakeHost, make_settings

TOKEN = "abcdef.0123456789abcdef"
SECRET = TOKEN.split(".")[1]
HASH = "sha256:" + "3f" * 32
# What `kubeadm token create --print-join-command` prints (note its trailing space).
PRINTED = f"kubeadm join u7s-host1:6443 --token {TOKEN} --discovery-token-ca-cert-hash {HASH} \n"
ARGV = ["kubeadm", "join", "u7s-host1:6443", "--token", TOKEN, "--discovery-token-ca-cert-hash", HASH]


# -- parse_join_command --------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    PRINTED,
    PRINTED.replace("\n", "\r\n"),
    PRINTED.strip(),
    f"kubeadm join 192.0.2.10:8080 --token={TOKEN} --discovery-token-ca-cert-hash={HASH}",
])
def test_parse_join_command_accepts_what_kubeadm_prints(text):
    argv = kube.parse_join_command(text)
    assert argv[:3] == ["kubeadm", "join", argv[2]]
    assert TOKEN in " ".join(argv) and HASH in " ".join(argv)
    if "=" not in text:
        assert argv == ARGV


def test_parse_join_command_keeps_extra_options():
    argv = kube.parse_join_command(PRINTED.strip() + " --control-plane --certificate-key " + "ab" * 32)
    assert argv == ARGV + ["--control-plane", "--certificate-key", "ab" * 32]


@pytest.mark.parametrize("text, reason", [
    ("", "unexpected join command"),
    ("kubeadm init --token x", "unexpected join command"),
    (f"kubeadm join --token {TOKEN} --discovery-token-ca-cert-hash {HASH}", "unexpected join command"),
    (f"kubeadm join https://u7s-host1:6443 --token {TOKEN} --discovery-token-ca-cert-hash {HASH}",
     "unexpected join command"),
    (f"kubeadm join u7s-host1:6443 --token {TOKEN.upper()} --discovery-token-ca-cert-hash {HASH}", "no valid --token"),
    (f"kubeadm join u7s-host1:6443 --token {TOKEN}x --discovery-token-ca-cert-hash {HASH}", "no valid --token"),
    (f"kubeadm join u7s-host1:6443 --discovery-token-ca-cert-hash {HASH}", "no valid --token"),
    (f"kubeadm join u7s-host1:6443 --token {TOKEN} --discovery-token-ca-cert-hash sha256:abc", "ca-cert-hash"),
    (f"kubeadm join u7s-host1:6443 --token {TOKEN} --discovery-token-ca-cert-hash md5:{'0' * 64}", "ca-cert-hash"),
    (f"kubeadm join u7s-host1:6443 --token {TOKEN} --discovery-token-ca-cert-hash {HASH}; id", "unexpected"),
    (f"kubeadm join u7s-host1:6443 --token {TOKEN} --discovery-token-ca-cert-hash {HASH} && id", "unexpected"),
    (f"kubeadm join u7s-host1:6443 --token {TOKEN} --discovery-token-ca-cert-hash {HASH} junk", "unexpected"),
    # a token in the wrong place is junk too, and must not be echoed back
    (f"kubeadm join u7s-host1:6443 {TOKEN} --discovery-token-ca-cert-hash {HASH}", "unexpected"),
    (f"kubeadm join u7s-host1:6443 --token {TOKEN} --discovery-token-ca-cert-hash {HASH} 'oops", "unexpected"),
    (f"kubeadm join u7s-host1:6443 --token '{TOKEN} --discovery-token-ca-cert-hash {HASH}", "unexpected"),
])
def test_parse_join_command_rejects_anything_else_without_leaking_the_token(text, reason):
    with pytest.raises(U7sError) as caught:
        kube.parse_join_command(text)
    message = str(caught.value)
    assert reason in message
    for start in range(len(SECRET) - 5):
        assert SECRET[start:start + 6] not in message, message


# -- plan_external_ips ---------------------------------------------------------------------
def node_obj(name, label=None, addresses=None, annotation=None, taints=None):
    meta = {"name": name, "labels": {"kubernetes.io/hostname": name}}
    if label:
        meta["labels"][externalip.HOST_IP_LABEL] = label
    if annotation:
        meta["annotations"] = {externalip.PUBLIC_IP_ANNOTATION: annotation}
    return {
        "metadata": meta,
        "spec": {"taints": taints} if taints is not None else {},
        "status": {"addresses": addresses or []},
    }


IN_SYNC = node_obj("u7s-a", "192.0.2.10", [{"type": "ExternalIP", "address": "192.0.2.10"}], "192.0.2.10")


def test_plan_in_sync_changes_nothing():
    (plan,) = externalip.plan_external_ips([IN_SYNC])
    assert plan == externalip.ExternalIpPlan("u7s-a", "192.0.2.10", False, False, False, False, "192.0.2.10")
    assert plan.changes == []


def test_plan_fresh_node_needs_everything():
    fresh = node_obj("u7s-b", "192.0.2.20",
                     addresses=[{"type": "InternalIP", "address": "10.100.1.100"}, {"type": "Hostname", "address": "u7s-b"}],
                     taints=[{"key": externalip.UNINITIALIZED_TAINT, "value": "true", "effect": "NoSchedule"}])
    (plan,) = externalip.plan_external_ips([fresh])
    assert (plan.set_address, plan.set_annotation, plan.remove_taint) == (True, True, True)
    assert plan.changes == [
        "ExternalIP 192.0.2.20",
        "annotation flannel.alpha.coreos.com/public-ip-overwrite",
        "taint node.cloudprovider.kubernetes.io/uninitialized removed",
    ]


@pytest.mark.parametrize("obj, expected", [
    (node_obj("n", "192.0.2.10", [], "192.0.2.10"), (True, False, False)),
    (node_obj("n", "192.0.2.10", [{"type": "ExternalIP", "address": "192.0.2.99"}], "192.0.2.10"), (True, False, False)),
    (node_obj("n", "192.0.2.10", [{"type": "ExternalIP", "address": "192.0.2.10"}], "192.0.2.99"), (False, True, False)),
    (node_obj("n", "192.0.2.10", [{"type": "ExternalIP", "address": "192.0.2.10"}], "192.0.2.10",
              taints=[{"key": externalip.UNINITIALIZED_TAINT, "effect": "NoSchedule"}]), (False, False, True)),
    (node_obj("n", "192.0.2.10", [{"type": "ExternalIP", "address": "192.0.2.10"}], "192.0.2.10",
              taints=[{"key": externalip.CONTROL_PLANE_TAINT, "effect": "NoSchedule"}]), (False, False, False)),
])
def test_plan_each_difference(obj, expected):
    (plan,) = externalip.plan_external_ips([obj])
    assert (plan.set_address, plan.set_annotation, plan.remove_taint) == expected


def test_plan_node_without_label_is_left_alone():
    unlabelled = node_obj("u7s-c", taints=[{"key": externalip.UNINITIALIZED_TAINT}])
    (plan,) = externalip.plan_external_ips([unlabelled])
    assert plan.host_ip is None and plan.changes == []


# -- node readiness and kubeconfig ---------------------------------------------------------
@pytest.mark.parametrize("conditions, ready", [
    ([{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}], True),
    ([{"type": "Ready", "status": "False"}], False),
    ([{"type": "Ready", "status": "Unknown"}], False),
    ([], False),
])
def test_node_is_ready(conditions, ready):
    assert kube.node_is_ready({"status": {"conditions": conditions}}) is ready
    assert kube.node_is_ready({}) is False


KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: Q0EK
    server: https://u7s-host1:6443
  name: kubernetes
- cluster:
    server: https://old:1
  name: other
contexts:
- context: {cluster: kubernetes, user: kubernetes-admin}
  name: kubernetes-admin@kubernetes
current-context: kubernetes-admin@kubernetes
users:
- name: kubernetes-admin
  user: {client-certificate-data: Q0VSVAo=, client-key-data: S0VZCg==}
"""


def test_rewrite_server_points_every_cluster_at_the_new_server():
    out = yaml.safe_load(kube.rewrite_server(yaml.safe_load(KUBECONFIG), "https://127.0.0.1:8080"))
    assert [c["cluster"]["server"] for c in out["clusters"]] == ["https://127.0.0.1:8080"] * 2
    assert out["clusters"][0]["cluster"]["certificate-authority-data"] == "Q0EK"
    assert out["users"] == yaml.safe_load(KUBECONFIG)["users"]
    assert out["current-context"] == "kubernetes-admin@kubernetes"


# -- actions against a scripted node -------------------------------------------------------
def scripted_node():
    s = make_settings()
    host = FakeHost()
    return Node(host, s, Reporter(stream=io.StringIO())), host


def kubectl_calls(host):
    return [argv[argv.index("u7s-node") + 1:] for argv in host.calls if "kubectl" in argv]


def test_sync_external_ip_changes_only_what_differs():
    node, host = scripted_node()
    fresh = node_obj("u7s-b", "192.0.2.20", taints=[{"key": externalip.UNINITIALIZED_TAINT}])
    host.on("docker", "exec", contains="kubectl", stdout="")
    plans = externalip.sync_external_ip(node, [IN_SYNC, fresh])
    assert [p.node for p in plans] == ["u7s-a", "u7s-b"]
    assert kubectl_calls(host) == [
        ["kubectl", "patch", "node", "u7s-b", "--subresource=status", "--type=merge",
         "-p", json.dumps({"status": {"addresses": [{"type": "ExternalIP", "address": "192.0.2.20"}]}})],
        ["kubectl", "annotate", "node", "u7s-b", "--overwrite", f"{externalip.PUBLIC_IP_ANNOTATION}=192.0.2.20"],
        ["kubectl", "taint", "node", "u7s-b", f"{externalip.UNINITIALIZED_TAINT}-"],
    ]


def test_create_join_command_validates_kubeadms_output():
    node, host = scripted_node()
    host.on("docker", "exec", contains="token", stdout=PRINTED.replace("\n", "\r\n"))
    assert kube.create_join_command(node, ttl="30m") == ARGV
    assert host.calls[0][-6:] == ["kubeadm", "token", "create", "--print-join-command", "--ttl", "30m"]


# -- readiness -----------------------------------------------------------------------------
NOT_READY = {"metadata": {"name": "u7s-b"}, "status": {"conditions": [{
    "type": "Ready", "status": "False", "reason": "KubeletNotReady",
    "message": "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
               "message:Network plugin returns error: cni plugin not initialized"}]}}
READY = {"metadata": {"name": "u7s-a"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def test_a_node_that_is_not_ready_is_told_by_its_ready_condition():
    assert kube.not_ready_reason(NOT_READY) == (
        "Ready=False (KubeletNotReady: container runtime network not ready: NetworkReady=false "
        "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized)")
    assert kube.node_is_ready(READY) and not kube.node_is_ready(NOT_READY)
    assert kube.not_ready_reason({"metadata": {"name": "x"}}) == "no Ready condition yet"


def test_an_admin_conf_whose_api_never_answers_is_not_initialised():
    from u7s.steps import lifecycle

    s = make_settings(U7S_TIMEOUT=1, U7S_WORKDIR="/w")
    host = FakeHost()
    node = Node(host, s, Reporter(stream=io.StringIO()))
    host.on("docker", "inspect", stdout='{"Status":"running","Running":true}')
    host.on("docker", "exec", contains="test", stdout="")  # admin.conf exists
    host.on("docker", "exec", contains="kubectl", exited=1, stderr="connection refused")
    with pytest.raises(kube.HalfInitialised, match="kubeadm-reset"):
        lifecycle.kubeadm_init(node)
    assert not any("init" in argv for argv in host.calls if "kubeadm" in argv)


def test_kubeadm_error_names_the_failed_phase_not_the_stack_trace_hint():
    from u7s.run.hosts import Result

    stderr = ("[kubelet-check] The kubelet is healthy\nerror execution phase wait-control-plane: "
              "could not initialize a Kubernetes cluster\nTo see the stack trace of this error execute with --v=5 or higher\n")
    assert kube.kubeadm_error(Result(1, "", stderr)) == (
        "error execution phase wait-control-plane: could not initialize a Kubernetes cluster")
    assert kube.kubeadm_error(Result(1, "", "boom\n")) == "boom"
    assert kube.kubeadm_error(Result(2, "", "")) == "exit 2"
