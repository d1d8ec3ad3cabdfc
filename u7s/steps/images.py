"""Load images into every node's containerd (namespace k8s.io) without a registry.

The source is an image archive on the controller: one the user gives (`docker save`
or an OCI layout), or one `<engine> save` writes from the local engine. It is
streamed to each host into `ctr images import -` in the node, so no host keeps a
copy on the way. An image is skipped on a node that already holds it: same name,
and the same configuration digest (the image ID; it fixes the layers too), read
from a label u7s sets after importing or from the CRI plugin's `sha256:<ID>` name.
"""

from __future__ import annotations

import json
import posixpath
import re
import tarfile
from dataclasses import dataclass
from typing import Callable

try:
    import tomllib  # novermin (the fallback below is for 3.9 and 3.10)
except ModuleNotFoundError:  # Python 3.9 and 3.10: the same parser, as the tomli package (a dependency there)
    import tomli as tomllib

from u7s.render import engine
from u7s.config.settings import Settings
from u7s.errors import U7sError, last_line
from u7s.node.container import Node

NAMESPACE = "k8s.io"
ID_LABEL = "io.u7s.image-id"
CHUNK = 1 << 20


@dataclass(frozen=True)
class ArchiveImage:
    ref: str  # as containerd names it, e.g. docker.io/library/nginx:1.27
    image_id: str  # sha256:... of the image configuration


def normalise(ref: str) -> str:
    """The name containerd gives a docker-style reference: docker.io/library/x:tag for `x:tag`."""
    first, _, rest = ref.partition("/")
    if not rest:
        return f"docker.io/library/{ref}"
    if "." in first or ":" in first or first == "localhost":
        return ref
    return f"docker.io/{ref}"


def archive_images(path: str) -> list[ArchiveImage]:
    """The images in an archive, read from its own index (manifest.json, else OCI index.json)."""
    try:
        with tarfile.open(path) as tar:
            names = set(tar.getnames())
            if "manifest.json" in names:
                return _from_docker_manifest(json.load(tar.extractfile("manifest.json")))
            if "index.json" in names:
                return _from_oci_index(tar)
    except (OSError, tarfile.TarError, ValueError, KeyError, TypeError) as exc:
        why = last_line(str(exc), type(exc).__name__).strip("- ")
        raise U7sError(f"{path}: not a readable image archive ({why}); make one with `docker save -o FILE IMAGE`") \
            from None
    raise U7sError(f"{path}: neither manifest.json nor index.json in it: not a `docker save` or OCI archive")


def _from_docker_manifest(manifest: list) -> list[ArchiveImage]:
    out = []
    for entry in manifest:
        config = posixpath.basename(entry["Config"]).removesuffix(".json")
        for tag in entry.get("RepoTags") or []:
            out.append(ArchiveImage(normalise(tag), f"sha256:{config}"))
    return out


def _from_oci_index(tar: tarfile.TarFile) -> list[ArchiveImage]:
    def blob(digest: str) -> dict:
        algo, _, hexa = digest.partition(":")
        return json.load(tar.extractfile(f"blobs/{algo}/{hexa}"))

    out = []
    for desc in json.load(tar.extractfile("index.json")).get("manifests", []):
        ref = (desc.get("annotations") or {}).get("io.containerd.image.name")
        if not ref:
            continue  # a bare tag: containerd invents the name; such images are always imported
        manifest = blob(desc["digest"])
        if "config" not in manifest:  # an index of platforms: the image ID is per platform, not checked
            continue
        out.append(ArchiveImage(ref, manifest["config"]["digest"]))
    return out


def parse_ctr_images(text: str) -> dict[str, tuple[str, dict[str, str]]]:
    """Pure: `ctr images ls` rows -> {ref: (target digest, labels)}."""
    out = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 3 or not fields[2].startswith("sha256:"):
            continue
        labels = {}
        if "=" in fields[-1]:
            labels = dict(item.partition("=")[::2] for item in fields[-1].split(","))
        out[fields[0]] = (fields[2], labels)
    return out


def present(listing: dict[str, tuple[str, dict[str, str]]], image: ArchiveImage) -> bool:
    """Whether the node holds this image: the name, with the same image ID."""
    if image.ref not in listing:
        return False
    digest, labels = listing[image.ref]
    by_cri = listing.get(image.image_id, ("", {}))[0] == digest
    return labels.get(ID_LABEL) == image.image_id or by_cri


def ctr(s: Settings, *args: str, stdin: bool = False) -> list[str]:
    return engine.node_exec(s, ["ctr", "--namespace", NAMESPACE, "images", *args], env=False, stdin=stdin)


def save_argv(s: Settings, images: list[str], output: str) -> list[str]:
    """`<engine> save` of the images into one archive (Podman needs -m for more than one)."""
    multi = ["--multi-image-archive"] if s.engine_type == "podman" and len(images) > 1 else []
    return engine.engine_cmd(s, "save", *multi, "--output", output, "--", *images)


ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm/v7", "ppc64le": "ppc64le", "s390x": "s390x",
          "riscv64": "riscv64"}
CONTAINERD_CONFIG = "/etc/containerd/config.toml"
FACTS = f"uname -m; cat {CONTAINERD_CONFIG} 2>/dev/null || true"


