"""etcd's side of the u7s TEST STAND-INS (lab only, never ships): its static pod manifest and its data dir.

The lab runs no etcd: the API stand-in keeps the objects in /var/lib/u7s-standin/objects.json. What u7s
reads of etcd is still there as kubeadm makes it: /etc/kubernetes/manifests/etcd.yaml with the flags
kubeadm v1.35 writes (the member's name, peer and client URLs, the config's extraArgs over them), and
/var/lib/etcd/member/snap/db, which holds a mark, or, once an `etcdutl snapshot restore` (the crictl
stand-in's) was swapped in there, the snapshot's objects: the API stand-in adopts them when it next
starts, as etcd serves a restored member's data.
"""

import os

import yaml

from u7s_standin_common import host_path, read_json, write_json

MANIFEST = "/etc/kubernetes/manifests/etcd.yaml"
DATA_DIR = "/var/lib/etcd"
DB = f"{DATA_DIR}/member/snap/db"
PKI = "/etc/kubernetes/pki/etcd"
PEER_PORT = 2380  # kubeadm's constant for local etcd


def manifest(name, advertise, extra_args):
    """The static pod kubeadm writes for local etcd: its defaults, then the config's extraArgs over them."""
    flags = {
        "advertise-client-urls": f"https://{advertise}:2379",
        "cert-file": f"{PKI}/server.crt", "client-cert-auth": "true", "data-dir": DATA_DIR,
        "feature-gates": "InitialCorruptCheck=true",
        "initial-advertise-peer-urls": f"https://{advertise}:{PEER_PORT}",
        "initial-cluster": f"{name}=https://{advertise}:{PEER_PORT}",
        "key-file": f"{PKI}/server.key", "listen-client-urls": f"https://127.0.0.1:2379,https://{advertise}:2379",
        "listen-metrics-urls": "http://127.0.0.1:2381", "listen-peer-urls": f"https://{advertise}:{PEER_PORT}",
        "name": name, "peer-cert-file": f"{PKI}/peer.crt", "peer-client-cert-auth": "true",
        "peer-key-file": f"{PKI}/peer.key", "peer-trusted-ca-file": f"{PKI}/ca.crt", "snapshot-count": "10000",
        "trusted-ca-file": f"{PKI}/ca.crt",
    }
    flags.update({a["name"]: a["value"] for a in extra_args or []})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "etcd", "namespace": "kube-system", "labels": {"component": "etcd", "tier": "control-plane"},
        "annotations": {"kubeadm.kubernetes.io/etcd.advertise-client-urls": flags["advertise-client-urls"]}},
        "spec": {"containers": [{"name": "etcd", "image": "registry.k8s.io/etcd:3.6.5-0",
                                 "command": ["etcd", *(f"--{k}={v}" for k, v in sorted(flags.items()))],
                                 "volumeMounts": [{"mountPath": DATA_DIR, "name": "etcd-data"},
                                                  {"mountPath": PKI, "name": "etcd-certs"}]}],
                 "hostNetwork": True, "priorityClassName": "system-node-critical",
                 "volumes": [{"hostPath": {"path": PKI, "type": "DirectoryOrCreate"}, "name": "etcd-certs"},
                             {"hostPath": {"path": DATA_DIR, "type": "DirectoryOrCreate"}, "name": "etcd-data"}]}}


def write_manifest(name, advertise, extra_args):
    path = host_path(MANIFEST)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        yaml.safe_dump(manifest(name, advertise, extra_args), f, sort_keys=False, width=1 << 16)  # as Go, unwrapped
    os.chmod(path, 0o600)


def adopt_restored():
    """The objects of a restored member swapped in while stopped, or None (the mark made if missing)."""
    doc = read_json(host_path(DB), None)
    if not isinstance(doc, dict) or not doc.get("restored"):
        if doc is None:
            os.makedirs(host_path(os.path.dirname(DB)), mode=0o700, exist_ok=True)
            write_json(host_path(DB), {"u7s-standin": "the objects are in /var/lib/u7s-standin/objects.json"},
                       0o600)
        return None
    write_json(host_path(DB), {"u7s-standin": "restored; the objects are in /var/lib/u7s-standin/objects.json"},
               0o600)
    return {k: v for k, v in doc.items() if k not in ("restored", "member")}
