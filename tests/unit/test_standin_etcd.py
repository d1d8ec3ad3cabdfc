"""The lab's crictl stand-in (etcdctl snapshot save, etcdutl snapshot restore) and etcd's manifest and data dir.

Run as a process under U7S_STANDIN_ROOT, as u7s runs it in the node (`crictl exec ID TOOL ...`): its output
lines and exit codes are etcd v3.6's and crictl's (tests/lab/standins/crictl says which source).
"""

import hashlib
import json
import os
import subprocess
import sys

import pytest
import yaml
from tests.unit.standin_nodes import STANDINS

sys.path.insert(0, str(STANDINS))
import u7s_standin_etcd as etcd  # noqa: E402

ETCD_ID = hashlib.sha256(b"etcd").hexdigest()
OBJECTS = {"resourceVersion": 42, "objects": {"configmaps|default|kept": {"metadata": {"name": "kept"}}}}


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("U7S_STANDIN_ROOT", str(tmp_path))
    state = tmp_path / "var/lib/u7s-standin"
    state.mkdir(parents=True)
    (state / "objects.json").write_text(json.dumps(OBJECTS))
    (state / "apiserver.pid").write_text("1\n")  # the API stand-in "runs"
    (tmp_path / "var/lib/etcd").mkdir(parents=True)
    etcd.write_manifest("u7s-h1", "10.100.7.100", [
        {"name": "listen-client-urls", "value": "https://127.0.0.1:9090,https://10.100.7.100:9090"}])
    return tmp_path


def crictl(*args):
    return subprocess.run([sys.executable, str(STANDINS / "crictl"), *args], capture_output=True, text=True,
                          timeout=30, env=os.environ)


def save(endpoint="https://127.0.0.1:9090", path="/var/lib/etcd/snap.db"):
    return crictl("exec", ETCD_ID, "etcdctl", f"--endpoints={endpoint}", "snapshot", "save", path)


def restore(file="/var/lib/etcd/snap.db", data_dir="/var/lib/etcd/restored", name="u7s-h1"):
    return crictl("exec", ETCD_ID, "etcdutl", "snapshot", "restore", file, f"--data-dir={data_dir}",
                  f"--name={name}", "--initial-cluster=u7s-h1=https://10.100.7.100:2380",
                  "--initial-advertise-peer-urls=https://10.100.7.100:2380")


def test_kubeadm_s_etcd_manifest_has_the_member_and_the_configs_client_urls(root):
    pod = yaml.safe_load((root / "etc/kubernetes/manifests/etcd.yaml").read_text())
    command = pod["spec"]["containers"][0]["command"]
    assert command[0] == "etcd" and "--name=u7s-h1" in command and "--data-dir=/var/lib/etcd" in command
    assert "--initial-cluster=u7s-h1=https://10.100.7.100:2380" in command
    assert "--listen-client-urls=https://127.0.0.1:9090,https://10.100.7.100:9090" in command


def test_snapshot_saved_then_restored_is_adopted_once_by_the_api(root):
    r = save()
    assert (r.returncode, r.stdout) == (0, "Snapshot saved at /var/lib/etcd/snap.db\n"), r.stderr
    snap = root / "var/lib/etcd/snap.db"
    assert snap.stat().st_size % 512 == 32 and snap.stat().st_mode & 0o777 == 0o600  # pages + sha256
    r = restore()
    assert r.returncode == 0 and '"msg": "restored snapshot"' in r.stderr, r.stderr
    os.makedirs(root / "var/lib/etcd/member/snap")  # swapped in as u7s does, the API stopped
    os.replace(root / "var/lib/etcd/restored/member/snap/db", root / "var/lib/etcd/member/snap/db")
    assert etcd.adopt_restored() == OBJECTS
    assert etcd.adopt_restored() is None  # adopted once: objects.json holds them from then on


def test_save_at_a_port_etcd_does_not_listen_on_fails_as_etcdctl_does(root):
    r = save(endpoint="https://127.0.0.1:2379")
    assert r.returncode == 1  # crictl's own exit code for a failed command
    assert "Error: context deadline exceeded\n" in r.stderr
    assert r.stderr.rstrip().endswith(f'msg="execing command in container {ETCD_ID}: command terminated with '
                                      'exit code 5"')


def test_restore_refuses_a_data_dir_in_use(root):
    save()
    (root / "var/lib/etcd/restored/member").mkdir(parents=True)
    r = restore()
    assert r.returncode == 1
    assert 'Error: data-dir "/var/lib/etcd/restored" not empty or could not be read\n' in r.stderr
    assert "command terminated with exit code 1" in r.stderr


@pytest.mark.parametrize("damage, error", [
    (lambda data: data[:-100], "Error: snapshot missing hash but --skip-hash-check=false\n"),
    (lambda data: data[:40] + b"X" + data[41:], "Error: expected sha256 ["),
])
def test_a_truncated_or_corrupted_snapshot_fails_with_etcdutls_error(root, damage, error):
    save()
    snap = root / "var/lib/etcd/snap.db"
    snap.write_bytes(damage(snap.read_bytes()))
    r = restore()
    assert r.returncode == 1 and error in r.stderr, r.stderr
    assert (root / "var/lib/etcd/restored/member/snap").is_dir()  # left half made, as etcdutl leaves it


def test_a_member_missing_from_the_initial_cluster_is_refused(root):
    save()
    r = restore(name="default")
    assert r.returncode == 1
    assert 'Error: couldn\'t find local name "default" in the initial cluster configuration' in r.stderr


def test_ps_lists_etcd_only_while_the_api_runs(root):
    assert crictl("ps", "--name", "etcd", "--state", "running", "-q").stdout.split() == [ETCD_ID]
    (root / "var/lib/u7s-standin/apiserver.pid").unlink()
    assert crictl("ps", "--name", "etcd", "-q").stdout == ""
    r = save()
    assert r.returncode == 1 and "container is not running" in r.stderr
