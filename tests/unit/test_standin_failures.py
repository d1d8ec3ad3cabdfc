"""The stand-ins' failure switches take the paths the real components take (tests/lab/README.md)."""

import json
import time

from tests.unit.test_standins import (  # noqa: F401 (fixtures)
    WORKER, cluster, cp_node, get_node, join_command, kubectl, kubelet_port, poll, ready_condition, worker)

HINT = "To see the stack trace of this error execute with --v=5 or higher"


def test_a_half_finished_join_leaves_what_kubeadms_preflight_refuses_until_a_reset(cluster, worker, kubectl):
    switch = worker.root / "etc/u7s-standin/kubeadm-join-fails"
    switch.write_text("")
    argv = join_command(cluster)
    failed = worker.run("kubeadm", *argv[1:], ok=False)
    assert failed.returncode == 1
    assert failed.stderr.startswith("error execution phase kubelet-start: failed while waiting for the kubelet")
    assert (worker.root / "etc/kubernetes/pki/ca.crt").is_file()
    assert (worker.root / "etc/kubernetes/kubelet.conf").is_file()
    switch.unlink()
    again = worker.run("kubeadm", *argv[1:], ok=False)
    assert again.stderr.splitlines()[:3] == [
        "error execution phase preflight: [preflight] Some fatal errors occurred:",
        "\t[ERROR FileAvailable--etc-kubernetes-kubelet.conf]: /etc/kubernetes/kubelet.conf already exists",
        "\t[ERROR FileAvailable--etc-kubernetes-pki-ca.crt]: /etc/kubernetes/pki/ca.crt already exists"]
    assert again.stderr.strip().endswith(HINT)
    worker.run("kubeadm", "reset", "--force")
    worker.run("kubeadm", *argv[1:])
    poll("the worker's Node", lambda: get_node(cluster, kubectl, WORKER))


def test_an_expired_token_is_retried_until_the_discovery_timeout(cluster, worker):
    argv = join_command(cluster, "--ttl", "1s")
    time.sleep(1.2)
    (worker.root / "etc/u7s-standin/kubeadm-discovery-timeout").write_text("2\n")
    started = time.monotonic()
    failed = worker.run("kubeadm", *argv[1:], ok=False)
    token_id = argv[argv.index("--token") + 1].split(".")[0]
    assert failed.stderr == (
        "error execution phase preflight: couldn't validate the identity of the API Server: could not find a JWS "
        f'signature in the cluster-info ConfigMap for token ID "{token_id}"\n{HINT}\n')
    assert time.monotonic() - started < 10


def test_reset_fails_in_cleanup_node_after_stopping_the_kubelet(cluster):
    (cluster.root / "etc/u7s-standin/kubeadm-reset-fails").write_text("")
    failed = cluster.run("kubeadm", "reset", "--force", ok=False)
    assert failed.stderr.startswith('error execution phase cleanup-node: failed to unmount "/var/lib/kubelet/')
    assert (cluster.root / "etc/kubernetes/admin.conf").is_file()


def test_api_outages_answer_503_or_refuse_for_their_seconds_once(cluster, kubectl):
    switch = cluster.root / "etc/u7s-standin/apiserver-outage"
    switch.write_text("503 1.5 after GET /api/v1/nodes\n")
    assert cluster.kubectl(kubectl, "get", "namespaces", "-o", "name").returncode == 0  # not the trigger
    down = cluster.kubectl(kubectl, "get", "nodes", ok=False)
    assert "(ServiceUnavailable)" in down.stderr
    poll("the API back", lambda: cluster.kubectl(kubectl, "get", "nodes", ok=None).returncode == 0)
    assert cluster.kubectl(kubectl, "get", "nodes", ok=None).returncode == 0  # played once
    switch.write_text("refuse 1.5\n")
    down = cluster.kubectl(kubectl, "get", "nodes", ok=False)
    refused = cluster.kubectl(kubectl, "get", "nodes", ok=False)
    assert "refused" in refused.stderr, (down.stderr, refused.stderr)
    poll("the API back", lambda: cluster.kubectl(kubectl, "get", "nodes", ok=None).returncode == 0)


def test_the_kubelet_reports_kubeletnotready_and_the_switch_takes_a_ready_node_down(cluster, kubectl):
    from tests.unit.test_standins import CP

    node = poll("the Node", lambda: get_node(cluster, kubectl, CP))
    ready = ready_condition(node)
    assert (ready["status"], ready["reason"]) == ("False", "KubeletNotReady")
    assert ready["message"] == ("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
                                "message:Network plugin returns error: cni plugin not initialized")
    (cluster.root / "etc/cni/net.d").mkdir(parents=True, exist_ok=True)
    (cluster.root / "etc/cni/net.d/10-flannel.conflist").write_text("{}")
    poll("Ready", lambda: ready_condition(get_node(cluster, kubectl, CP))["status"] == "True")
    (cluster.root / "etc/u7s-standin/kubelet-not-ready").write_text("")
    poll("NotReady", lambda: ready_condition(get_node(cluster, kubectl, CP))["reason"] == "KubeletNotReady")


