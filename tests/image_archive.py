"""Write small image archives for tests: `docker save` (v1.2) and OCI layouts, built in Python.

The archives are real ones (containerd's `ctr images import` reads them); their one layer
holds a few text files. Used by unit tests (digests, skipping) and the lab (import into nodes).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

ARCH = "amd64"


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _layer_and_config(content: str) -> tuple[bytes, bytes]:
    layer = _tar({"hello.txt": content.encode(), "etc/u7s-test-image": b"1\n"})
    config = json.dumps({
        "architecture": ARCH, "os": "linux",
        "config": {"Cmd": ["/hello"], "Env": ["PATH=/"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{_sha(layer)}"]},
        "history": [{"created_by": "u7s tests/image_archive.py"}],
    }, sort_keys=True).encode()
    return layer, config


def docker_save(path: str, ref: str = "docker.io/u7s-test/hello:1", content: str = "hello\n") -> str:
    """A `docker save` archive of one image; returns its config digest (the image ID)."""
    layer, config = _layer_and_config(content)
    tag = ref.removeprefix("docker.io/").removeprefix("library/")
    manifest = [{"Config": f"{_sha(config)}.json", "RepoTags": [tag], "Layers": [f"{_sha(layer)}/layer.tar"]}]
    files = {f"{_sha(config)}.json": config, f"{_sha(layer)}/layer.tar": layer,
             "manifest.json": json.dumps(manifest).encode()}
    with open(path, "wb") as handle:
        handle.write(_tar(files))
    return f"sha256:{_sha(config)}"


def oci_archive(path: str, ref: str = "docker.io/u7s-test/hello:2", content: str = "hello oci\n") -> str:
    """An OCI image layout archive of one image (as `docker save` of Docker 25+ writes); returns its manifest digest."""
    layer, config = _layer_and_config(content)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": f"sha256:{_sha(config)}",
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": f"sha256:{_sha(layer)}",
                    "size": len(layer)}],
    }, sort_keys=True).encode()
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": f"sha256:{_sha(manifest)}",
        "size": len(manifest),
        "annotations": {"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[-1]},
    }]}
    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": json.dumps(index).encode(),
             **{f"blobs/sha256/{_sha(b)}": b for b in (layer, config, manifest)}}
    with open(path, "wb") as handle:
        handle.write(_tar(files))
    return f"sha256:{_sha(manifest)}"


def containerd_store_save(path: str, ref: str = "docker.io/u7s-test/multi:1", content: str = "hello multi\n",
                          others: tuple[str, ...] = ("arm64",)) -> str:
    """A `docker save` archive as Docker with the containerd image store writes it (Docker 29's default).

    An OCI layout whose index.json names the image's index of platforms: linux/amd64, the `others`
    and an attestation manifest per platform (platform unknown/unknown). Only amd64's blobs are in
    the archive, as `docker save` leaves out what the local store never pulled. manifest.json and
    oci-layout are there as docker writes them. Returns the amd64 config digest (the image ID).
    """
    layer, config = _layer_and_config(content)
    manifest = _manifest(config, layer)
    absent = {arch: _manifest(*_layer_and_config(f"{content}{arch}\n")) for arch in others}

    def desc(data: bytes, arch: str) -> dict:
        return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": f"sha256:{_sha(data)}",
                "size": len(data), "platform": {"architecture": arch, "os": "linux"}}

    platforms = [desc(manifest, ARCH), *(desc(m, arch) for arch, m in absent.items())]
    attestations = [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": f"sha256:{_sha(p['digest'].encode())}", "size": 840,
        "annotations": {"vnd.docker.reference.digest": p["digest"],
                        "vnd.docker.reference.type": "attestation-manifest"},
        "platform": {"architecture": "unknown", "os": "unknown"},
    } for p in platforms]
    image_index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                              "manifests": platforms + attestations}, sort_keys=True).encode()
    tag = ref.rsplit(":", 1)[-1]
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": f"sha256:{_sha(image_index)}",
        "size": len(image_index),
        "annotations": {"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": tag},
    }]}
    short = ref.removeprefix("docker.io/").removeprefix("library/")
    docker_manifest = [{"Config": f"blobs/sha256/{_sha(config)}", "RepoTags": [short],
                        "Layers": [f"blobs/sha256/{_sha(layer)}"]}]
    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": json.dumps(index).encode(),
             "manifest.json": json.dumps(docker_manifest).encode(),
             **{f"blobs/sha256/{_sha(b)}": b for b in (layer, config, manifest, image_index)}}
    with open(path, "wb") as handle:
        handle.write(_tar(files))
    return f"sha256:{_sha(config)}"


def _manifest(config: bytes, layer: bytes) -> bytes:
    return json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": f"sha256:{_sha(config)}",
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": f"sha256:{_sha(layer)}",
                    "size": len(layer)}],
    }, sort_keys=True).encode()
