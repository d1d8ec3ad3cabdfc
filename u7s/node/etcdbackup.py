"""etcd backup and restore on the control plane: a snapshot file, checked before anything is restored.

kubeadm runs etcd as a static pod in the node's containerd, its data in the hostPath /var/lib/etcd and its
certificates in /etc/kubernetes/pki/etcd. The etcd image holds etcdctl and etcdutl, so both run inside the
etcd container (`crictl exec`) against https://127.0.0.1:2379 with the healthcheck-client certificate; the
snapshot is written under /var/lib/etcd, which the node and the container share, and travels as base64
through the engine's exec (stdout and stdin are text).

The backup file is a tar: `snapshot.db` (etcd's own snapshot) and `u7s-backup.json` (what it was taken
from, and the snapshot's sha256). Restoring follows etcd's disaster-recovery steps: `etcdutl snapshot
restore` into a fresh data directory with the member's name and peer URLs from etcd's manifest, the
kubelet and every container stopped, the fresh `member` swapped in (the old one kept aside), the node
restarted, the API waited for.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import json
import re
import tarfile

from u7s.build import engine
from u7s.errors import U7sError
from u7s.node import kube
from u7s.node.container import Node

FORMAT = "u7s-etcd-backup/1"
META = "u7s-backup.json"
DB = "snapshot.db"
ETCD_DIR = "/var/lib/etcd"
SNAPSHOT = f"{ETCD_DIR}/u7s-snapshot.db"
RESTORE_DB = f"{ETCD_DIR}/u7s-restore.db"
RESTORED = f"{ETCD_DIR}/u7s-restored"
PKI = "/etc/kubernetes/pki/etcd"
CA = "/etc/kubernetes/pki/ca.crt"
MANIFEST = "/etc/kubernetes/manifests/etcd.yaml"
ENDPOINT = "https://127.0.0.1:2379"
_MEMBER_FLAGS = ("name", "initial-cluster", "initial-advertise-peer-urls")
_FLAG = re.compile(r"^\s*-\s*--([a-z-]+)=(\S+)\s*$")


def save_argv(container: str) -> list[str]:
    return ["crictl", "exec", container, "etcdctl", f"--endpoints={ENDPOINT}", f"--cacert={PKI}/ca.crt",
            f"--cert={PKI}/healthcheck-client.crt", f"--key={PKI}/healthcheck-client.key", "snapshot", "save",
            SNAPSHOT]


def restore_argv(container: str, member: dict) -> list[str]:
    flags = [f"--{k}={member[k]}" for k in _MEMBER_FLAGS if member.get(k)]
    return ["crictl", "exec", container, "etcdutl", "snapshot", "restore", RESTORE_DB, f"--data-dir={RESTORED}",
            *flags]


def parse_member(manifest: str) -> dict:
    """Pure: the member's --name, --initial-cluster and --initial-advertise-peer-urls from etcd's manifest."""
    found = {}
    for line in manifest.splitlines():
        m = _FLAG.match(line)
        if m and m.group(1) in _MEMBER_FLAGS:
            found[m.group(1)] = m.group(2)
    return found


def pack(snapshot: bytes, meta: dict) -> bytes:
    """Pure: the backup file's bytes (a tar of the metadata and the snapshot)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in ((META, json.dumps(meta, indent=2, sort_keys=True).encode() + b"\n"), (DB, snapshot)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def check(path: str, data: bytes) -> tuple[dict, bytes]:
    """Pure: (metadata, snapshot) of a backup file; one line naming the file and the fix if it is not one."""
    fix = "give a file `u7s cluster.backup --output FILE` wrote, whole"
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}
            if META not in members or DB not in members:
                raise U7sError(f"{path}: not a u7s etcd backup (no {META} and {DB} in it); {fix}")
            meta = json.loads(tar.extractfile(members[META]).read())
            snapshot = tar.extractfile(members[DB]).read()
    except (tarfile.TarError, EOFError, ValueError) as e:
        raise U7sError(f"{path}: not a u7s etcd backup ({type(e).__name__}: {e}); {fix}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise U7sError(f"{path}: not a u7s etcd backup of format {FORMAT} (found {meta.get('format')!r}); {fix}"
                       if isinstance(meta, dict) else f"{path}: {META} is not a JSON object; {fix}")
    digest = hashlib.sha256(snapshot).hexdigest()
    if meta.get("sha256") != digest:
        raise U7sError(f"{path}: the snapshot is damaged (sha256 {digest[:12]}…, the backup says "
                       f"{str(meta.get('sha256'))[:12]}…); {fix}")
    return meta, snapshot


