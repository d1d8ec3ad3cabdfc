"""The smoke test's plan (pure) and its run against a scripted host."""

import io

import pytest
import yaml

from u7s.checks import smoke
from u7s.errors import U7sError
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import FakeHost, make_settings

K = ["/usr/bin/kubectl", "--kubeconfig", "/w/kubeconfig"]


def test_plan_commands_in_order():
    steps = smoke.plan("/usr/bin/kubectl", "/w/kubeconfig", 300)
    assert [title for title, _, _, _ in steps] == [
        "all nodes Ready", "create the test StatefulSet", "replicas running", "volumes bound",
        "fetch dnstest-0 by DNS", "fetch dnstest-1 by DNS", "fetch dnstest-2 by DNS",
    ]
    for _, argv, _, _ in steps:
        assert argv[:3] == K
    assert steps[0][1][3:] == ["wait", "--for=condition=Ready", "nodes", "--all", "--timeout=300s"]
    assert steps[1][1][3:] == ["apply", "-f", "-"] and steps[1][2] == smoke.MANIFEST
    assert steps[2][1][3:] == ["rollout", "status", "statefulset/dnstest", "--timeout=300s"]
    assert steps[3][1][3:] == ["wait", "--for=jsonpath={.status.phase}=Bound", "pvc/data-dnstest-0",
                               "pvc/data-dnstest-1", "pvc/data-dnstest-2", "--timeout=300s"]
    assert [stdin for _, _, stdin, _ in steps if stdin is not None] == [smoke.MANIFEST]
    # The fetches (and only they) must show nginx's page: what the plan says, not the words of their titles.
    assert [title for title, _, _, page in steps if page == "nginx"] == [title for title, _, _, _ in steps[4:]]


@pytest.mark.parametrize("i", range(3))
def test_each_replica_is_fetched_by_its_dns_name_from_a_throwaway_pod(i):
    _, argv, _, _ = smoke.plan("kubectl", "kc", 60)[4 + i]
    assert argv[3:8] == ["run", f"dnstest-probe-{i}", "--rm", "-i", "--restart=Never"]
    assert "--pod-running-timeout=60s" in argv
    assert argv[argv.index("--") + 1:] == [
        "wget", "-q", "-O", "-", "-T", "10", f"http://dnstest-{i}.dnstest.default.svc.cluster.local",
    ]


def test_manifest_is_a_headless_service_and_three_replicas():
    service, statefulset = yaml.safe_load_all(smoke.MANIFEST)
    assert (service["kind"], service["metadata"]["name"]) == ("Service", "dnstest")
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == {"app": "dnstest"}
    assert (statefulset["apiVersion"], statefulset["kind"]) == ("apps/v1", "StatefulSet")
    spec = statefulset["spec"]
    assert spec["replicas"] == 3 and spec["serviceName"] == "dnstest"
    assert spec["selector"]["matchLabels"] == spec["template"]["metadata"]["labels"] == {"app": "dnstest"}
    (container,) = spec["template"]["spec"]["containers"]
    assert container["image"].startswith("docker.io/library/nginx")
    # Each replica's claim: the default StorageClass (none named), mounted, deleted with the StatefulSet.
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data" and "storageClassName" not in claim["spec"]
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Delete", "whenScaled": "Delete"}


def test_cleanup_removes_both_objects():
    assert smoke.cleanup("kubectl", "kc") == [
        "kubectl", "--kubeconfig", "kc", "delete", "--ignore-not-found", "statefulset/dnstest", "service/dnstest",
        "pvc/data-dnstest-0", "pvc/data-dnstest-1", "pvc/data-dnstest-2",
    ]


def scripted(kubeconfig="/w/kubeconfig"):
    s = make_settings(U7S_WORKDIR="/w", U7S_TIMEOUT=60)
    host = FakeHost(files={kubeconfig: "apiVersion: v1\n"})
    host.on("kubectl", stdout="")
    host.on("kubectl", contains="wget", stdout="<title>Welcome to nginx!</title>")
    return s, host


def test_run_passes_and_cleans_up():
    s, host = scripted()
    stream = io.StringIO()
    smoke.run(host, s, Reporter(stream=stream), kubectl="kubectl")
    assert host.calls[-1] == smoke.cleanup("kubectl", "/w/kubeconfig")
    assert host.stdins[1] == smoke.MANIFEST
    assert "smoke test passed" in stream.getvalue()


def test_run_failure_names_the_step_and_still_cleans_up():
    s, host = scripted()
    host.on("kubectl", contains="http://dnstest-1.dnstest.default.svc.cluster.local", exited=1,
            stderr="wget: bad address 'dnstest-1.dnstest.default.svc.cluster.local'")
    with pytest.raises(U7sError, match=r"failed at 'fetch dnstest-1 by DNS': wget: bad address"):
        smoke.run(host, s, Reporter(stream=io.StringIO()), kubectl="kubectl")
    assert host.calls[-1] == smoke.cleanup("kubectl", "/w/kubeconfig")


def test_run_refuses_a_page_that_is_not_nginx():
    s, host = scripted()
    host.on("kubectl", contains="wget", stdout="<html>captive portal</html>")
    with pytest.raises(U7sError, match="the page is not nginx's"):
        smoke.run(host, s, Reporter(stream=io.StringIO()), kubectl="kubectl")


def test_run_without_kubeconfig_says_how_to_get_one():
    s, host = scripted(kubeconfig="/elsewhere")
    with pytest.raises(U7sError, match=r"no kubeconfig at /w/kubeconfig; run `u7s kubeconfig`"):
        smoke.run(host, s, Reporter(stream=io.StringIO()), kubectl="kubectl")
    assert host.calls == []
