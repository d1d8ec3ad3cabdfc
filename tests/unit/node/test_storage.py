"""The default StorageClass: U7S_STORAGE_DIR, the provisioner's manifest, its step, and what down-v removes."""

import io
import json

import pytest
import yaml

from u7s.config import storagedir
from u7s.errors import SettingsError
from u7s.node import localpath
from u7s.node.container import Node
from u7s.steps import lifecycle, storage
from u7s.steps.outcome import ALREADY, CHANGED, status_of
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import FakeHost, make_settings

WORKDIR = "/home/user/.local/share/u7s/u7s"
RUNNING = '{"Status":"running","Running":true}'


def _node(host, **flags):
    return Node(host, make_settings(**flags), Reporter(stream=io.StringIO()))


# ---------------------------------------------------------------- the setting

def test_the_default_directory_is_storage_in_the_working_directory_and_goes_with_down_v():
    s = make_settings()
    assert s.storage_dir == f"{WORKDIR}/storage" and storagedir.is_default(s)
    assert s.as_table()["U7S_STORAGE_DIR"] == f"{WORKDIR}/storage"
    moved = make_settings(U7S_WORKDIR="/srv/u7s")
    assert moved.storage_dir == "/srv/u7s/storage" and storagedir.is_default(moved)


def test_a_directory_the_user_sets_is_theirs_even_where_the_default_would_be():
    assert make_settings(U7S_STORAGE_DIR="/srv/volumes").storage_dir == "/srv/volumes"
    assert not storagedir.is_default(make_settings(U7S_STORAGE_DIR="/srv/volumes"))
    assert not storagedir.is_default(make_settings(U7S_STORAGE_DIR=f"{WORKDIR}/storage"))


@pytest.mark.parametrize("value, why", [
    ("volumes", "is not an absolute path"),
    ("/srv/volumes/", "is not normalised"),
    ("/srv/../volumes", "is not normalised"),
    ("/srv/a:b", "has characters other than"),
    ("/srv/a,b", "has characters other than"),
    ("/etc", "is a system directory"),
    (WORKDIR, "holds the working directory"),
    ("/home/user", "holds the working directory"),
])
def test_a_bad_directory_is_refused_in_one_line_naming_the_setting(value, why):
    with pytest.raises(SettingsError) as exc:
        make_settings(U7S_STORAGE_DIR=value)
    (line,) = str(exc.value).splitlines()
    assert line.startswith(f"U7S_STORAGE_DIR={value} (from --set): ") and why in line, line
    assert "e.g. U7S_STORAGE_DIR=/srv/u7s-volumes" in line


# ---------------------------------------------------------------- the manifest

def test_the_manifest_is_the_local_path_provisioner_with_the_default_class_and_the_node_path():
    docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(localpath.manifest("lab"))}
    assert set(docs) == {("Namespace", "local-path-storage"), ("ServiceAccount", "local-path-provisioner-service-account"),
                         ("ClusterRole", "local-path-provisioner"), ("ClusterRoleBinding", "local-path-provisioner"),
                         ("Deployment", "local-path-provisioner"), ("StorageClass", "local-path"),
                         ("ConfigMap", "local-path-config")}
    sc = docs[("StorageClass", "local-path")]
    assert sc["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert (sc["provisioner"], sc["volumeBindingMode"], sc["reclaimPolicy"]) == (
        "rancher.io/local-path", "WaitForFirstConsumer", "Delete")
    config = docs[("ConfigMap", "local-path-config")]["data"]
    assert json.loads(config["config.json"]) == {"nodePathMap": [
        {"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": ["/var/local-path-provisioner"]}]}
    assert config["setup"].splitlines()[-1] == 'mkdir -m 0777 -p "$VOL_DIR"'
    assert config["teardown"].splitlines()[-1] == 'rm -rf "$VOL_DIR"'
    assert yaml.safe_load(config["helperPod.yaml"])["spec"]["containers"][0]["image"] == localpath.HELPER_IMAGE
    pod = docs[("Deployment", "local-path-provisioner")]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == localpath.PROVISIONER_IMAGE and container["imagePullPolicy"] == "IfNotPresent"
    assert container["command"][container["command"].index("--helper-image") + 1] == localpath.HELPER_IMAGE
    assert pod["volumes"] == [{"name": "config", "configMap": {"name": "local-path-config"}}]
    ns = docs[("Namespace", "local-path-storage")]
    assert ns["metadata"]["labels"] == {"pod-security.kubernetes.io/enforce": "privileged"}


def test_the_compose_file_mounts_the_directory_where_the_provisioner_puts_volumes():
    from u7s.render import templates as render

    node = yaml.safe_load(render.compose_file(make_settings(U7S_STORAGE_DIR="/srv/volumes")))["services"]["node"]
    assert "/srv/volumes:/var/local-path-provisioner" in node["volumes"]


# ---------------------------------------------------------------- the step

APPLIED = ("namespace/local-path-storage created\nserviceaccount/local-path-provisioner-service-account created\n"
           "storageclass.storage.k8s.io/local-path created\n")
UNCHANGED = ("namespace/local-path-storage unchanged\nstorageclass.storage.k8s.io/local-path unchanged\n")


