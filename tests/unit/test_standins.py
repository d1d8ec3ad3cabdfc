"""Test the lab's kubeadm/kubectl/helm stand-ins as subprocesses, under a temporary root.

U7S_STANDIN_ROOT points every absolute path of the stand-ins into tmp_path; the API
stand-in runs as a background process on a free 127.0.0.1 port. No systemd, no engine.
"""

import json
import os
import socket
import subprocess
import sys
import time

import pytest
import yaml
from standin_nodes import (
    CP, CP_HOST_IP, PUBLIC_IP, STANDINS, UNINITIALIZED, WORKER, WORKER_HOST_IP, Node,
    free_port, kubeadm_config_docs, make_node_root, node_env, stop_apiserver)


@pytest.fixture
def cp_node(tmp_path):
    port = free_port()
    node = Node(make_node_root(tmp_path / "cp", CP, CP_HOST_IP), node_env(CP, CP_HOST_IP, "10.100.1.100", port))
    yield node
    node.run("kubeadm", "reset", "--force", ok=None)
    stop_apiserver(node)


@pytest.fixture
def cluster(cp_node):
    path = cp_node.write_config(kubeadm_config_docs(cp_node.env))
    cp_node.run("kubeadm", "init", "--config", path, "--skip-token-print")
    return cp_node


@pytest.fixture
def worker(tmp_path, cluster):
    hosts = f"127.0.0.1 {CP}\n"  # what the join script appends from /etc/hosts.u7s (here: loopback)
    root = make_node_root(tmp_path / "worker", WORKER, WORKER_HOST_IP, hosts)
    return Node(root, node_env(WORKER, WORKER_HOST_IP, "10.100.2.100", cluster.env["PORT_KUBE_APISERVER"]))


def join_command(cluster, *ttl):
    out = cluster.run("kubeadm", "token", "create", "--print-join-command", *ttl).stdout
    assert out.endswith(" \n")  # real kubeadm's trailing space, kept to keep callers honest
    return out.strip().split()


# ---------------------------------------------------------------- kubeadm init

def test_init_accepts_the_reference_config_and_starts_the_api(cluster):
    admin = cluster.root / "etc/kubernetes/admin.conf"
    assert admin.stat().st_mode & 0o777 == 0o600
    kubeconfig = yaml.safe_load(admin.read_text())
    assert kubeconfig["clusters"][0]["cluster"]["server"] == f"https://{CP}:{cluster.env['PORT_KUBE_APISERVER']}"
    assert kubeconfig["current-context"] == "kubernetes-admin@kubernetes"
    assert cluster.run("kubectl", "get", "--raw", "/readyz").stdout == "ok\n"
    node = cluster.kubectl_json("node", CP)
    assert node["kind"] == "Node"
    assert node["metadata"]["labels"]["usernetes/host-ip"] == CP_HOST_IP
    assert node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] == ""
    assert {t["key"] for t in node["spec"]["taints"]} == {
        "node-role.kubernetes.io/control-plane", "node.cloudprovider.kubernetes.io/uninitialized"}
    assert {"type": "InternalIP", "address": "10.100.1.100"} in node["status"]["addresses"]
    ready = node["status"]["conditions"][0]
    assert (ready["type"], ready["status"]) == ("Ready", "True")
    init_call = next(c for c in cluster.calls() if c["argv"][:1] == ["init"])
    assert init_call["prog"] == "kubeadm" and init_call["rc"] == 0
    assert init_call["env"]["PORT_KUBE_APISERVER"] == cluster.env["PORT_KUBE_APISERVER"]


def _mutate(docs, kind, path, value):
    doc = next(d for d in docs if d["kind"] == kind)
    *parents, last = path.split(".")
    for part in parents:
        doc = doc[part]
    doc[last] = value