def node_platform_and_snapshotter(text: str) -> tuple[str, str]:
    """Pure: `uname -m` then containerd's config.toml -> ("linux/<arch>", the CRI's snapshotter).

    The snapshotter is the CRI plugin's (config version 2, or 3 of containerd 2), overlayfs where unset.
    """
    machine, _, config = text.partition("\n")
    arch = ARCHES.get(machine.strip(), machine.strip())
    try:
        plugins = tomllib.loads(config).get("plugins", {})
        snapshotter = (plugins.get("io.containerd.cri.v1.images", {}).get("snapshotter")
                       or plugins.get("io.containerd.grpc.v1.cri", {}).get("containerd", {}).get("snapshotter"))
    except (tomllib.TOMLDecodeError, AttributeError):  # not TOML, or not containerd's shape
        snapshotter = None
    if not (isinstance(snapshotter, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", snapshotter)):
        snapshotter = "overlayfs"
    return f"linux/{arch}", snapshotter


def import_argv(node: Node) -> list[str]:
    """`ctr images import` of the node's platform only, unpacked with the CRI's snapshotter.

    Not --all-platforms: `docker save` with Docker's containerd image store writes an index
    of every platform (and attestations) but the blobs of the local one only.
    """
    facts = node.host.run(engine.node_exec(node.s, ["sh", "-c", FACTS], env=False)).stdout
    platform, snapshotter = node_platform_and_snapshotter(facts)
    return ctr(node.s, "import", "--platform", platform, "--snapshotter", snapshotter, "-", stdin=True)


def missing(node: Node, images: list[ArchiveImage]) -> list[ArchiveImage]:
    """The archive's images this node does not hold yet (all of them when the archive names none)."""
    listing = parse_ctr_images(node.host.run(ctr(node.s, "ls")).stdout)
    return [i for i in images if not present(listing, i)]


def load(node: Node, archive: str, images: list[ArchiveImage], progress: Callable[[str], None] | None = None) -> str:
    """Import the archive into this node unless it holds every image already; label what was imported."""
    node.require_running()
    if images and not missing(node, images):
        return f"already has {', '.join(i.ref for i in images)}: skipped"
    import os

    size = os.path.getsize(archive)
    with open(archive, "rb") as source:
        result = node.host.run_streaming(import_argv(node), source, _progress(size, progress))
    if not result.ok:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        tail = next((line for line in reversed(lines) if line.startswith("ctr:")), lines[-1] if lines else "")
        raise U7sError(f"{node.host.name}: ctr images import failed: {tail or f'exit {result.exited}'}")
    for image in images:
        node.host.run(ctr(node.s, "label", image.ref, f"{ID_LABEL}={image.image_id}"))
    names = ", ".join(i.ref for i in images) or "the archive's images"
    return f"imported {names} ({size / CHUNK:.1f} MiB) into {node.s.node_name}"


def _progress(size: int, report: Callable[[str], None] | None):
    """Report at every quarter of the archive sent."""
    marks = iter([size * q // 4 for q in (1, 2, 3)])
    state = {"next": next(marks, None)}

    def sent(count: int) -> None:
        if report and state["next"] is not None and count >= state["next"]:
            report(f"sent {count / CHUNK:.1f} of {size / CHUNK:.1f} MiB")
            state["next"] = next(marks, None)

    return sent


class Source:
    """The archive to load: the user's, or one `<engine> save` writes to a private temporary directory."""

    def __init__(self, host, s: Settings | None, names: list[str] | None, archive: str | None):
        if bool(names) == bool(archive):
            raise U7sError("load-image: give --image NAME (repeatable) or --archive FILE, not both and not neither")
        self.host, self.s, self.names, self.archive = host, s, list(names or []), archive
        self._tmp = None

    def describe(self) -> str:
        if self.archive:
            return f"the archive {self.archive}"
        return f"{', '.join(self.names)} saved from {self.s.container_engine} on {self.host.name}"

    def __enter__(self) -> tuple[str, list[ArchiveImage]]:
        import os
        import tempfile

        if self.archive:
            if not os.path.isfile(self.archive):
                raise U7sError(f"--archive {self.archive}: no such file")
            return self.archive, archive_images(self.archive)
        for name in self.names:
            if name.startswith("-") or not name.isprintable():
                raise U7sError(f"--image {name!r}: not an image name")
        self._tmp = tempfile.TemporaryDirectory(prefix="u7s-images-")  # 0700: private to this user
        path = os.path.join(self._tmp.name, "images.tar")
        r = self.host.run(save_argv(self.s, self.names, path), check=False)
        if not r.ok:
            tail = r.stderr_tail()
            raise U7sError(f"{self.host.name}: {self.s.container_engine} save failed: {tail}")
        return path, archive_images(path)

    def __exit__(self, *exc) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def load_step(source: Source, loaded: tuple[str, list[ArchiveImage]] | None):
    """The cluster step: every host in parallel, each streamed the one archive."""
    from u7s.steps.step import Step

    def action(run, m) -> str:
        path, found = loaded
        return load(m.node, path, found, m.report.info)

    def describe(m) -> list[str]:
        return [f"stream {source.describe()} into `ctr -n {NAMESPACE} images import -` in {m.settings.node_name} "
                "(skipped where every image is there with the same ID)"]

    return Step("load-image", action, describe)
