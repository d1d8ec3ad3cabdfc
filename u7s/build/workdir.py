"""The files u7s keeps on each host, under U7S_WORKDIR (mounted read-only at /usernetes in the node)."""

from __future__ import annotations

import hashlib

from u7s.build import render
from u7s.run.hosts import Host
from u7s.build.resources import node_image_dir
from u7s.config import storagedir
from u7s.config.settings import Settings

KUBEADM_CONFIG = "kubeadm-config.yaml"
JOIN_COMMAND = "join-command"
KUBECONFIG = "kubeconfig"
NODE_MOUNT = "/usernetes"


def files(s: Settings) -> dict[str, tuple[bytes, int]]:
    """Every file `up` places in the working directory: relative path -> (content, mode)."""
    from u7s.node import identity

    out = {
        "docker-compose.yaml": (render.compose_file(s).encode(), 0o644),
        KUBEADM_CONFIG: (render.kubeadm_config(s).encode(), 0o644),
    }
    if not s.node_image:
        for path in sorted(node_image_dir().iterdir()):
            if path.is_file():
                mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
                out[f"node/{path.name}"] = (path.read_bytes(), mode)
    out[identity.MARKER] = (identity.marker_text(s).encode(), 0o644)  # whose working directory this is
    return out


def digest(wanted: dict[str, tuple[bytes, int]]) -> str:
    """One sha256 over every file's path, mode and content: what a node was started with."""
    total = hashlib.sha256()
    for rel, (data, mode) in sorted(wanted.items()):
        total.update(f"{rel}\0{mode:o}\0{len(data)}\0".encode() + data)
    return total.hexdigest()


def file_probes(s: Settings, wanted: dict[str, tuple[bytes, int]]) -> list[list[str]]:
    """Two read-only commands per file (its sha256, its mode), for one batch."""
    return [argv for rel in wanted for argv in (["sha256sum", "--", s.path(rel)], ["stat", "-c", "%a", "--", s.path(rel)])]


def differing_in(wanted: dict[str, tuple[bytes, int]], answers: list) -> list[str]:
    """Pure: the files whose content or mode is not as wanted, from the answers to file_probes."""
    out = []
    for i, (rel, (data, want_mode)) in enumerate(wanted.items()):
        summed, mode = answers[2 * i], answers[2 * i + 1]
        same = (summed.ok and summed.stdout.split()[:1] == [hashlib.sha256(data).hexdigest()]
                and mode.ok and mode.stdout.strip() == f"{want_mode:o}")
        if not same:
            out.append(rel)
    return out


def differing(host: Host, s: Settings, wanted: dict[str, tuple[bytes, int]]) -> list[str]:
    """The files whose content or mode on `host` is not as wanted, asked in one batch."""
    return differing_in(wanted, host.run_many(file_probes(s, wanted)))


def stage(host: Host, s: Settings) -> list[str]:
    """Write the working directory on `host`; return the files that changed.

    One batch first says which files differ; only those are written (a re-run writes none).
    """
    wanted = files(s)
    todo = differing(host, s, wanted)
    host.makedirs(s.workdir, 0o700)
    host.makedirs(s.storage_dir, storagedir.MODE)  # bind-mounted into the node: it must exist (Podman refuses)
    if not todo:
        return []
    changed = []
    for rel in todo:
        data, mode = wanted[rel]
        if host.write_file(s.path(rel), data, mode):
            changed.append(rel)
    return changed


def in_node(rel: str) -> str:
    """Where a working-directory file appears inside the node."""
    return f"{NODE_MOUNT}/{rel}"
