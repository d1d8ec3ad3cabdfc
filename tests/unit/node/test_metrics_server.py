"""metrics-server: the METRICS_SERVER setting, the rendered manifest, its step in create, its task, the bundle."""

import io
import types

import pytest
import yaml

from u7s.errors import SettingsError
from u7s.node import metricsserver
from u7s.node.container import Node
from u7s.steps import metrics, workflows
from u7s.steps.outcome import ALREADY, CHANGED, status_of
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import FakeHost, make_settings

WORKDIR = "/home/user/.local/share/u7s/u7s"
RUNNING = '{"Status":"running","Running":true}'
APPLIED = ("serviceaccount/metrics-server created\ndeployment.apps/metrics-server created\n"
           "apiservice.apiregistration.k8s.io/v1beta1.metrics.k8s.io created\n")
UNCHANGED = "serviceaccount/metrics-server unchanged\napiservice.apiregistration.k8s.io/v1beta1.metrics.k8s.io unchanged\n"


def _member(host, **flags):
    """What the step reads of a run's member: its settings and its node."""
    s = make_settings(**flags)
    return types.SimpleNamespace(settings=s, node=Node(host, s, Reporter(stream=io.StringIO())))


# ---------------------------------------------------------------- the setting

@pytest.mark.parametrize("value, on", [("true", True), ("1", True), ("yes", True), ("false", False), ("0", False)])
def test_metrics_server_is_a_boolean_setting_off_by_default(value, on):
    assert make_settings().metrics_server is False
    assert make_settings().as_table()["METRICS_SERVER"] == "false"
    assert make_settings(METRICS_SERVER=value).metrics_server is on


def test_a_word_that_is_no_boolean_is_one_line_naming_the_setting_and_the_fix():
    with pytest.raises(SettingsError) as e:
        make_settings(METRICS_SERVER="sure")
    assert str(e.value) == "METRICS_SERVER=sure (from --set): not a boolean; use true or false"


# ---------------------------------------------------------------- the manifest

def test_the_manifest_has_the_release_objects_and_the_arguments_u7s_nodes_need():
    docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(metricsserver.manifest("alpha"))}
    assert set(docs) == {
        ("ServiceAccount", "metrics-server"), ("ClusterRole", "system:aggregated-metrics-reader"),
        ("ClusterRole", "system:metrics-server"), ("RoleBinding", "metrics-server-auth-reader"),
        ("ClusterRoleBinding", "metrics-server:system:auth-delegator"),
        ("ClusterRoleBinding", "system:metrics-server"), ("Service", "metrics-server"),
        ("Deployment", "metrics-server"), ("APIService", "v1beta1.metrics.k8s.io")}
    deployment = docs[("Deployment", "metrics-server")]
    assert deployment["metadata"]["namespace"] == "kube-system"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.k8s.io/metrics-server/metrics-server:v0.8.1"
    assert "--kubelet-insecure-tls" in container["args"]  # kubeadm's kubelets serve self-signed certificates
    assert "--kubelet-preferred-address-types=ExternalIP" in container["args"]  # HOST_IP, where PORT_KUBELET is
    assert "--kubelet-use-node-status-port" in container["args"]  # a leased PORT_KUBELET
    assert deployment["spec"]["selector"]["matchLabels"] == docs[("Service", "metrics-server")]["spec"]["selector"] \
        == deployment["spec"]["template"]["metadata"]["labels"] == {"k8s-app": "metrics-server"}
    api = docs[("APIService", "v1beta1.metrics.k8s.io")]["spec"]
    assert (api["group"], api["version"], api["service"]) == (
        "metrics.k8s.io", "v1beta1", {"name": "metrics-server", "namespace": "kube-system"})
    reader = docs[("ClusterRole", "system:aggregated-metrics-reader")]["metadata"]["labels"]
    assert reader["rbac.authorization.k8s.io/aggregate-to-view"] == "true"


# ---------------------------------------------------------------- the step and the task

def test_in_create_with_the_setting_off_the_step_touches_no_host_and_counts_as_done():
    host = FakeHost()
    said = metrics.STEP.action(None, _member(host))
    assert host.calls == [] and status_of(said) == ALREADY
    assert said == "metrics-server not asked for (METRICS_SERVER=true installs it)"
    assert metrics.STEP in workflows.CREATE and metrics.STEP in workflows.CREATE_ONE_HOST
    assert metrics.STEP in workflows.CHANGING  # a create that installs it did something


def test_with_the_setting_on_create_applies_the_manifest_and_a_second_run_changes_nothing():
    host = FakeHost().on("docker", "inspect", stdout=RUNNING).on("docker", "exec", contains="apply", stdout=APPLIED)
    member = _member(host, METRICS_SERVER="true")
    said = metrics.STEP.action(None, member)
    assert status_of(said) == CHANGED and said.startswith("metrics-server installed (")
    assert host.written[f"{WORKDIR}/metrics-server.yaml"] == (metricsserver.manifest("u7s").encode(), 0o644)
    apply = next(argv for argv in host.calls if "apply" in argv and "--dry-run=server" not in argv)
    assert apply[-4:] == ["kubectl", "apply", "-f", "/usernetes/metrics-server.yaml"]
    host.on("docker", "exec", contains="apply", stdout=UNCHANGED)
    again = metrics.STEP.action(None, member)
    assert status_of(again) == ALREADY and again.startswith("metrics-server already installed (")


def test_the_task_installs_whatever_the_setting_says_and_dry_run_says_what_each_would_do():
    host = FakeHost().on("docker", "inspect", stdout=RUNNING).on("docker", "exec", contains="apply", stdout=APPLIED)
    member = _member(host)
    assert status_of(metrics.INSTALL.action(None, member)) == CHANGED
    assert metrics.INSTALL.task_name == "install-metrics-server"
    assert metrics.STEP.would(member) == ["leave metrics-server alone (metrics-server not asked for "
                                          "(METRICS_SERVER=true installs it))"]
    assert metrics.INSTALL.would(member)[0].startswith(f"render {WORKDIR}/metrics-server.yaml and kubectl apply it")


def test_a_bundle_carries_metrics_servers_image_only_when_the_setting_is_on(monkeypatch):
    from u7s.steps import airgap
    from u7s.tasks import airgap as task
    from tests.unit.u7s_fakes import FakeHost as Fake

    seen = {}
    monkeypatch.setattr(airgap, "build", lambda host, s, ref, pods, output, report: seen.setdefault(
        s.metrics_server, pods) and type("M", (), {"images": pods})())
    for on in ("false", "true"):
        monkeypatch.setattr(task, "local", lambda c, set_: (Fake(), make_settings(
            NODE_IMAGE="n:1", METRICS_SERVER=on), Reporter(stream=io.StringIO())))
        monkeypatch.setattr(task, "out", lambda text: None)
        task.bundle.body(None, output="/tmp/b.tar")
    assert metricsserver.IMAGE in seen[True] and metricsserver.IMAGE not in seen[False]
