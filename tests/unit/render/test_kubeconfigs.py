"""Kubeconfigs as kind and k3d users expect, read back by the real kubectl (the lab's pinned one).

kubeadm's admin.conf calls everything `kubernetes`/`kubernetes-admin`; u7s names cluster,
user and context after the cluster, so two clusters in one KUBECONFIG=a:b do not collide.
"""

import subprocess
import sys

import pytest
import yaml

from tests.unit.tasks.test_tasks_cli import GIVEN, ROOT, clean_env
from tests.lab.kubectl import controller_kubectl
from u7s.render import kubeconfigs
from u7s.errors import U7sError


def admin_conf(server: str) -> str:
    """What kubeadm writes: its default names, one cluster, one user (data shortened)."""
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "kubernetes", "cluster": {"server": server, "certificate-authority-data": "Q0E="}}],
        "users": [{"name": "kubernetes-admin", "user": {"client-certificate-data": "Q1JU",
                                                       "client-key-data": "S0VZ"}}],
        "contexts": [{"name": "kubernetes-admin@kubernetes",
                      "context": {"cluster": "kubernetes", "user": "kubernetes-admin"}}],
        "current-context": "kubernetes-admin@kubernetes",
    })


def kubectl(*args, kubeconfig: str, home):
    r = subprocess.run([controller_kubectl(), "config", *args], env={"KUBECONFIG": kubeconfig, "HOME": str(home),
                                                                     "PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_two_clusters_in_one_kubeconfig_path_do_not_collide(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text(kubeconfigs.renamed(admin_conf("https://192.0.2.1:6443"), "demo"))
    b.write_text(kubeconfigs.renamed(admin_conf("https://192.0.2.2:6443"), "u7s-host1"))
    both = f"{a}:{b}"
    assert kubectl("get-contexts", "-o", "name", kubeconfig=both, home=tmp_path).split() == ["demo", "u7s-host1"]
    servers = kubectl("view", "-o", "jsonpath={.clusters[*].cluster.server}", kubeconfig=both, home=tmp_path)
    assert servers.split() == ["https://192.0.2.1:6443", "https://192.0.2.2:6443"]
    assert kubectl("current-context", kubeconfig=str(b), home=tmp_path).strip() == "u7s-host1"


def test_merge_switches_the_context_unless_told_not_to(tmp_path):
    target = tmp_path / "config"
    target.write_text(kubeconfigs.renamed(admin_conf("https://192.0.2.9:6443"), "mine"))
    first = kubeconfigs.merge(target.read_text(), kubeconfigs.renamed(admin_conf("https://192.0.2.1:6443"), "demo"),
                              str(target))
    target.write_text(first)
    assert kubectl("current-context", kubeconfig=str(target), home=tmp_path).strip() == "demo"
    kept = kubeconfigs.merge(first, kubeconfigs.renamed(admin_conf("https://192.0.2.3:6443"), "other"), str(target),
                             switch=False)
    target.write_text(kept)
    assert kubectl("current-context", kubeconfig=str(target), home=tmp_path).strip() == "demo"
    assert kubectl("get-contexts", "-o", "name", kubeconfig=str(target), home=tmp_path).split() == [
        "demo", "mine", "other"]
    again = kubeconfigs.merge(kept, kubeconfigs.renamed(admin_conf("https://192.0.2.4:6443"), "demo"), str(target))
    assert [c["name"] for c in yaml.safe_load(again)["clusters"]] == ["mine", "other", "demo"]  # replaced, not added


def test_the_merge_target_is_the_first_file_of_kubeconfig():
    assert kubeconfigs.merge_target({"KUBECONFIG": "/a/one:/b/two"}) == "/a/one"
    assert kubeconfigs.merge_target({"KUBECONFIG": ":/b/two"}) == "/b/two"
    assert kubeconfigs.merge_target({}, home="/home/alice") == "/home/alice/.kube/config"


@pytest.mark.parametrize("text, words", [
    ("clusters: [\n", "not valid YAML"),
    ("- a\n", "expected a kubeconfig mapping, got list"),
    ("clusters: {a: 1}\n", "`clusters` is not a list of named entries"),
])
def test_a_malformed_target_is_refused_in_one_line(text, words):
    with pytest.raises(U7sError) as caught:
        kubeconfigs.merge(text, kubeconfigs.renamed(admin_conf("https://192.0.2.1:6443"), "demo"), "/k/config")
    assert words in str(caught.value) and "left as it was" in str(caught.value)
    assert len(caught.value.message.splitlines()) == 1


FAKE_NODE = """#!/bin/sh
case "$*" in
*"inspect --type container"*) echo '{"Running": true, "Status": "running"}' ;;
*"cat /etc/kubernetes/admin.conf"*) cat "$U7S_FAKE_ADMIN_CONF" ;;
esac
exit 0
"""


@pytest.fixture
def initialised(tmp_path):
    """An environment whose fake engine has a running, initialised node (admin.conf as kubeadm writes it)."""
    bin_dir, home = tmp_path / "bin", tmp_path / "home"
    bin_dir.mkdir()
    home.mkdir()
    (bin_dir / "docker").write_text(FAKE_NODE)
    (bin_dir / "docker").chmod(0o755)
    (tmp_path / "admin.conf").write_text(admin_conf("https://u7s-host1:6443"))
    return clean_env(home, **GIVEN, U7S_WORKDIR=tmp_path / "work", U7S_FAKE_ADMIN_CONF=tmp_path / "admin.conf",
                     PATH=f"{bin_dir}:/usr/bin:/bin"), home


def u7s(*args, env):
    return subprocess.run([sys.executable, "-m", "u7s", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_single_host_kubeconfig_merge_writes_where_kubectl_reads(initialised, tmp_path):
    env, home = initialised
    mine = tmp_path / "mine.yaml"
    mine.write_text(kubeconfigs.renamed(admin_conf("https://192.0.2.9:6443"), "mine"))
    env = {**env, "KUBECONFIG": f"{mine}:{home}/.kube/config"}
    r = u7s("kubeconfig", "--merge", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "work" / "kubeconfig")
    assert not (home / ".kube").exists()  # the first file of KUBECONFIG, not ~/.kube/config
    assert kubectl("current-context", kubeconfig=str(mine), home=home).strip() == "u7s-host1"
    server = kubectl("view", "-o", "jsonpath={.clusters[?(@.name=='u7s-host1')].cluster.server}",
                     kubeconfig=str(mine), home=home)
    assert server == "https://127.0.0.1:6443"
    assert (mine.stat().st_mode & 0o777) == 0o600
    standalone = kubectl("get-contexts", "-o", "name", kubeconfig=r.stdout.strip(), home=home)
    assert standalone.split() == ["u7s-host1"]


def test_a_malformed_kubeconfig_is_left_untouched_with_one_line(initialised, tmp_path):
    env, home = initialised
    (home / ".kube").mkdir()
    broken = home / ".kube" / "config"
    broken.write_text("clusters: [\n")
    r = u7s("kubeconfig", "--merge", "lab", env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith(f"u7s: {broken}: line 2: not valid YAML")
    assert broken.read_text() == "clusters: [\n"