INVALID_CONFIGS = [
    ("ClusterConfiguration", "apiServer.extraArgs", {"secure-port": "6443"},
     "ClusterConfiguration.apiServer.extraArgs: is a mapping"),
    ("ClusterConfiguration", "networking.podSubnet", "10.245.0.0/16", "ClusterConfiguration.networking.podSubnet"),
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


def test_reset_stops_the_api_and_is_idempotent(cluster):
    cluster.run("kubeadm", "reset", "--force")
    cluster.run("kubeadm", "reset", "--force")
    assert not (cluster.root / "etc/kubernetes/admin.conf").exists()
    assert not (cluster.root / "var/lib/u7s-standin/nodes.json").exists()
    assert "localhost:8080 was refused" in cluster.run("kubectl", "get", "nodes", ok=False).stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(cluster.env["PORT_KUBE_APISERVER"])), timeout=1).close()


def test_init_under_systemd_installs_a_unit_enabled_for_the_next_boot(cp_node, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "systemctl.log"
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "$*" >>{log}\n')
    (bin_dir / "systemctl").chmod(0o755)
    port = cp_node.env["PORT_KUBE_APISERVER"]
    # The fake systemctl starts nothing: the test runs the API stand-in the unit would run.
    server = subprocess.Popen([sys.executable, str(STANDINS / "u7s-standin-apiserver"), "--port", port,
                               "--address", "127.0.0.1"], env=cp_node.process_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    systemd = {"U7S_STANDIN_APISERVER_MODE": "systemd", "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    try:
        path = cp_node.write_config(kubeadm_config_docs(cp_node.env))
        cp_node.run("kubeadm", "init", "--config", path, "--skip-token-print", extra_env=systemd)
        unit = cp_node.root / "etc/systemd/system/u7s-standin-apiserver.service"
        assert f"--port {port} " in unit.read_text() and "WantedBy=multi-user.target" in unit.read_text()
        link = cp_node.root / "etc/systemd/system/multi-user.target.wants/u7s-standin-apiserver.service"
        assert os.readlink(link) == "/etc/systemd/system/u7s-standin-apiserver.service"
        assert log.read_text().splitlines() == ["daemon-reload", "restart u7s-standin-apiserver.service"]
        cp_node.run("kubeadm", "reset", "--force", extra_env=systemd)
        assert not unit.exists() and not os.path.lexists(link)
        assert "stop u7s-standin-apiserver.service" in log.read_text().splitlines()
    finally:
        server.terminate()
        server.wait(timeout=10)


# ---------------------------------------------------------------- token and join

def test_token_join_round_trip_through_the_api(cluster, worker):
    command = join_command(cluster)
    assert command[:2] == ["kubeadm", "join"] and command[2] == f"{CP}:{cluster.env['PORT_KUBE_APISERVER']}"
    assert command[-1].startswith("sha256:") and len(command[-1]) == len("sha256:") + 64
    result = worker.run("kubeadm", *command[1:])
    assert "joined the cluster" in result.stdout
    assert (worker.root / "etc/kubernetes/kubelet.conf").stat().st_mode & 0o777 == 0o600
    node = cluster.kubectl_json("node", WORKER)
    assert node["metadata"]["labels"]["usernetes/host-ip"] == WORKER_HOST_IP
    assert node["metadata"]["annotations"]["u7s-standin/registered-from"] == "127.0.0.1"
    assert node["spec"]["taints"] == [
        {"key": "node.cloudprovider.kubernetes.io/uninitialized", "value": "true", "effect": "NoSchedule"}]
    assert {n["metadata"]["name"] for n in cluster.kubectl_json("nodes")["items"]} == {CP, WORKER}
    again = worker.run("kubeadm", *command[1:], ok=False)
    assert "[ERROR FileAvailable--etc-kubernetes-kubelet.conf]" in again.stderr


def test_join_rejects_a_wrong_token_a_wrong_hash_and_an_expired_token(cluster, worker):
    command = join_command(cluster)
    wrong_token = [w if i != 4 else "abcdef.0123456789abcdef" for i, w in enumerate(command)]
    stderr = worker.run("kubeadm", *wrong_token[1:], ok=False).stderr
    assert "HTTP 403" in stderr and "token is not known" in stderr
    wrong_hash = command[:-1] + ["sha256:" + "0" * 64]
    assert "does not match" in worker.run("kubeadm", *wrong_hash[1:], ok=False).stderr
    expired = join_command(cluster, "--ttl", "1ms")
    time.sleep(0.01)
    assert "expired" in worker.run("kubeadm", *expired[1:], ok=False).stderr
    assert not (worker.root / "etc/kubernetes/kubelet.conf").exists()
    assert WORKER not in cluster.state("nodes.json")
    registrations = (cluster.root / "var/lib/u7s-standin/registrations.jsonl").read_text()
    assert [json.loads(line)["status"] for line in registrations.splitlines()] == [403, 403, 403]
    assert command[4] not in registrations and expired[4] not in registrations  # tokens stay secret


def test_join_resolves_the_control_plane_only_through_etc_hosts(cluster, worker):
    command = join_command(cluster)
    (worker.root / "etc/hosts").write_text(f"127.0.0.1 localhost\n127.0.0.1 {WORKER}\n")
    stderr = worker.run("kubeadm", *command[1:], ok=False).stderr
    assert f"cannot resolve '{CP}'" in stderr and "/etc/hosts" in stderr


def test_join_validates_the_formats(worker):
    stderr = worker.run("kubeadm", "join", f"{CP}:6443", "--token", "short",
                        "--discovery-token-ca-cert-hash", "sha256:" + "a" * 64, ok=False).stderr
    assert "--token" in stderr and "short" not in stderr  # a token is a secret: never echoed
    stderr = worker.run("kubeadm", "join", f"{CP}:6443", "--token", "abcdef.0123456789abcdef",
                        "--discovery-token-ca-cert-hash", "md5:aa", ok=False).stderr
    assert "--discovery-token-ca-cert-hash" in stderr


def test_token_create_needs_admin_conf(cp_node):
    assert "failed to load admin kubeconfig" in cp_node.run("kubeadm", "token", "create", ok=False).stderr


# ---------------------------------------------------------------- kubectl

def sync_external_ips(cluster):
    """Do what the reference's sync-external-ip does, for every node."""
    for node in cluster.kubectl_json("nodes")["items"]:
        name, host_ip = node["metadata"]["name"], node["metadata"]["labels"]["usernetes/host-ip"]
        patch = json.dumps({"status": {"addresses": [{"type": "ExternalIP", "address": host_ip}]}})
        out = cluster.run("kubectl", "patch", "node", name, "--subresource=status", "--type=merge", "-p", patch)
        assert out.stdout.startswith(f"node/{name} patched")
        cluster.run("kubectl", "annotate", "node", name, "--overwrite",
                    f"flannel.alpha.coreos.com/public-ip-overwrite={host_ip}")
        taints = [t["key"] for t in node["spec"].get("taints", [])]
        if "node.cloudprovider.kubernetes.io/uninitialized" in taints:
            cluster.run("kubectl", "taint", "node", name, "node.cloudprovider.kubernetes.io/uninitialized-")


def test_patch_annotate_and_taint_nodes(cluster):
    sync_external_ips(cluster)
    node = cluster.kubectl_json("node", CP)
    assert node["status"]["addresses"] == [{"type": "ExternalIP", "address": CP_HOST_IP}]
    assert node["metadata"]["annotations"]["flannel.alpha.coreos.com/public-ip-overwrite"] == CP_HOST_IP
    assert [t["key"] for t in node["spec"]["taints"]] == ["node-role.kubernetes.io/control-plane"]
    again = cluster.run("kubectl", "taint", "node", CP, f"{UNINITIALIZED}-", ok=False)
    assert 'taint "node.cloudprovider.kubernetes.io/uninitialized" not found' in again.stderr
    out = cluster.run("kubectl", "taint", "nodes", "--all", "node-role.kubernetes.io/control-plane:NoSchedule-")
    assert out.stdout == f"node/{CP} untainted\n"
    cluster.run("kubectl", "annotate", "node", CP, f"{PUBLIC_IP}-")
    assert PUBLIC_IP not in cluster.kubectl_json("node", CP)["metadata"]["annotations"]
    refused = cluster.run("kubectl", "label", "node", CP, "usernetes/host-ip=1.2.3.4", ok=False)
    assert "--overwrite is false" in refused.stderr
    bad = cluster.run("kubectl", "patch", "node", CP, "--subresource", "status", "--type", "merge",
                      "--patch", '{"status": {"addresses": [{"type": "Bogus", "address": "x"}]}}', ok=False)
    assert "is invalid" in bad.stderr


def test_kubectl_errors_like_the_real_one(cluster):
    missing = cluster.run("kubectl", "get", "node", "nope", "-o", "json", ok=False)
    assert missing.stderr.strip() == 'Error from server (NotFound): nodes "nope" not found'
    assert "unsupported by the stand-in" in cluster.run("kubectl", "drain", CP, ok=False).stderr
    no_config = cluster.run("kubectl", "get", "nodes", extra_env={"KUBECONFIG": "/nowhere"}, ok=False)
    assert "connection to the server localhost:8080 was refused" in no_config.stderr
    assert cluster.run("kubectl", "version", "--client").stdout.startswith("Client Version:")


def test_namespaces(cluster):
    created = cluster.run("kubectl", "create", "namespace", "kube-flannel")
    assert created.stdout == "namespace/kube-flannel created\n"
    exists = cluster.run("kubectl", "create", "namespace", "kube-flannel", ok=False)
    assert "(AlreadyExists)" in exists.stderr
    got = cluster.run("kubectl", "get", "namespace", "kube-flannel", "-o", "name")
    assert got.stdout == "namespace/kube-flannel\n"
    assert "(NotFound)" in cluster.run("kubectl", "get", "namespace", "nope", "-o", "name", ok=False).stderr
    cluster.run("kubectl", "label", "namespace", "kube-flannel", "--overwrite",
                "pod-security.kubernetes.io/enforce=privileged")
    labels = cluster.kubectl_json("namespace", "kube-flannel")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"


# ---------------------------------------------------------------- helm

FLANNEL = ("install", "flannel", "--namespace", "kube-flannel",
           "--set-json", "flannel.backendPort=8472", "/flannel")


def test_helm_refuses_flannel_until_external_ips_are_synced(cluster, worker):
    worker.run("kubeadm", *join_command(cluster)[1:])
    assert cluster.run("helm", "status", "flannel", "-n", "kube-flannel", ok=False).stderr.strip() == \
        "Error: release: not found"
    stderr = cluster.run("helm", *FLANNEL, ok=False).stderr
    assert "namespace kube-flannel does not exist" in stderr
    cluster.run("kubectl", "create", "namespace", "kube-flannel")
    cluster.run("kubectl", "label", "namespace", "kube-flannel", "--overwrite",
                "pod-security.kubernetes.io/enforce=privileged")
    stderr = cluster.run("helm", *FLANNEL, ok=False).stderr
    for name in (CP, WORKER):
        assert f"node {name}: annotation flannel.alpha.coreos.com/public-ip-overwrite" in stderr
        assert f"node {name}: status.addresses has no ExternalIP" in stderr
    sync_external_ips(cluster)
    wrong_port = cluster.run("helm", *FLANNEL, extra_env={"PORT_FLANNEL": "9072"}, ok=False)
    assert "flannel.backendPort: want 9072" in wrong_port.stderr
    assert "STATUS: deployed" in cluster.run("helm", *FLANNEL).stdout
    assert "cannot re-use a name that is still in use" in cluster.run("helm", *FLANNEL, ok=False).stderr
    assert cluster.run("helm", "list", "--namespace", "kube-flannel", "-q").stdout == "flannel\n"
    assert cluster.run("helm", "status", "flannel", "--namespace", "kube-flannel").returncode == 0
    cluster.run("helm", "uninstall", "flannel", "--namespace", "kube-flannel")
    assert cluster.run("helm", "list", "-n", "kube-flannel", "-q").stdout == ""


def test_every_call_is_logged_and_unsupported_commands_fail(cluster):
    result = cluster.run("kubeadm", "upgrade", "apply", ok=False)
    assert result.stderr.startswith("u7s-standin kubeadm:") and "unsupported by the stand-in" in result.stderr
    last = cluster.calls()[-1]
    assert last["prog"] == "kubeadm" and last["argv"] == ["upgrade", "apply"] and last["rc"] == 1
    assert set(last["env"]) == set(cluster.env)
    assert any(c["prog"] == "u7s-standin-apiserver" for c in cluster.calls())
