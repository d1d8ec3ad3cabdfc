"""The stand-ins' failure switches take the paths the real components take (tests/lab/README.md)."""

import time

from test_standins import (  # noqa: F401 (fixtures)
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
    from test_standins import CP

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
    from test_standins import CP

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
