"""The air-gapped bundle: its manifest and sha256 checks, bad bundles refused in one line before any host is
touched, the load on one host (fake), and the registry failure's one line."""

from __future__ import annotations

import json
import tarfile

import pytest
from invoke import Context

from u7s.render import bundle
from u7s.errors import CommandFailed, U7sError
from u7s.node.container import Node
from u7s.steps import airgap
from tests.image_archive import docker_save
from tests.unit.u7s_fakes import FakeHost, make_settings

NODE_ID = "sha256:" + "ab" * 32
BUILDKIT = ('failed to solve: kindest/node:v1.35.0@sha256:452d: failed to resolve source metadata for '
            'docker.io/kindest/node:v1.35.0: failed to do request: Head "https://registry-1.docker.io/v2/kindest/'
            'node/manifests/sha256:452d": dial tcp: lookup registry-1.docker.io on 10.0.2.3:53: no such host')


def make_bundle(tmp_path, name="b.tar"):
    node_tar, pods_tar = tmp_path / "node.tar", tmp_path / "pods.tar"
    docker_save(str(node_tar), ref="docker.io/u7s-test/node:1", content="node\n")
    pod_id = docker_save(str(pods_tar), ref="ghcr.io/flannel-io/flannel:v0.27.4", content="flannel\n")
    out = tmp_path / name
    manifest = bundle.write(str(out), "u7s-test/node:1", [("ghcr.io/flannel-io/flannel:v0.27.4", pod_id)],
                            {bundle.NODE_IMAGE: str(node_tar), bundle.IMAGES: str(pods_tar)}, NODE_ID)
    return out, manifest


