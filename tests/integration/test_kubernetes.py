"""A lab Kubernetes that behaves like a real one, on one lab host: real kubectl, late kubelets, failures.

kubectl in the node is the upstream binary; the API server, kubeadm, the kubelet,
flannel and helm are the lab's stand-ins (tests/lab/standins), which behave like
the real ones where u7s can see it: the Node registers after kubeadm returns, is
NotReady until flannel writes the CNI configuration, and components fail when a
switch (tests/lab/README.md) says so; u7s must cope with each as a user would need it to.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from u7s_cli import wipe_hosts

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]

NAME = "u7s-h1"
WORKDIR = ".local/share/u7s/u7s"  # the single-host working directory, /usernetes in the node
SHORT = ["U7S_TIMEOUT=25"]
CLAIM = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "default"},
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
CLAIM_USER = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "user", "namespace": "default"},
              "spec": {"containers": [{"name": "c", "image": "docker.io/library/busybox:1",
                                      "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                       "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}}  # a rerun that waits for what never comes fails in seconds, not minutes


def u7s(host, image, *args, extra=(), check=True):
    """Run `u7s ARGS` as the lab host's user over SSH with the lab node image."""
    sets = []
    for item in (f"NODE_IMAGE={image}", *extra):
        sets += ["--set", item]
    return host.ssh(["u7s", args[0], *sets, *args[1:]], check=check, timeout=900)


def kubectl(host, *args, check=True, input=None):
    """The node's real kubectl, with the node's admin.conf (KUBECONFIG of the node service)."""
    if input is not None:
        return host.docker(["exec", "-i", "u7s-node", "kubectl", *args], check=check, input=input)
    return host.docker(["exec", "u7s-node", "kubectl", *args], check=check)


def set_switch(host, name, value="", workdir=WORKDIR):
    """Turn a stand-in failure switch on from the host side (read in the node at /usernetes/.u7s-standin)."""
    host.ssh(["sh", "-c", 'mkdir -p "$1/.u7s-standin" && printf "%s\\n" "$2" >"$1/.u7s-standin/$3"',
              "sh", workdir, value, name])


def clear_switches(host, workdir=WORKDIR):
    host.ssh(["rm", "-rf", f"{workdir}/.u7s-standin"])


def node_object(host, name=NAME):
    r = kubectl(host, "get", "node", name, "-o", "json", check=False)
    return json.loads(r.stdout) if r.returncode == 0 else None


def ready(obj):
    return next((c for c in (obj or {}).get("status", {}).get("conditions", []) if c["type"] == "Ready"), {})


