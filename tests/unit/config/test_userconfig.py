"""`u7s multi-node`: recording U7S_MULTI_NODE in the user's config without losing anything."""

import pytest
import yaml

from u7s.config import userconfig
from u7s.errors import U7sError


def test_keeps_other_keys(tmp_path):
    path = tmp_path / "u7s.yaml"
    path.write_text("u7s:\n  PORT_ETCD: 12379\n  HOST_IP: 192.0.2.10\nrun:\n  echo: true\n")
    assert userconfig.enable_multi_node(str(path)) == path
    assert yaml.safe_load(path.read_text()) == {
        "u7s": {"PORT_ETCD": 12379, "HOST_IP": "192.0.2.10", "U7S_MULTI_NODE": True},
        "run": {"echo": True},
    }
    assert [p.name for p in tmp_path.iterdir()] == ["u7s.yaml"]  # no temporary file left


def test_creates_the_file_and_is_idempotent(tmp_path):
    path = tmp_path / "new.yaml"
    userconfig.enable_multi_node(str(path))
    first = path.read_text()
    assert yaml.safe_load(first) == {"u7s": {"U7S_MULTI_NODE": True}}
    userconfig.enable_multi_node(str(path))
    assert path.read_text() == first


def test_empty_file_is_fine(tmp_path):
    path = tmp_path / "u7s.yaml"
    path.write_text("")
    userconfig.enable_multi_node(str(path))
    assert yaml.safe_load(path.read_text()) == {"u7s": {"U7S_MULTI_NODE": True}}


def test_default_path_is_in_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert userconfig.enable_multi_node() == tmp_path / ".u7s.yaml"
    assert (tmp_path / ".u7s.yaml").stat().st_mode & 0o777 == 0o600


def test_the_files_mode_is_kept(tmp_path):
    path = tmp_path / "u7s.yaml"
    path.write_text("sudo:\n  password: secret\n")
    path.chmod(0o600)
    userconfig.enable_multi_node(str(path))
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o640)
    userconfig.enable_multi_node(str(path))
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("text, message", [
    ("- a\n- b\n", "expected a mapping with a `u7s` mapping"),
    ("u7s: [PORT_ETCD]\n", "expected a mapping with a `u7s` mapping"),
    ("just text\n", "expected a mapping"),
    ("u7s: {PORT_ETCD: 1\n", "not valid YAML"),
])
def test_refuses_a_file_it_cannot_extend_and_leaves_it_alone(tmp_path, text, message):
    path = tmp_path / "u7s.yaml"
    path.write_text(text)
    with pytest.raises(U7sError, match=message) as caught:
        userconfig.enable_multi_node(str(path))
    assert str(path) in str(caught.value)
    assert path.read_text() == text
