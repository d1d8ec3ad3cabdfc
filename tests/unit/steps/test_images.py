"""load-image: archives read by their own index, nodes that hold an image skipped, input streamed."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from u7s.steps import images
from u7s.errors import U7sError
from u7s.run.hosts import LocalHost, Result
from u7s.node.container import Node
from tests.image_archive import containerd_store_save, docker_save, oci_archive
from tests.unit.u7s_fakes import FakeHost, make_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LISTING = (FIXTURES / "ctr-1.6.20-images-ls.txt").read_text()
DOCKER_ID = "sha256:ffdc04f1da1708971457357bb932385cd66cfaf4c5ed9cd63b4c951000f56378"


def test_docker_save_and_oci_archives_name_their_images_and_ids(tmp_path):
    image_id = docker_save(str(tmp_path / "d.tar"))
    assert image_id == DOCKER_ID  # the archive is reproducible: the fixture was recorded from it
    assert images.archive_images(str(tmp_path / "d.tar")) == [
        images.ArchiveImage("docker.io/u7s-test/hello:1", DOCKER_ID)]
    oci_archive(str(tmp_path / "o.tar"))
    (oci,) = images.archive_images(str(tmp_path / "o.tar"))
    assert oci.ref == "docker.io/u7s-test/hello:2" and oci.image_id.startswith("sha256:")


@pytest.mark.parametrize("ref, name", [
    ("nginx:1.27", "docker.io/library/nginx:1.27"),
    ("u7s-test/hello:1", "docker.io/u7s-test/hello:1"),
    ("localhost/app:dev", "localhost/app:dev"),
    ("registry.example:5000/a/b:c", "registry.example:5000/a/b:c"),
])
def test_references_are_named_as_containerd_names_them(ref, name):
    assert images.normalise(ref) == name


def test_not_an_archive_is_one_clear_line(tmp_path):
    (tmp_path / "x.tar").write_text("hello")
    with pytest.raises(U7sError, match=r"x.tar: not a readable image archive .*docker save -o FILE IMAGE"):
        images.archive_images(str(tmp_path / "x.tar"))


def test_recorded_ctr_listing_is_parsed():
    listing = images.parse_ctr_images(LISTING)
    digest, labels = listing["docker.io/u7s-test/hello:1"]
    assert digest.startswith("sha256:9339b1") and labels[images.ID_LABEL] == DOCKER_ID
    assert listing["docker.io/u7s-test/hello:2"][1] == {"io.cri-containerd.image": "managed"}


def test_an_image_is_present_by_label_or_by_the_cri_image_id_and_not_by_name_alone():
    listing = images.parse_ctr_images(LISTING)
    assert images.present(listing, images.ArchiveImage("docker.io/u7s-test/hello:1", DOCKER_ID))
    cri_id = "sha256:d3790cfcdbe38d0ade12542488ca9ca83278e5e21fe144a1fcd0c808a5d1b894"
    assert images.present(listing, images.ArchiveImage("docker.io/u7s-test/hello:2", cri_id))
    assert not images.present(listing, images.ArchiveImage("docker.io/u7s-test/hello:2", DOCKER_ID))
    assert not images.present(listing, images.ArchiveImage("docker.io/u7s-test/other:1", DOCKER_ID))


def _node(listing: str):
    s = make_settings()
    host = FakeHost().on("docker", "inspect", stdout='{"Running": true}')
    host.on("docker", "exec", contains="ls", stdout=listing)
    host.on("docker", "exec", contains="import", stdout="unpacking ...done\n")
    host.on("docker", "exec", contains="label", stdout="")
    host.on("docker", "exec", contains="uname", stdout="x86_64\n")
    return Node(host, s), host


def test_load_streams_the_archive_into_ctr_import_then_labels_each_image(tmp_path):
    path = tmp_path / "d.tar"
    docker_save(str(path))
    node, host = _node("REF TYPE DIGEST SIZE PLATFORMS LABELS\n")
    said = []
    message = images.load(node, str(path), images.archive_images(str(path)), said.append)
    assert message.startswith("imported docker.io/u7s-test/hello:1 (")
    assert host.streamed == [path.read_bytes()]
    assert ["docker", "exec", "-i", "u7s-node", "ctr", "--namespace", "k8s.io", "images", "import",
            "--platform", "linux/amd64", "--snapshotter", "overlayfs", "-"] in host.calls
    assert ["docker", "exec", "u7s-node", "ctr", "--namespace", "k8s.io", "images", "label",
            "docker.io/u7s-test/hello:1", f"{images.ID_LABEL}={DOCKER_ID}"] in host.calls
    assert said and said[-1].startswith("sent ")


def test_load_skips_a_node_that_has_every_image(tmp_path):
    path = tmp_path / "d.tar"
    docker_save(str(path))
    node, host = _node(LISTING)
    assert images.load(node, str(path), images.archive_images(str(path))) == \
        "already has docker.io/u7s-test/hello:1: skipped"
    assert not getattr(host, "streamed", None)


def test_a_failed_import_names_the_host_and_ctr_s_last_line(tmp_path):
    path = tmp_path / "d.tar"
    docker_save(str(path))
    node, host = _node("")
    host.on("docker", "exec", contains="import", exited=1, stderr="ctr: failed to unpack\nctr: no space left on device\n")
    with pytest.raises(U7sError, match="fake: ctr images import failed: ctr: no space left on device"):
        images.load(node, str(path), images.archive_images(str(path)))


def test_a_failed_import_is_one_line_with_ctr_s_message_even_when_a_log_line_follows(tmp_path):
    path = tmp_path / "d.tar"
    docker_save(str(path))
    node, host = _node("")
    err = ("ctr: content digest sha256:1234: not found\n"
           "time=\"2026-12-05T03:00:00Z\" level=info msg=\"closing\"\n")
    host.on("docker", "exec", contains="import", exited=1, stderr=err)
    with pytest.raises(U7sError) as caught:
        images.load(node, str(path), images.archive_images(str(path)))
    assert str(caught.value) == "fake: ctr images import failed: ctr: content digest sha256:1234: not found"


ARM_KIND_CONFIG = """version = 2
[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "runc"
  snapshotter = "fuse-overlayfs"
"""


@pytest.mark.parametrize("facts, expected", [
    ("x86_64\n", ("linux/amd64", "overlayfs")),
    ("aarch64\n" + ARM_KIND_CONFIG, ("linux/arm64", "fuse-overlayfs")),
    ("x86_64\n[plugins.'io.containerd.cri.v1.images']\nsnapshotter = 'native'\n", ("linux/amd64", "native")),
    ("x86_64\nnot = toml = at all\n", ("linux/amd64", "overlayfs")),
])
def test_the_node_s_platform_and_the_cri_s_snapshotter(facts, expected):
    assert images.node_platform_and_snapshotter(facts) == expected


def test_a_containerd_store_archive_is_read_by_its_docker_manifest(tmp_path):
    path = tmp_path / "m.tar"
    image_id = containerd_store_save(str(path))
    assert images.archive_images(str(path)) == [images.ArchiveImage("docker.io/u7s-test/multi:1", image_id)]


def test_source_needs_exactly_one_of_images_and_archive():
    with pytest.raises(U7sError, match="give --image NAME"):
        images.Source(None, None, [], None)
    with pytest.raises(U7sError, match="not both"):
        images.Source(None, None, ["a"], "b.tar")


def test_source_saves_from_the_engine_into_a_private_directory_removed_afterwards(tmp_path):
    s = make_settings()
    host = FakeHost()
    seen = {}

    def save(argv):
        out = argv[argv.index("--output") + 1]
        seen["dir"] = str(Path(out).parent)
        docker_save(out)
        return True

    host.rules.insert(0, (lambda argv: argv[:2] == ["docker", "save"] and save(argv), Result(0, "", "")))
    with images.Source(host, s, ["u7s-test/hello:1"], None) as (path, found):
        assert found == [images.ArchiveImage("docker.io/u7s-test/hello:1", DOCKER_ID)]
        assert (Path(seen["dir"]).stat().st_mode & 0o777) == 0o700
    assert not Path(seen["dir"]).exists()
    assert host.calls[0][:5] == ["docker", "save", "--output", path, "--"]


def test_local_host_streams_binary_input_unchanged_and_large():
    data = bytes(range(256)) * 20000  # 5 MB, every byte value
    sizes = []
    r = LocalHost(None).run_streaming([sys.executable, "-c", "import sys,hashlib;"
                                       "print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())"],
                                      io.BytesIO(data), sizes.append)
    import hashlib

    assert r.ok and r.stdout.strip() == hashlib.sha256(data).hexdigest()
    assert sizes[-1] == len(data) and len(sizes) > 1


def test_local_host_streaming_into_a_command_that_stops_reading_reports_its_failure():
    r = LocalHost(None).run_streaming(["sh", "-c", "echo refused >&2; exit 3"], io.BytesIO(b"x" * (8 << 20)))
    assert (r.exited, r.stderr.strip()) == (3, "refused")
