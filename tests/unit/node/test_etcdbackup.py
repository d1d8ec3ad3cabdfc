"""etcd backup file check, argv and manifest parsing (u7s/node/etcdbackup.py): pure parts, no node."""

import base64
import hashlib
import io
import os
import tarfile

import pytest
import yaml

from u7s.errors import U7sError
from u7s.node import etcdbackup as eb

MANIFEST = """apiVersion: v1
kind: Pod
spec:
  containers:
  - command:
    - etcd
    - --advertise-client-urls=https://10.100.0.2:2379
    - --data-dir=/var/lib/etcd
    - --initial-advertise-peer-urls=https://10.100.0.2:2380
    - --initial-cluster=u7s-cp=https://10.100.0.2:2380
    - --listen-client-urls=https://127.0.0.1:9090,https://10.100.0.2:9090
    - --name=u7s-cp
"""


def _meta(snapshot):
    return {"format": eb.FORMAT, "sha256": hashlib.sha256(snapshot).hexdigest(), "cluster": "c", "host": "h",
            "node": "n", "taken": "t", "ca_sha256": "x"}


def test_pack_then_check_gives_back_the_snapshot():
    snap = os.urandom(4096)
    meta, got = eb.check("f.tar", eb.pack(snap, _meta(snap)))
    assert got == snap and meta["node"] == "n"


def test_damaged_snapshot_is_refused_naming_the_file():
    snap = b"etcd snapshot bytes"
    data = eb.pack(snap + b"!", _meta(snap))
    with pytest.raises(U7sError, match=r"^f\.tar: the snapshot is damaged .*cluster\.backup --output FILE"):
        eb.check("f.tar", data)


@pytest.mark.parametrize("data", [b"", b"not a tar at all" * 40, None])
def test_foreign_or_truncated_file_is_refused(data):
    if data is None:  # a tar without our members
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("other.txt")
            tar.addfile(info, io.BytesIO(b""))
        data = buf.getvalue()
    with pytest.raises(U7sError, match=r"^x\.db: not a u7s etcd backup"):
        eb.check("x.db", data)


def test_truncated_backup_is_refused():
    snap = os.urandom(20000)
    data = eb.pack(snap, _meta(snap))
    with pytest.raises(U7sError, match=r"^b: (not a u7s etcd backup|the snapshot is damaged)"):
        eb.check("b", data[:12000])


def test_other_format_is_refused():
    snap = b"s"
    meta = dict(_meta(snap), format="k3s")
    with pytest.raises(U7sError, match=r"^b: not a u7s etcd backup of format u7s-etcd-backup/1 \(found 'k3s'\)"):
        eb.check("b", eb.pack(snap, meta))


def test_parse_manifest_reads_the_member_and_the_client_urls():
    assert eb.parse_manifest(MANIFEST) == {
        "name": "u7s-cp", "initial-cluster": "u7s-cp=https://10.100.0.2:2380",
        "initial-advertise-peer-urls": "https://10.100.0.2:2380",
        "listen-client-urls": "https://127.0.0.1:9090,https://10.100.0.2:9090"}


@pytest.mark.parametrize("urls, endpoint", [
    ("https://127.0.0.1:9090,https://10.100.0.2:9090", "https://127.0.0.1:9090"),  # PORT_ETCD=9090
    ("https://10.100.0.2:2379", "https://10.100.0.2:2379"),
    ("", "https://127.0.0.1:2379"),
])
def test_client_endpoint_is_the_loopback_url_etcd_listens_on(urls, endpoint):
    assert eb.client_endpoint({"listen-client-urls": urls}) == endpoint


def test_save_argv_uses_the_healthcheck_client_against_local_etcd():
    argv = eb.save_argv("abc123", "https://127.0.0.1:9090")
    assert argv[:4] == ["crictl", "exec", "abc123", "etcdctl"]
    assert "--endpoints=https://127.0.0.1:9090" in argv
    assert "--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt" in argv
    assert argv[-3:] == ["snapshot", "save", eb.SNAPSHOT]


