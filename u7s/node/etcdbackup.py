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

import yaml

from u7s.render import engine
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
_MEMBER_FLAGS = ("name", "initial-cluster", "initial-advertise-peer-urls")
_READ_FLAGS = (*_MEMBER_FLAGS, "listen-client-urls")
_FLAG = re.compile(r"^\s*-\s*--([a-z-]+)=(\S+)\s*$")


def save_argv(container: str, endpoint: str) -> list[str]:
    return ["crictl", "exec", container, "etcdctl", f"--endpoints={endpoint}", f"--cacert={PKI}/ca.crt",
            f"--cert={PKI}/healthcheck-client.crt", f"--key={PKI}/healthcheck-client.key", "snapshot", "save",
            SNAPSHOT]


def restore_argv(container: str, member: dict) -> list[str]:
    flags = [f"--{k}={member[k]}" for k in _MEMBER_FLAGS]
    return ["crictl", "exec", container, "etcdutl", "snapshot", "restore", RESTORE_DB, f"--data-dir={RESTORED}",
            *flags]


def parse_manifest(manifest: str) -> dict:
    """Pure: the member's --name, --initial-cluster, --initial-advertise-peer-urls and --listen-client-urls."""
    found = {}
    for line in manifest.splitlines():
        m = _FLAG.match(line)
        if m and m.group(1) in _READ_FLAGS:
            found[m.group(1)] = m.group(2)
    return found


def client_endpoint(flags: dict) -> str:
    """Pure: the loopback client URL etcd listens on (u7s sets PORT_ETCD there), else its first one."""
    urls = [u for u in flags.get("listen-client-urls", "").split(",") if u]
    return next((u for u in urls if "//127.0.0.1:" in u), urls[0] if urls else "https://127.0.0.1:2379")


def read_manifest(node: Node) -> dict:
    """etcd's flags from its static pod manifest; refused if the member cannot be read from it."""
    r = node.exec(["cat", MANIFEST], check=False, env=False)
    flags = parse_manifest(r.stdout if r.ok else "")
    missing = [f"--{k}" for k in _READ_FLAGS if not flags.get(k)]
    if missing:
        why = f"no {', '.join(missing)} in it" if r.ok else (r.stderr or r.stdout).strip()[-160:]
        raise U7sError(f"{node.host.name}: cannot read etcd's member from {MANIFEST} ({why}); back up and "
                       "restore on a kubeadm control plane with local etcd")
    return flags


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
        said = (r.stderr or r.stdout or "none running").strip()[-160:]
        raise U7sError(f"{node.host.name}: no running etcd container here (`crictl ps --name etcd`: {said}); "
                       "back up and restore on the control plane, with the cluster up")
    return ids[0]


def _crictl(node: Node, argv: list[str], what: str) -> str:
    r = node.exec(argv, check=False)
    if not r.ok:
        raise U7sError(f"{node.host.name}: {what} failed (exit {r.exited}): {(r.stderr or r.stdout).strip()[-300:]}")
    return r.stdout


def _stream(node: Node, argv: list[str], data: bytes, what: str) -> None:
    """Run argv in the node with DATA on its stdin, in chunks (invoke's text stdin goes a byte at a time)."""
    r = node.host.run_streaming(engine.node_exec(node.s, argv, env=False, stdin=True), io.BytesIO(data))
    if not r.ok:
        raise U7sError(f"{node.host.name}: {what} failed (exit {r.exited}): {(r.stderr or r.stdout).strip()[-300:]}")


def _fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def take(node: Node, cluster: str) -> tuple[bytes, dict]:
    """A consistent snapshot (etcdctl snapshot save), as the backup file's bytes and its metadata."""
    node.require_running()
    endpoint = client_endpoint(read_manifest(node))
    _crictl(node, save_argv(etcd_container(node), endpoint), "etcdctl snapshot save")
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


def check_origin(meta: dict, path: str, cluster: str, node_name: str) -> None:
    """Pure: refuse a backup of another cluster (its name or its control-plane node differs).

    Another CA alone is allowed: that is this cluster's control plane made anew (its volumes lost,
    `cluster.create` again), where restoring is what the backup is for.
    """
    if (meta.get("cluster"), meta.get("node")) != (cluster, node_name):
        raise U7sError(f"{path}: a backup of cluster {meta.get('cluster')!r} (node {meta.get('node')!r}), not of "
                       f"{cluster!r} (node {node_name!r}); restore it with the inventory it was taken with")


def has_ca_of(node: Node, meta: dict) -> bool:
    """Whether this control plane still has the CA the backup was taken under (read only)."""
    node.require_running()
    return meta.get("ca_sha256") == _fingerprint(node.read(CA))


def restore(node: Node, snapshot: bytes) -> str:
    """etcdutl snapshot restore, the kubelet and containers stopped, the data swapped in, the node restarted."""
    container, member = etcd_container(node), read_manifest(node)
    node.exec(["rm", "-rf", RESTORED], env=False)
    _stream(node, ["sh", "-c", 'umask 077 && cat > "$1"', "sh", RESTORE_DB], snapshot, "copying the snapshot in")
    try:
        _crictl(node, restore_argv(container, member), "etcdutl snapshot restore")
    except U7sError:
        node.exec(["rm", "-rf", RESTORED, RESTORE_DB], check=False, env=False)
        raise
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    kept = f"{ETCD_DIR}/member.before-restore-{stamp}"
    with node.report.step("stopping the kubelet and the control plane, swapping etcd's data, restarting"):
        _crictl(node, ["systemctl", "stop", "kubelet"], "systemctl stop kubelet")
        running = _crictl(node, ["crictl", "ps", "-q"], "crictl ps").split()
        if running:  # etcd among them: its data is swapped only once nothing writes it
            _crictl(node, ["crictl", "stop", *running], "crictl stop")
        _crictl(node, ["mv", f"{ETCD_DIR}/member", kept], "moving etcd's data aside")
        _crictl(node, ["mv", f"{RESTORED}/member", f"{ETCD_DIR}/member"], "moving the restored data in")
        node.exec(["rm", "-rf", RESTORED, RESTORE_DB], check=False, env=False)
        node.host.run(engine.engine_cmd(node.s, "restart", engine.container_name(node.s)))
        node.wait_booted()
        kube.wait_api(node)
    return f"etcd restored; the data it replaced is kept in the node at {kept}; node restarted, API answering"


def with_ca(cluster_info: dict, ca_pem: str) -> dict:
    """Pure: the cluster-info ConfigMap with its kubeconfig's CA replaced by CA_PEM (for kubeadm join)."""
    config = yaml.safe_load(cluster_info["data"]["kubeconfig"])
    for entry in config.get("clusters") or []:
        entry["cluster"]["certificate-authority-data"] = base64.b64encode(ca_pem.encode()).decode()
    meta = {k: v for k, v in cluster_info["metadata"].items() if k in ("name", "namespace")}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
            "data": {**cluster_info["data"], "kubeconfig": yaml.safe_dump(config, sort_keys=False)}}


def publish_ca(node: Node) -> None:
    """The restored cluster-info names the old CA: name this control plane's, or no worker could join."""
    got = kube.kubectl(node, "-n", "kube-public", "get", "configmap", "cluster-info", "-o", "json")
    fixed = with_ca(json.loads(got.stdout), node.read(CA))
    kube.kubectl(node, "-n", "kube-public", "patch", "configmap", "cluster-info", "--type=merge", "-p",
                 json.dumps({"data": {"kubeconfig": fixed["data"]["kubeconfig"]}}))
