"""The files u7s keeps on each host, under U7S_WORKDIR (mounted read-only at /usernetes in the node)."""

from __future__ import annotations

from u7s.build import render
from u7s.run.hosts import Host
from u7s.build.resources import node_image_dir
from u7s.config.settings import Settings

KUBEADM_CONFIG = "kubeadm-config.yaml"
JOIN_COMMAND = "join-command"
KUBECONFIG = "kubeconfig"
NODE_MOUNT = "/usernetes"


def files(s: Settings) -> dict[str, tuple[bytes, int]]:
    """Every file `up` places in the working directory: relative path -> (content, mode)."""
    out = {
        "docker-compose.yaml": (render.compose_file(s).encode(), 0o644),
        KUBEADM_CONFIG: (render.kubeadm_config(s).encode(), 0o644),
    }
    if not s.node_image:
        for path in sorted(node_image_dir().iterdir()):
            if path.is_file():
                mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
                out[f"node/{path.name}"] = (path.read_bytes(), mode)
    return out


def stage(host: Host, s: Settings) -> list[str]:
    """Write the working directory on `host`; return the files that changed."""
    host.makedirs(s.workdir, 0o700)
    changed = []
    for rel, (data, mode) in files(s).items():
        if host.write_file(s.path(rel), data, mode):
            changed.append(rel)
    return changed


def in_node(rel: str) -> str:
    """Where a working-directory file appears inside the node."""
    return f"{NODE_MOUNT}/{rel}"