def test_install_applies_the_rendered_file_and_a_second_run_changes_nothing():
    host = FakeHost().on("docker", "inspect", stdout=RUNNING).on("docker", "exec", contains="apply", stdout=APPLIED)
    node = _node(host)
    said = lifecycle.install_storage(node)
    assert said.startswith("local-path storage installed (StorageClass local-path, the default; volumes in "
                           f"{WORKDIR}/storage on each host): namespace/local-path-storage, ")
    assert host.written[f"{WORKDIR}/local-path-storage.yaml"] == (localpath.manifest("u7s").encode(), 0o644)
    apply = next(argv for argv in host.calls if "apply" in argv and "--dry-run=server" not in argv)
    assert apply[-4:] == ["kubectl", "apply", "-f", "/usernetes/local-path-storage.yaml"]
    host.on("docker", "exec", contains="apply", stdout=UNCHANGED)
    again = lifecycle.install_storage(node)
    assert again.startswith("local-path storage already installed (") and status_of(again) == ALREADY
    assert status_of(said) == CHANGED


def test_an_unchanged_manifest_that_a_dry_run_finds_applied_is_neither_written_nor_applied():
    host = FakeHost().on("docker", "inspect", stdout=RUNNING)
    node = _node(host)
    host.write_file(f"{WORKDIR}/local-path-storage.yaml", localpath.manifest("u7s"), 0o644)
    dry = UNCHANGED.replace(" unchanged", " unchanged (server dry run)")
    host.on("docker", "exec", contains="--dry-run=server", stdout=dry)
    host.written.clear()  # what install writes from here on
    said = lifecycle.install_storage(node)
    assert said.startswith("local-path storage already installed (") and status_of(said) == ALREADY
    assert host.written == {} and not [argv for argv in host.calls if "apply" in argv and "--dry-run=server" not in argv]
    # What a dry run says would change is applied for real.
    host.on("docker", "exec", contains="--dry-run=server", stdout=dry + "configmap/local-path-config configured "
                                                                          "(server dry run)\n")
    host.on("docker", "exec", contains="-f", stdout="configmap/local-path-config configured\n")
    assert status_of(lifecycle.install_storage(node)) == CHANGED


def test_changed_objects_are_every_line_kubectl_did_not_call_unchanged():
    assert localpath.changed_objects(UNCHANGED) == []
    assert localpath.changed_objects(UNCHANGED + "configmap/local-path-config configured\n") == [
        "configmap/local-path-config"]


# ---------------------------------------------------------------- down-v

def test_down_v_empties_the_default_directory_in_the_node_then_removes_it_on_the_host():
    s = make_settings()
    host = FakeHost({s.path("docker-compose.yaml"): "x"}).on("docker", "inspect", stdout=RUNNING)
    host.on("docker", "exec", stdout="").on("docker", "compose", stdout="").on("rm", stdout="")
    said = lifecycle.down(_node(host), volumes=True)
    assert said == f"node removed with its volumes (cluster data deleted); volumes removed ({WORKDIR}/storage)"
    calls = [argv for argv in host.calls if argv[1:2] != ["inspect"]]
    assert calls[0][-5:] == ["find", "/var/local-path-provisioner", "-mindepth", "1", "-delete"]
    assert calls[1][-2:] == ["down", "-v"]
    assert calls[2] == ["rm", "-rf", "--", f"{WORKDIR}/storage"]


def test_down_v_never_deletes_a_directory_the_user_set_and_says_so():
    s = make_settings(U7S_STORAGE_DIR="/srv/volumes")
    host = FakeHost({s.path("docker-compose.yaml"): "x"}).on("docker", "inspect", stdout=RUNNING)
    host.on("docker", "compose", stdout="")
    said = lifecycle.down(_node(host, U7S_STORAGE_DIR="/srv/volumes"), volumes=True)
    assert said.endswith("; volumes kept in /srv/volumes (U7S_STORAGE_DIR is yours: u7s never deletes it)")
    assert not any(argv[:1] == ["rm"] or "find" in argv for argv in host.calls)
    assert storage.down_v_text(s) == "keep /srv/volumes (U7S_STORAGE_DIR: never deleted by u7s)"


def test_down_keeps_the_directory():
    s = make_settings()
    host = FakeHost({s.path("docker-compose.yaml"): "x"}).on("docker", "inspect", stdout=RUNNING)
    host.on("docker", "compose", stdout="")
    assert lifecycle.down(_node(host)) == "node removed (volumes kept)"
    assert [argv for argv in host.calls if argv[:1] == ["rm"] or "find" in argv] == []


def test_a_directory_the_host_user_cannot_empty_is_reported_with_the_fix():
    s = make_settings()
    host = FakeHost({s.path("docker-compose.yaml"): "x"}).on("docker", "inspect", stdout="")
    host.on("docker", "compose", stdout="")
    host.on("rm", exited=1, stderr=f"rm: cannot remove '{WORKDIR}/storage/pvc-1_default_data/x': Permission denied\n")
    out = io.StringIO()
    node = Node(host, s, Reporter(stream=out))
    assert lifecycle.down(node, volumes=True).endswith(f"; {WORKDIR}/storage not removed")
    assert "start the node (`u7s up`) and run down-v again" in out.getvalue()