def test_a_bundle_lists_its_members_with_size_and_sha256_and_verifies(tmp_path):
    path, written = make_bundle(tmp_path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with tarfile.open(path) as tar:
        assert tar.getnames() == [bundle.MANIFEST, bundle.NODE_IMAGE, bundle.IMAGES]
        data = json.load(tar.extractfile(bundle.MANIFEST))
    assert data["node_image"] == "u7s-test/node:1" and data["node_image_id"] == NODE_ID
    assert set(data["members"]) == {bundle.NODE_IMAGE, bundle.IMAGES}
    assert all(len(m["sha256"]) == 64 and m["size"] > 0 for m in data["members"].values())
    assert bundle.verify(str(path)) == written


def _rewrite(path, change):
    """The bundle again, each member (name, bytes) passed through change (None: left out)."""
    with tarfile.open(path) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(path, "w") as tar:
        for m, data in members:
            data = change(m.name, data)
            if data is not None:
                m.size = len(data)
                import io

                tar.addfile(m, io.BytesIO(data))


def _flip_last_byte(name, data):
    return data[:-1] + bytes([data[-1] ^ 1]) if name == bundle.NODE_IMAGE else data


BAD = {
    "missing": (lambda p: p.unlink(), "no such file; copy the bundle from where `u7s bundle` wrote it"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "truncated"),
    "not a tar": (lambda p: p.write_text("hello\n"), "not a readable tar file"),
    "corrupt": (lambda p: _rewrite(p, _flip_last_byte), "node-image.tar does not match its sha256"),
    "no member": (lambda p: _rewrite(p, lambda n, d: None if n == bundle.IMAGES else d), "images.tar is missing"),
    "no manifest": (lambda p: _rewrite(p, lambda n, d: None if n == bundle.MANIFEST else d), "not a u7s bundle"),
    "manifest not JSON": (lambda p: _rewrite(p, lambda n, d: b"{" if n == bundle.MANIFEST else d), "is not JSON"),
    "no sha256": (lambda p: _rewrite(p, lambda n, d: json.dumps({**json.loads(d), "members": {}}).encode()
                                     if n == bundle.MANIFEST else d), "has no size and sha256 for node-image.tar"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_bundle_is_one_line_naming_the_file_and_the_fix(tmp_path, case):
    path, _ = make_bundle(tmp_path)
    spoil, why = BAD[case]
    spoil(path)
    with pytest.raises(U7sError) as caught:
        bundle.verify(str(path))
    line = str(caught.value)
    assert "\n" not in line and line.startswith(f"--input {path}: ") and why in line, line
    if case != "missing":
        assert line.endswith(bundle.REBUILD)


@pytest.mark.parametrize("task", ["load_bundle", "cluster_load_bundle"])
def test_a_bad_bundle_touches_no_host(tmp_path, monkeypatch, task):
    import u7s.tasks.airgap as tasks
    import u7s.tasks.cluster as cluster

    def touched(*args, **kwargs):
        raise AssertionError("a host was opened before the bundle was checked")

    monkeypatch.setattr(tasks, "this_host", touched)
    monkeypatch.setattr(cluster, "_open", touched)
    path = tmp_path / "b.tar"
    path.write_bytes(b"\0" * 1024)
    with pytest.raises(U7sError, match=f"--input {path}: "):
        getattr(tasks, task)(Context(), input=str(path))


def _node(kept_index=None, listing="REF TYPE DIGEST SIZE PLATFORMS LABELS\n", image_id=""):
    s = make_settings()
    files = {s.path(airgap.KEPT_INDEX): kept_index} if kept_index else {}
    host = FakeHost(files).on("docker", "inspect", stdout='{"Running": true}')
    host.on("docker", "image", "inspect", stdout=image_id, exited=0 if image_id else 1)
    host.on("docker", "load", stdout="Loaded image: u7s-test/node:1\n")
    host.on("dd", stdout="")
    host.on("mv", stdout="")
    host.on("docker", "exec", contains="ls", stdout=listing)
    host.on("docker", "exec", contains="import", stdout="unpacking ...done\n")
    host.on("docker", "exec", contains="label", stdout="")
    host.on("docker", "exec", contains="uname", stdout="x86_64\n")
    return Node(host, s), host, s


def test_load_on_a_host_loads_the_node_image_keeps_the_pod_images_and_imports_them(tmp_path):
    path, manifest = make_bundle(tmp_path)
    node, host, s = _node()
    message = airgap.load_on(node, str(path), manifest)
    assert message.startswith("u7s-test/node:1 loaded into docker; images kept; imported the bundle's 1")
    with tarfile.open(path) as tar:
        assert host.streamed == [tar.extractfile(bundle.NODE_IMAGE).read(), tar.extractfile(bundle.IMAGES).read()]
    assert ["dd", f"of={s.path(airgap.KEPT)}.partial", "bs=1M", "status=none"] in host.calls
    assert any(c[-1] == f"/usernetes/{airgap.KEPT}" and "import" in c for c in host.calls)
    index = json.loads(host.files[s.path(airgap.KEPT_INDEX)])
    assert index["images"][0]["ref"] == "ghcr.io/flannel-io/flannel:v0.27.4"


def test_a_second_load_sends_nothing(tmp_path):
    path, manifest = make_bundle(tmp_path)
    kept = json.dumps({"sha256": manifest.members[bundle.IMAGES]["sha256"],
                       "images": [{"ref": r, "image_id": i} for r, i in manifest.images]})
    ref, image_id = manifest.images[0]
    listing = f"REF TYPE DIGEST SIZE PLATFORMS LABELS\n{ref} x sha256:{'cd' * 32} 1 linux/amd64 " \
              f"io.u7s.image-id={image_id}\n"
    node, host, _ = _node(kept, listing, image_id=NODE_ID)
    message = airgap.load_on(node, str(path), manifest)
    assert message == ("u7s-test/node:1 already in docker; images already kept; "
                       "the bundle's 1 image(s) already in u7s-host1")
    assert not getattr(host, "streamed", None)


def test_up_of_a_node_without_kept_images_asks_nothing_more():
    node, host, _ = _node()
    assert airgap.import_kept(node) is None
    assert host.calls == []


def test_a_registry_failure_names_the_bundle_path_in_one_line():
    hint = bundle.registry_hint(BUILDKIT)
    assert hint and "\n" not in hint and "u7s bundle --output FILE" in hint and "load-bundle --input FILE" in hint
    assert bundle.registry_hint("Error: no space left on device") is None


def test_compose_up_s_registry_failure_ends_with_that_line():
    node, host, s = _node()
    host.on("docker", "compose", exited=1, stderr=f"#1 building\n{BUILDKIT}\n")
    with pytest.raises(U7sError) as caught:
        node._compose_up(recreate=False)
    assert not isinstance(caught.value, CommandFailed)
    assert str(caught.value).splitlines()[-1] == f"fake: {bundle.NO_REGISTRY}"