def test_upgrade_health_fails_its_count_then_passes_and_upgrade_node_fails_in_kubelet_config(cluster, worker,
                                                                                            kubectl):
    from tests.unit.test_standins import CP

    (cluster.root / "etc/cni/net.d").mkdir(parents=True, exist_ok=True)
    (cluster.root / "etc/cni/net.d/10-flannel.conflist").write_text("{}")
    poll("Ready", lambda: ready_condition(get_node(cluster, kubectl, CP))["status"] == "True")
    (cluster.root / "etc/u7s-standin/upgrade-health-fails").write_text("2 0.2\n")
    for _ in range(2):
        failed = cluster.run("kubeadm", "upgrade", "apply", "--yes", "v1.35.0", ok=False)
        lines = failed.stderr.splitlines()
        assert lines[0] == "[preflight] Some fatal errors occurred:"
        assert lines[1].startswith('\t[ERROR CreateJob]: Job "upgrade-health-check-') and lines[1].endswith(
            '" in the namespace "kube-system" did not complete in 15s: no condition of type Complete')
        assert lines[-2:] == ["error: error execution phase preflight: preflight checks failed", HINT]
    cluster.run("kubeadm", "upgrade", "apply", "--yes", "v1.35.0")  # the count is spent
    argv = join_command(cluster)
    worker.run("kubeadm", *argv[1:])
    (worker.root / "etc/u7s-standin/upgrade-node-fails").write_text("")
    node = worker.run("kubeadm", "upgrade", "node", ok=False)
    assert node.stderr.startswith("error: error execution phase kubelet-config: error downloading kubelet "
                                  'configuration from the ConfigMap "kubelet-config": Get "https://')


def test_an_interrupted_apply_upgrades_the_control_plane_then_ends_as_killed(cluster, kubectl):
    from tests.unit.test_standins import CP

    (cluster.root / "etc/cni/net.d").mkdir(parents=True, exist_ok=True)
    (cluster.root / "etc/cni/net.d/10-flannel.conflist").write_text("{}")
    poll("Ready", lambda: ready_condition(get_node(cluster, kubectl, CP))["status"] == "True")
    (cluster.root / "etc/u7s-standin/upgrade-apply-interrupted").write_text("1\n")
    cut = cluster.run("kubeadm", "upgrade", "apply", "--yes", "v1.35.0", ok=False)
    assert cut.returncode == 137 and "SUCCESS" not in cut.stdout and cut.stderr == ""
    assert "[upgrade/staticpods] Writing new Static Pod manifests" in cut.stdout
    assert "SUCCESS" in cluster.run("kubeadm", "upgrade", "apply", "--yes", "v1.35.0").stdout  # spent


def test_the_api_server_records_a_kubelet_newer_than_itself(tmp_path, monkeypatch):
    import u7s_standin_common as common
    import u7s_standin_skew as skew

    monkeypatch.setenv(common.ROOT_ENV, str(tmp_path))
    node = {"metadata": {"name": "u7s-h2"}, "status": {"nodeInfo": {"kubeletVersion": "v1.36.0"}}}
    assert not skew.note(node, "v1.36.0") and not skew.note(node, "v1.36.1")
    assert not (tmp_path / "var/lib/u7s-standin/kubelet-skew.json").exists()
    assert skew.note(node, "v1.35.0") and skew.note(node, "v1.35.0")
    seen = json.loads((tmp_path / "var/lib/u7s-standin/kubelet-skew.json").read_text())
    assert [(r["node"], r["kubeletVersion"], r["apiserverVersion"]) for r in seen.values()] == [
        ("u7s-h2", "v1.36.0", "v1.35.0")]


def _flannel_pod(cluster, kubectl):
    pods = json.loads(cluster.kubectl(kubectl, "get", "pods", "-n", "kube-flannel", "-o", "json").stdout)["items"]
    return pods[0] if pods else None


def _waiting(status):
    return (status.get("state", {}).get("waiting") or {}).get("reason")


