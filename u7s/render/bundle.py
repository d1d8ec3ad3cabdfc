"""The air-gapped bundle: one tar file with everything a cluster needs that would come from a registry.

Members (a plain tar, written and read in this order):
  u7s-bundle.json  the manifest: format, the node image's name, the pod images' names, and each member's
                   size and sha256
  node-image.tar   `<engine> save` of the node image (loaded into each host's engine)
  images.tar       `<engine> save` of the pod images: Flannel's, the smoke test's, and any the user adds
                   (imported into each node's containerd)
  preloaded.tar    (when the node image preloads any) `ctr images export` of the node image's own store:
                   the control plane's images, which a node's /var volume from an older image lacks

Pure file work on the controller: nothing here runs a command. `verify` reads the whole file before any
host is touched, so a truncated or corrupt bundle stops the run in one line.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass

from u7s.errors import U7sError, last_line

MANIFEST = "u7s-bundle.json"
NODE_IMAGE = "node-image.tar"
IMAGES = "images.tar"
PRELOADED = "preloaded.tar"  # optional: the node image's own preloaded store (the control plane's images)
FORMAT = 1
CHUNK = 1 << 20

# What a cluster pulls beyond the node image's own preloaded store (kindest/node preloads the control
# plane's images): Flannel v0.27.4's chart (the version compose/node/Dockerfile installs) and `smoke-test`.
FLANNEL_IMAGES = ("ghcr.io/flannel-io/flannel-cni-plugin:v1.8.0-flannel1", "ghcr.io/flannel-io/flannel:v0.27.4")
SMOKE_IMAGES = ("docker.io/library/nginx:alpine", "docker.io/library/alpine:3")
POD_IMAGES = FLANNEL_IMAGES + SMOKE_IMAGES
# With CNI=calico: the images of Calico's manifest (compose/calico.yaml.j2, u7s/node/calico.py).
CALICO_VERSION = "v3.31.2"
CALICO_IMAGES = tuple(f"quay.io/calico/{name}:{CALICO_VERSION}" for name in ("cni", "node", "kube-controllers"))


def pod_images(cni: str) -> tuple[str, ...]:
    """Pure: the pod images a cluster of this CNI pulls: Calico's in addition with CNI=calico."""
    return POD_IMAGES + (CALICO_IMAGES if cni == "calico" else ())

NO_REGISTRY = ("no container registry in reach? build a bundle where one is (`u7s bundle --output FILE`) and "
               "load it here (`u7s load-bundle --input FILE`, or cluster.load-bundle; README: Air-gapped sites)")
REGISTRY_SIGNS = ("failed to solve", "no such host", "failed to resolve", "pull access denied",
                  "dial tcp", "i/o timeout", "registry-1.docker.io", "manifest unknown", "TLS handshake timeout")
REBUILD = "rebuild it with `u7s bundle --output FILE` where a registry is in reach"


@dataclass(frozen=True)
class Manifest:
    node_image: str
    node_image_id: str
    images: tuple[tuple[str, str], ...]  # (ref as containerd names it, image ID) of images.tar
    members: dict  # name -> {"size": int, "sha256": str}

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "node_image": self.node_image, "node_image_id": self.node_image_id,
                           "images": [{"ref": r, "image_id": i} for r, i in self.images],
                           "members": self.members}, indent=2, sort_keys=True) + "\n"


def registry_hint(stderr: str) -> str | None:
    """The one line naming the air-gapped path when a build or pull failed for want of a registry."""
    return NO_REGISTRY if any(sign in stderr for sign in REGISTRY_SIGNS) else None


def sha256_of(handle) -> tuple[int, str]:
    """(size, hex sha256) of what the binary handle yields, read in chunks."""
    digest, size = hashlib.sha256(), 0
    for chunk in iter(lambda: handle.read(CHUNK), b""):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def write(output: str, node_image: str, images: list[tuple[str, str]], files: dict[str, str],
          node_image_id: str) -> Manifest:
    """Write the bundle (0600 while written, then renamed into place) from member name -> local path."""
    members = {}
    for name, path in files.items():
        with open(path, "rb") as handle:
            size, hexa = sha256_of(handle)
        members[name] = {"size": size, "sha256": hexa}
    manifest = Manifest(node_image, node_image_id, tuple(images), members)
    partial = f"{output}.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        text = manifest.to_json().encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode = len(text), 0o644
        tar.addfile(info, io.BytesIO(text))
        for name, path in files.items():
            tar.add(path, arcname=name, recursive=False)
    os.replace(partial, output)
    return manifest


def _bad(path: str, why: str) -> U7sError:
    return U7sError(f"--input {path}: {why}; {REBUILD}")


def read_manifest(path: str, tar: tarfile.TarFile) -> Manifest:
    """The manifest, checked for shape: a member list with a size and a sha256 for both archives."""
    try:
        data = json.load(tar.extractfile(MANIFEST))
    except KeyError:
        raise _bad(path, f"no {MANIFEST} in it: not a u7s bundle") from None
    except (ValueError, AttributeError) as exc:
        raise _bad(path, f"{MANIFEST} is not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _bad(path, f"{MANIFEST} is not bundle format {FORMAT}")
    members, images = data.get("members"), data.get("images")
    node_image, node_image_id = data.get("node_image"), data.get("node_image_id")
    if not (isinstance(node_image, str) and node_image and isinstance(node_image_id, str)
            and isinstance(images, list) and isinstance(members, dict)
            and all(isinstance(i, dict) and isinstance(i.get("ref"), str) and isinstance(i.get("image_id"), str)
                    for i in images)):
        raise _bad(path, f"{MANIFEST} lacks node_image, node_image_id, images or members")
    for name in (NODE_IMAGE, IMAGES):
        entry = members.get(name)
        if not (isinstance(entry, dict) and isinstance(entry.get("size"), int)
                and isinstance(entry.get("sha256"), str)):
            raise _bad(path, f"{MANIFEST} has no size and sha256 for {name}")
    return Manifest(node_image, node_image_id, tuple((i["ref"], i["image_id"]) for i in images), members)


def verify(path: str) -> Manifest:
    """Read the whole bundle: its manifest, then each member's size and sha256 against it."""
    if not os.path.isfile(path):
        raise U7sError(f"--input {path}: no such file; copy the bundle from where `u7s bundle` wrote it")
    try:
        with tarfile.open(path) as tar:
            manifest = read_manifest(path, tar)
            for name, want in manifest.members.items():
                try:
                    member = tar.getmember(name)
                except KeyError:
                    raise _bad(path, f"{name} is missing (truncated?)") from None
                size, hexa = sha256_of(tar.extractfile(member))
                if (size, hexa) != (want["size"], want["sha256"]):
                    raise _bad(path, f"{name} does not match its sha256 in {MANIFEST} (corrupt or truncated)")
            return manifest
    except tarfile.TarError:
        raise _bad(path, "not a readable tar file (truncated, or not a bundle)") from None
    except (OSError, EOFError) as exc:
        why = last_line(str(exc), type(exc).__name__)
        raise _bad(path, f"could not be read ({why}; truncated?)") from None


class Member:
    """A member of a verified bundle as a readable binary file object (a context manager)."""

    def __init__(self, path: str, name: str):
        self.path, self.name = path, name
        self._tar = None

    def __enter__(self):
        self._tar = tarfile.open(self.path)
        return self._tar.extractfile(self.name)

    def __exit__(self, *exc) -> None:
        self._tar.close()

