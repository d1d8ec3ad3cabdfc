"""The default StorageClass: Rancher's local-path provisioner, its volumes in U7S_STORAGE_DIR on each host.

`install` renders compose/local-path-storage.yaml.j2 into the control plane's
working directory and applies it with the node's kubectl; kubectl says
`unchanged` for every object when it is in place, which is how a second
`create` knows nothing was done. A volume is a directory
`pvc-UID_NAMESPACE_NAME` under /var/local-path-provisioner in the node of its
first pod, which is U7S_STORAGE_DIR on that host (u7s/config/storagedir.py).

`down-v` takes the default directory with the cluster: emptied from inside the
running node first (pods' files belong to the node's other users, which the host
user cannot remove), then removed on the host. A directory the user set is kept.
"""

from __future__ import annotations

import json

from u7s.render import templates as render, workdir
from u7s.config import storagedir
from u7s.node.container import Node
from u7s.node.kube import kubectl

NAMESPACE = "local-path-storage"
STORAGE_CLASS = "local-path"
PROVISIONER = "rancher.io/local-path"
CONFIGMAP = "local-path-config"
MANIFEST = "local-path-storage.yaml"
# kind's images of the provisioner (kind v0.31, pkg/build/nodeimage/const_storage.go): kindest/node v1.35.0
# holds them in its containerd, so nothing is pulled (air-gapped sites included).
PROVISIONER_IMAGE = "docker.io/kindest/local-path-provisioner:v20251212-v0.29.0-alpha-105-g20ccfc88"
HELPER_IMAGE = "docker.io/kindest/local-path-helper:v20251211-v0.29.0-alpha-100-g82a92c5d"
DEFAULT_NODE = "DEFAULT_PATH_FOR_NON_LISTED_NODES"


def manifest(cluster_name: str) -> str:
    """Pure: the provisioner's objects, its volumes under the node path U7S_STORAGE_DIR is mounted at."""
    config = {"nodePathMap": [{"node": DEFAULT_NODE, "paths": [storagedir.NODE_PATH]}]}
    return render.render(
        "local-path-storage.yaml.j2", cluster_name=cluster_name, namespace=NAMESPACE,
        service_account="local-path-provisioner-service-account", role="local-path-provisioner",
        deployment="local-path-provisioner", configmap=CONFIGMAP, storage_class=STORAGE_CLASS,
        provisioner=PROVISIONER, provisioner_image=PROVISIONER_IMAGE, helper_image=HELPER_IMAGE,
        config_json=json.dumps(config, indent=2))


def changed_objects(apply_output: str) -> list[str]:
    """Pure: the objects `kubectl apply` created or changed (every line but `KIND/NAME unchanged`, with or
    without ` (server dry run)`)."""
    return [line.split()[0] for line in apply_output.splitlines()
            if line.strip() and not line.rstrip().removesuffix(" (server dry run)").endswith(" unchanged")]


def dry_run(name: str) -> tuple[str, ...]:
    """kubectl's arguments for a server-side dry run of a manifest of the working directory (read-only)."""
    return ("apply", "--dry-run=server", "-f", workdir.in_node(name))


def manifest_probes(s, name: str, text: str) -> list[list[str]]:
    """What `apply_manifest` reads first (one batch, or create's look): the manifest on the host, and what
    applying it would change."""
    from u7s.render import engine

    return [*workdir.file_probes(s, {name: (text.encode(), 0o644)}),
            engine.node_exec(s, ["kubectl", *dry_run(name)], stdin=False)]


def probes(s) -> list[list[str]]:
    """The storage manifest's probes (create's look asks them)."""
    return manifest_probes(s, MANIFEST, manifest(s.cluster or s.project))


DRY_RUN = dry_run(MANIFEST)


def apply_manifest(node: Node, name: str, text: str) -> list[str]:
    """Write a manifest into the working directory and kubectl apply it in the node; the objects it changed.

    When the manifest on the host is this text and a server-side dry run of it says every object is
    unchanged, neither the write nor the apply is made (one batch instead of two round trips).
    """
    summed, mode, dry = node.host.run_many(manifest_probes(node.s, name, text))
    same = not workdir.differing_in({name: (text.encode(), 0o644)}, [summed, mode])
    if same and dry.ok and dry.stdout.strip() and not changed_objects(dry.stdout):
        return []
    if not same:
        node.host.write_file(node.s.path(name), text, 0o644)
    return changed_objects(kubectl(node, "apply", "-f", workdir.in_node(name)).stdout)


def install(node: Node) -> tuple[str, bool]:
    """Apply the manifest; what to say, and whether kubectl changed any object.

    Its reads are create's look's (u7s/node/look.py): an idle create finds the manifest the one u7s
    renders and nothing to change, and makes no write or apply. Not preceded by a look at the node (create ran flannel's a moment ago): on a stopped node
    kubectl's exec fails with the engine's own "is not running" line.
    """
    s = node.s
    changed = apply_manifest(node, MANIFEST, manifest(s.cluster or s.project))
    where = f"StorageClass {STORAGE_CLASS}, the default; volumes in {s.storage_dir} on each host"
    if not changed:
        return f"local-path storage already installed ({where})", False
    return f"local-path storage installed ({where}): {', '.join(changed)}", True


def empty_in_node(node: Node) -> None:
    """Before down-v: empty the default volume directory from inside the running node (a user's is left alone)."""
    if storagedir.is_default(node.s) and node.running():
        node.exec(["find", storagedir.NODE_PATH, "-mindepth", "1", "-delete"], env=False, check=False)


def remove_dir(node: Node) -> str:
    """After down-v: remove the default volume directory on the host; what was done, for the report."""
    path = node.s.storage_dir
    if not storagedir.is_default(node.s):
        return f"volumes kept in {path} (U7S_STORAGE_DIR is yours: u7s never deletes it)"
    r = node.host.run(["rm", "-rf", "--", path], check=False)
    if not r.ok:  # files of the node's other users, left when the node was not running to empty it
        node.report.warn(f"{path} not removed: {r.stderr_tail()}; start the node "
                         "(`u7s up`) and run down-v again, or remove it as root")
        return f"{path} not removed"
    return f"volumes removed ({path})"