def poll(what, check, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def helm_status(host):
    r = host.docker(["exec", "u7s-node", "helm", "status", "flannel", "-n", "kube-flannel", "-o", "json"],
                    check=False)
    return json.loads(r.stdout)["info"]["status"] if r.returncode == 0 else None


@pytest.fixture
def node(lab, lab_host):
    """A clean single node on the first lab host, removed with its volumes and switches afterwards."""
    wipe_hosts(lab, [lab_host])
    yield lab_host
    wipe_hosts(lab, [lab_host])


def test_the_nodes_kubectl_is_the_upstream_binary_of_the_nodes_minor(lab, node):
    u7s(node, lab.node_image, "up")
    version = kubectl(node, "version", "--client").stdout
    assert version.startswith("Client Version: v1.35.")
    # As in kindest/node: kubectl of the Kubernetes minor the node's kubeadm (and so the cluster) runs.
    client = json.loads(kubectl(node, "version", "--client", "-o", "json").stdout)["clientVersion"]
    kubeadm = node.docker(["exec", "u7s-node", "kubeadm", "version", "-o", "short"]).stdout.strip()
    assert f"v{client['major']}.{client['minor']}." == kubeadm[:kubeadm.rindex(".") + 1]
    # A flag kubectl does not have fails as the real client fails, not as a stand-in would.
    bad = kubectl(node, "get", "nodes", "--no-such-flag", check=False)
    assert bad.returncode != 0 and "unknown flag: --no-such-flag" in bad.stderr


def test_a_control_plane_alone_is_not_ready_until_flannel_makes_it_ready(lab, node):
    u7s(node, lab.node_image, "up")
    u7s(node, lab.node_image, "kubeadm-init")
    obj = node_object(node)
    assert (ready(obj)["status"], ready(obj)["reason"]) == ("False", "KubeletNotReady")
    assert kubectl(node, "get", "nodes").stdout.splitlines()[1].split()[:2] == [NAME, "NotReady"]
    u7s(node, lab.node_image, "install-flannel")
    # Nothing more from u7s: flannel's pod starts, writes the CNI configuration, the kubelet reports Ready.
    obj = poll("the node to become Ready", lambda: (o := node_object(node)) and ready(o)["status"] == "True" and o)
    assert obj["metadata"]["annotations"]["flannel.alpha.coreos.com/public-ip"] == node.address
    pods = json.loads(kubectl(node, "get", "pods", "-n", "kube-flannel", "-l", "app=flannel", "-o", "json").stdout)
    assert [(p["spec"]["nodeName"], p["status"]["phase"]) for p in pods["items"]] == [(NAME, "Running")]


def test_the_cluster_survives_down_and_up(lab, node):
    u7s(node, lab.node_image, "create")
    # The default StorageClass: a claim binds when its first pod is scheduled (the provisioner's stand-in),
    # its directory in U7S_STORAGE_DIR (default WORKDIR/storage) on the host.
    kubectl(node, "create", "-f", "-", input=json.dumps(CLAIM))
    kubectl(node, "create", "-f", "-", input=json.dumps(CLAIM_USER))
    claim = poll("the claim to be Bound", lambda: (c := json.loads(kubectl(node, "get", "pvc", "data", "-o", "json")
                                                                   .stdout))["status"]["phase"] == "Bound" and c)
    folder = f"{WORKDIR}/storage/pvc-{claim['metadata']['uid']}_default_data"
    node.ssh(["sh", "-c", 'echo kept >"$1/file"', "sh", folder])  # as a pod would write it
    u7s(node, lab.node_image, "down")
    restarted = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    u7s(node, lab.node_image, "up")
    # The API server and kubelet units come back with the node's systemd; the kubelet heartbeats again.
    poll("the API to answer", lambda: kubectl(node, "get", "--raw", "/readyz", check=False).stdout == "ok")
    obj = poll("a Ready heartbeat after the restart", lambda: (o := node_object(node))
               and ready(o)["status"] == "True" and ready(o)["lastHeartbeatTime"] >= restarted and o)
    assert obj["status"]["addresses"] == [{"type": "ExternalIP", "address": node.address}]
    # The volume's data is where it was, seen from the node too; down-v takes the default directory with it.
    assert node.docker(["exec", "u7s-node", "cat", f"/var/local-path-provisioner/{folder.rsplit('/', 1)[1]}/file"]
                       ).stdout == "kept\n"
    assert kubectl(node, "get", "pvc", "data", "-o", "jsonpath={.status.phase}").stdout == "Bound"
    gone = u7s(node, lab.node_image, "down-v")
    assert "volumes removed" in gone.stderr, gone.stderr
    assert node.ssh(["test", "-e", f"{WORKDIR}/storage"], check=False).returncode == 1


def test_create_fails_naming_a_node_whose_flanneld_crash_loops_then_passes_once_it_is_fixed(lab, node):
    # install-cni writes the CNI configuration, so the kubelet says Ready; flanneld itself keeps exiting.
    set_switch(node, "flannel-crashloop")
    failed = u7s(node, lab.node_image, "create", extra=["U7S_TIMEOUT=15"], check=False)
    assert failed.returncode == 1, failed.stderr
    assert ready(node_object(node))["status"] == "True"  # what create used to take for done
    assert "timed out after 15s waiting for every node to be Ready with a working pod network" in failed.stderr
    line = next(x for x in failed.stderr.splitlines() if x.startswith(f"u7s: {NAME}: "))
    assert line.startswith(f"u7s: {NAME}: flannel pod kube-flannel-ds-")
    assert ": Running, container kube-flannel " in line and "last exit code 1 (Error)" in line
    # The last look may catch flanneld waiting in its back-off, or running again between two crashes.
    assert re.search(r"CrashLoopBackOff \(back-off \d+s restarting failed container=kube-flannel pod=kube-flannel-ds-",
                     line), line
    assert "u7s: fix: flanneld keeps exiting; `kubectl -n kube-flannel logs --previous kube-flannel-ds-" in failed.stderr
    clear_switches(node)
    again = u7s(node, lab.node_image, "create", extra=SHORT)
    # The kubelet's back-off (10 s, then 20 s) may have restarted flanneld for good before the wait began;
    # if not, the wait restarts the failing pod at its first look (tests/unit/node/test_podnet.py).
    assert re.search(r"wait-ready: every node (is|became) Ready \(u7s-h1\)", again.stderr), again.stderr
    obj = node_object(node)
    assert obj["metadata"]["annotations"]["flannel.alpha.coreos.com/public-ip"] == node.address


def test_an_api_server_slow_to_become_ready_is_waited_for(lab, node):
    set_switch(node, "apiserver-ready-delay", "12")
    r = u7s(node, lab.node_image, "create")
    assert "kubeadm-init" in r.stderr and "install-flannel" in r.stderr
    assert ready(node_object(node))["status"] == "True"


def test_a_failed_kubeadm_init_is_not_taken_for_an_initialised_cluster(lab, node):
    set_switch(node, "kubeadm-init-fails")
    u7s(node, lab.node_image, "up")
    failed = u7s(node, lab.node_image, "kubeadm-init", check=False)
    assert failed.returncode != 0
    # What kubeadm leaves behind when its control plane never answers: admin.conf, and no API.
    assert node.docker(["exec", "u7s-node", "test", "-f", "/etc/kubernetes/admin.conf"]).returncode == 0
    assert kubectl(node, "get", "--raw", "/livez", "--request-timeout=5s", check=False).returncode != 0
    assert failed.returncode != 0 and "wait-control-plane" in failed.stderr
    assert "u7s kubeadm-reset" in failed.stderr
    clear_switches(node)
    # admin.conf is there, the API is not: u7s waits for it, then says what happened and how to recover.
    again = u7s(node, lab.node_image, "kubeadm-init", extra=["U7S_TIMEOUT=10"], check=False)
    assert again.returncode == 1
    assert "already initialised" not in again.stderr
    assert "admin.conf exists but the API server did not answer within 10s" in again.stderr
    assert "run `u7s kubeadm-reset`, then `u7s kubeadm-init` again" in again.stderr
    u7s(node, lab.node_image, "kubeadm-reset")
    u7s(node, lab.node_image, "kubeadm-init")
    assert kubectl(node, "get", "--raw", "/readyz").stdout == "ok"


def test_a_kubelet_that_never_registers_fails_init_where_kubeadm_fails(lab, node):
    set_switch(node, "kubelet-register-delay", "never")
    set_switch(node, "kubeadm-api-timeout", "8")  # kubeadm's timeouts.kubernetesAPICall: 1m by default
    r = u7s(node, lab.node_image, "create", extra=["U7S_TIMEOUT=15"], check=False)
    assert r.returncode == 1
    assert "kubeadm init failed: error execution phase mark-control-plane" in r.stderr
    assert not r.stdout.strip()  # create did not claim a working cluster


@pytest.mark.parametrize("switch,state", [("helm-install-fails", "failed"), ("helm-install-pending", "pending-install")])
def test_a_broken_flannel_release_is_repaired_by_running_create_again(lab, node, switch, state):
    set_switch(node, switch)
    first = u7s(node, lab.node_image, "create", check=False)
    assert first.returncode != 0
    assert helm_status(node) == state
    clear_switches(node)
    again = u7s(node, lab.node_image, "create", extra=SHORT, check=False)
    assert "flannel already installed" not in again.stderr
    assert again.returncode == 0, again.stderr
    assert f"flannel release was {state}: reinstalled" in again.stderr
    assert helm_status(node) == "deployed"
    assert ready(node_object(node))["status"] == "True"