def test_restore_argv_gives_etcdutl_a_fresh_data_dir_and_the_member():
    argv = eb.restore_argv("abc", eb.parse_manifest(MANIFEST))
    assert argv[:7] == ["crictl", "exec", "abc", "etcdutl", "snapshot", "restore", eb.RESTORE_DB]
    assert f"--data-dir={eb.RESTORED}" in argv and "--name=u7s-cp" in argv
    assert "--initial-cluster=u7s-cp=https://10.100.0.2:2380" in argv
    assert "--initial-advertise-peer-urls=https://10.100.0.2:2380" in argv


def test_a_backup_of_another_cluster_or_control_plane_node_is_refused_in_one_line():
    meta = {"cluster": "lab", "node": "u7s-h1"}
    eb.check_origin(meta, "b.tar", "lab", "u7s-h1")  # its own cluster: fine, whatever the CA
    for cluster, node in (("other", "u7s-h1"), ("lab", "u7s-h9")):
        with pytest.raises(U7sError, match=r"^b\.tar: a backup of cluster 'lab' \(node 'u7s-h1'\), not of "
                                           r"'.*' \(node '.*'\); restore it with the inventory it was taken with$"):
            eb.check_origin(meta, "b.tar", cluster, node)


def test_cluster_info_gets_the_ca_of_the_control_plane_made_anew():
    kubeconfig = ("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: T0xE\n"
                  "    server: https://u7s-h1:6443\n  name: ''\n")
    got = eb.with_ca({"metadata": {"name": "cluster-info", "namespace": "kube-public", "resourceVersion": "7"},
                      "data": {"kubeconfig": kubeconfig, "jws-kubeconfig-abcdef": "x"}}, "NEW CA PEM\n")
    assert got["metadata"] == {"name": "cluster-info", "namespace": "kube-public"}  # no stale resourceVersion
    cluster = yaml.safe_load(got["data"]["kubeconfig"])["clusters"][0]["cluster"]
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"NEW CA PEM\n"
    assert cluster["server"] == "https://u7s-h1:6443"


class _Node:
    """A node whose exec answers `cat` of etcd's manifest."""

    def __init__(self, result):
        self.result, self.host = result, type("H", (), {"name": "h1"})()

    def exec(self, argv, **kw):
        return self.result


class _R:
    def __init__(self, ok, stdout="", stderr=""):
        self.ok, self.stdout, self.stderr = ok, stdout, stderr


def test_etcd_member_unreadable_from_the_manifest_is_refused_in_one_line():
    assert eb.read_manifest(_Node(_R(True, MANIFEST)))["name"] == "u7s-cp"
    with pytest.raises(U7sError, match=r"^h1: cannot read etcd's member from /etc/kubernetes/manifests/etcd\.yaml "
                                       r"\(cat: .*: No such file or directory\); back up and restore on a kubeadm"):
        eb.read_manifest(_Node(_R(False, stderr="cat: /etc/kubernetes/manifests/etcd.yaml: No such file or "
                                                "directory\n")))
    with pytest.raises(U7sError, match=r"\(no --name, --initial-cluster, --initial-advertise-peer-urls, "
                                       r"--listen-client-urls in it\)"):
        eb.read_manifest(_Node(_R(True, "kind: Pod\n")))


def test_restore_task_refuses_a_bad_file_before_touching_a_node(tmp_path):
    from u7s.tasks.backup import run_restore

    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"garbage")

    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"node touched: {name}")

    with pytest.raises(U7sError, match=f"^{bad}: not a u7s etcd backup"):
        run_restore(Untouchable(), None, str(bad), "lab")
    with pytest.raises(U7sError, match=f"^{tmp_path}/missing.tar: cannot read the backup"):
        run_restore(Untouchable(), None, str(tmp_path / "missing.tar"), "lab")

    class NamedOnly(Untouchable):  # the settings' node name is read, nothing in the node
        s = type("S", (), {"node_name": "u7s-h1"})()

    other = tmp_path / "other.tar"
    snap = b"snapshot"
    other.write_bytes(eb.pack(snap, dict(_meta(snap), cluster="elsewhere", node="u7s-h1")))
    with pytest.raises(U7sError, match=f"^{other}: a backup of cluster 'elsewhere'"):
        run_restore(NamedOnly(), None, str(other), "lab")