def etcd_container(node: Node) -> str:
    r = node.exec(["crictl", "ps", "--name", "etcd", "--state", "running", "-q"], check=False)
    ids = r.stdout.split() if r.ok else []
    if not ids:
        raise U7sError(f"{node.host.name}: no running etcd container here (`crictl ps --name etcd`: "
                       f"{(r.stderr or 'none').strip()[-160:]}); back up and restore on the control plane, "
                       "with the cluster up")
    return ids[0]


def _crictl(node: Node, argv: list[str], what: str) -> str:
    r = node.exec(argv, check=False)
    if not r.ok:
        raise U7sError(f"{node.host.name}: {what} failed (exit {r.exited}): {(r.stderr or r.stdout).strip()[-300:]}")
    return r.stdout


def _fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def take(node: Node, cluster: str) -> tuple[bytes, dict]:
    """A consistent snapshot (etcdctl snapshot save), as the backup file's bytes and its metadata."""
    node.require_running()
    container = etcd_container(node)
    _crictl(node, save_argv(container), "etcdctl snapshot save")
    try:
        snapshot = base64.b64decode(node.exec(["base64", "-w0", SNAPSHOT], env=False).stdout)
    finally:
        node.exec(["rm", "-f", SNAPSHOT], check=False, env=False)
    version = json.loads(kube.kubectl(node, "get", "--raw", "/version").stdout).get("gitVersion", "")
    meta = {"format": FORMAT, "cluster": cluster, "host": node.host.name, "node": node.s.node_name,
            "kubernetes_version": version, "ca_sha256": _fingerprint(node.read(CA)),
            "taken": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "sha256": hashlib.sha256(snapshot).hexdigest(), "size": len(snapshot)}
    return pack(snapshot, meta), meta


def same_ca(node: Node, meta: dict, path: str, other_ca: bool) -> None:
    """Refuse a backup of a cluster with another CA: its tokens and kubeconfigs would not verify here."""
    here = _fingerprint(node.read(CA))
    if meta.get("ca_sha256") != here and not other_ca:
        raise U7sError(f"{path}: taken from a cluster with another CA ({meta.get('cluster')!r} on "
                       f"{meta.get('host')!r}) than {node.host.name}'s; restore onto the control plane it was "
                       "taken from (same PKI), or pass --other-ca (workers then re-join)")


def restore(node: Node, snapshot: bytes) -> str:
    """etcdutl snapshot restore, the kubelet and containers stopped, the data swapped in, the node restarted."""
    container = etcd_container(node)
    manifest = node.exec(["cat", MANIFEST], check=False, env=False)  # without it etcdutl's defaults are used
    member = parse_member(manifest.stdout if manifest.ok else "")
    node.exec(["rm", "-rf", RESTORED], env=False)
    node.exec(["sh", "-c", 'base64 -d > "$1"', "sh", RESTORE_DB], stdin=base64.b64encode(snapshot).decode(),
              env=False)
    _crictl(node, restore_argv(container, member), "etcdutl snapshot restore")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    kept = f"{ETCD_DIR}/member.before-restore-{stamp}"
    with node.report.step("stopping the kubelet and the control plane, swapping etcd's data, restarting"):
        _crictl(node, ["systemctl", "stop", "kubelet"], "systemctl stop kubelet")
        running = _crictl(node, ["crictl", "ps", "-q"], "crictl ps").split()
        if running:
            _crictl(node, ["crictl", "stop", *running], "crictl stop")
        _crictl(node, ["mv", f"{ETCD_DIR}/member", kept], "moving etcd's data aside")
        _crictl(node, ["mv", f"{RESTORED}/member", f"{ETCD_DIR}/member"], "moving the restored data in")
        node.exec(["rm", "-rf", RESTORED, RESTORE_DB], check=False, env=False)
        node.host.run(engine.engine_cmd(node.s, "restart", engine.container_name(node.s)))
        node.wait_booted()
        kube.wait_api(node)
    return f"etcd restored; the data it replaced is kept in the node at {kept}; node restarted, API answering"
