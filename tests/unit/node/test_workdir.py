"""staging.stage on a real temporary directory through LocalHost."""

import os
import stat

import invoke

from u7s.node import staging
from u7s.render import workdir
from u7s.run.hosts import LocalHost
from u7s.render.resources import node_image_dir
from tests.unit.u7s_fakes import make_settings

NODE_FILES = sorted(f"node/{p.name}" for p in node_image_dir().iterdir() if p.is_file())


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_stage_writes_every_file_with_its_mode_then_reports_no_change(tmp_path):
    s = make_settings(U7S_WORKDIR=str(tmp_path / "work"))
    host = LocalHost(invoke.Context())
    changed = staging.stage(host, s)
    assert changed == ["docker-compose.yaml", "kubeadm-config.yaml", *NODE_FILES, ".u7s-cluster"]
    assert "node/Dockerfile" in NODE_FILES and "node/entrypoint.sh" in NODE_FILES
    root = tmp_path / "work"
    assert mode(root) == 0o700
    assert mode(root / "docker-compose.yaml") == 0o644
    assert mode(root / "node" / "Dockerfile") == 0o644
    assert mode(root / "node" / "entrypoint.sh") == 0o755  # executable in compose/node, so in the image
    assert (root / "node" / "Dockerfile").read_bytes() == (node_image_dir() / "Dockerfile").read_bytes()
    assert "u7s-host1" in (root / "kubeadm-config.yaml").read_text()
    assert (root / ".u7s-cluster").read_text() == "u7s\n"  # whose working directory this is (a single host's: u7s)

    assert staging.stage(host, s) == []


def test_stage_reports_only_what_a_setting_changed(tmp_path):
    host = LocalHost(invoke.Context())
    staging.stage(host, make_settings(U7S_WORKDIR=str(tmp_path)))
    assert staging.stage(host, make_settings(U7S_WORKDIR=str(tmp_path), PORT_KUBELET=20250)) == [
        "docker-compose.yaml", "kubeadm-config.yaml",
    ]


def test_stage_restores_a_mode_changed_by_hand(tmp_path):
    host = LocalHost(invoke.Context())
    s = make_settings(U7S_WORKDIR=str(tmp_path))
    staging.stage(host, s)
    os.chmod(tmp_path / "node" / "entrypoint.sh", 0o644)
    assert staging.stage(host, s) == ["node/entrypoint.sh"]
    assert mode(tmp_path / "node" / "entrypoint.sh") == 0o755


def test_with_a_node_image_nothing_is_built(tmp_path):
    s = make_settings(U7S_WORKDIR=str(tmp_path), NODE_IMAGE="example/node:1")
    assert sorted(workdir.files(s)) == [".u7s-cluster", "docker-compose.yaml", "kubeadm-config.yaml"]
    assert staging.stage(LocalHost(invoke.Context()), s) == ["docker-compose.yaml", "kubeadm-config.yaml",
                                                            ".u7s-cluster"]
    assert not (tmp_path / "node").exists()


def test_in_node():
    assert workdir.in_node(workdir.KUBEADM_CONFIG) == "/usernetes/kubeadm-config.yaml"
