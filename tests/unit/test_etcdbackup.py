"""etcd backup file check, argv and manifest parsing (u7s/node/etcdbackup.py): pure parts, no node."""

import hashlib
import io
import os
import tarfile

import pytest

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


def test_parse_member_reads_the_manifest_flags():
    assert eb.parse_member(MANIFEST) == {"name": "u7s-cp", "initial-cluster": "u7s-cp=https://10.100.0.2:2380",
                                         "initial-advertise-peer-urls": "https://10.100.0.2:2380"}


def test_save_argv_uses_the_healthcheck_client_against_local_etcd():
    argv = eb.save_argv("abc123")
    assert argv[:4] == ["crictl", "exec", "abc123", "etcdctl"]
    assert "--endpoints=https://127.0.0.1:2379" in argv
    assert "--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt" in argv
    assert argv[-3:] == ["snapshot", "save", eb.SNAPSHOT]


def test_restore_argv_gives_etcdutl_a_fresh_data_dir_and_the_member():
    argv = eb.restore_argv("abc", eb.parse_member(MANIFEST))
    assert argv[:7] == ["crictl", "exec", "abc", "etcdutl", "snapshot", "restore", eb.RESTORE_DB]
    assert f"--data-dir={eb.RESTORED}" in argv and "--name=u7s-cp" in argv
    assert "--initial-cluster=u7s-cp=https://10.100.0.2:2380" in argv


def test_restore_task_refuses_a_bad_file_before_touching_a_node(tmp_path):
    from u7s.tasks.backup import run_restore

    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"garbage")

    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"node touched: {name}")

    with pytest.raises(U7sError, match=f"^{bad}: not a u7s etcd backup"):
        run_restore(Untouchable(), None, str(bad), False)
    with pytest.raises(U7sError, match=f"^{tmp_path}/missing.tar: cannot read the backup"):
        run_restore(Untouchable(), None, str(tmp_path / "missing.tar"), False)