def test_a_crash_looping_flanneld_leaves_the_node_ready_without_its_public_ip(cluster, kubectl):
    from tests.unit.test_standins import CP, create_flannel_namespace, install_flannel

    (cluster.root / "etc/u7s-standin/flannel-crashloop").write_text("")
    create_flannel_namespace(cluster, kubectl)
    install_flannel(cluster)
    pod = poll("CrashLoopBackOff", lambda: (p := _flannel_pod(cluster, kubectl)) and p.get("status", {}).get(
        "containerStatuses") and _waiting(p["status"]["containerStatuses"][0]) == "CrashLoopBackOff" and p, timeout=20)
    main = pod["status"]["containerStatuses"][0]
    name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
    assert main["state"]["waiting"]["message"] == (
        f"back-off 10s restarting failed container=kube-flannel pod={name}_kube-flannel({uid})")
    assert main["restartCount"] >= 1 and main["ready"] is False
    assert (main["lastState"]["terminated"]["exitCode"], main["lastState"]["terminated"]["reason"]) == (1, "Error")
    assert pod["status"]["phase"] == "Running"
    assert [s["state"]["terminated"]["reason"] for s in pod["status"]["initContainerStatuses"]] == ["Completed"] * 2
    # install-cni wrote the CNI configuration: the kubelet says Ready, though flanneld never got going.
    node = poll("Ready", lambda: (n := get_node(cluster, kubectl, CP)) and ready_condition(n)["status"] == "True" and n)
    assert "flannel.alpha.coreos.com/public-ip" not in node["metadata"].get("annotations", {})
    table = cluster.kubectl(kubectl, "get", "pods", "-n", "kube-flannel").stdout.splitlines()[1].split()
    assert table[1:3] == ["0/1", "CrashLoopBackOff"]
    # The switch off, a new pod (as `kubectl delete pod` gives) starts for good.
    (cluster.root / "etc/u7s-standin/flannel-crashloop").unlink()
    cluster.kubectl(kubectl, "delete", "pod", "-n", "kube-flannel", name, "--wait=false")
    poll("flanneld's public-ip", lambda: "flannel.alpha.coreos.com/public-ip" in (
        get_node(cluster, kubectl, CP) or {}).get("metadata", {}).get("annotations", {}))
    pod = poll("Running and ready", lambda: (p := _flannel_pod(cluster, kubectl)) and p["metadata"]["uid"] != uid
               and all(s["ready"] for s in p["status"].get("containerStatuses") or [{"ready": False}]) and p)
    assert pod["status"]["phase"] == "Running"


def test_an_image_that_cannot_be_pulled_leaves_the_node_not_ready(cluster, kubectl):
    from tests.unit.test_standins import CP, create_flannel_namespace, install_flannel

    (cluster.root / "etc/u7s-standin/flannel-image-pull").write_text("")
    create_flannel_namespace(cluster, kubectl)
    install_flannel(cluster)
    seen = []

    def backing_off():
        pod = _flannel_pod(cluster, kubectl)
        statuses = (pod or {}).get("status", {}).get("initContainerStatuses") or [{}]
        seen.append(statuses[0].get("state", {}).get("waiting") or {})
        return seen[-1].get("reason") == "ImagePullBackOff" and pod

    pod = poll("ImagePullBackOff", backing_off)
    image = pod["spec"]["initContainers"][0]["image"]
    pulled = [w["message"] for w in seen if w.get("reason") == "ErrImagePull"]
    assert pulled and pulled[0].startswith(f'rpc error: code = Unknown desc = failed to pull and unpack image "{image}"')
    assert pulled[0].endswith("dial tcp: lookup ghcr.io on 127.0.0.11:53: no such host")
    first = pod["status"]["initContainerStatuses"][0]
    assert first["state"]["waiting"]["message"] == f'Back-off pulling image "{image}"'
    assert pod["status"]["phase"] == "Pending"
    assert _waiting(pod["status"]["containerStatuses"][0]) == "PodInitializing"
    assert not (cluster.root / "etc/cni/net.d/10-flannel.conflist").exists()
    assert ready_condition(get_node(cluster, kubectl, CP))["status"] == "False"
    table = cluster.kubectl(kubectl, "get", "pods", "-n", "kube-flannel").stdout.splitlines()[1].split()
    assert table[1:3] == ["0/1", "Init:ImagePullBackOff"]


def test_the_api_servers_node_writes_are_checked_for_a_newer_kubelet(tmp_path, monkeypatch):
    import u7s_standin_common as common
    from tests.unit.test_standins import _api, _call

    monkeypatch.setenv(common.ROOT_ENV, str(tmp_path))
    the_api = _api()  # no kubeadm-config yet: the server's version is the image's, v1.35.0
    status = {"nodeInfo": {"kubeletVersion": "v1.35.0"}}
    assert _call(the_api, "POST", "/api/v1/nodes", {"metadata": {"name": "n1"}, "status": status})[0] == 201
    assert not (tmp_path / "var/lib/u7s-standin/kubelet-skew.json").exists()
    node = _call(the_api, "GET", "/api/v1/nodes/n1")[1]
    node["status"]["nodeInfo"]["kubeletVersion"] = "v1.36.0"
    assert _call(the_api, "PUT", "/api/v1/nodes/n1/status", node)[0] == 200
    seen = json.loads((tmp_path / "var/lib/u7s-standin/kubelet-skew.json").read_text())
    assert [(r["node"], r["kubeletVersion"], r["apiserverVersion"]) for r in seen.values()] == [
        ("n1", "v1.36.0", "v1.35.0")]
