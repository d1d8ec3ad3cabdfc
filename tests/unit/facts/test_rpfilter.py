"""rp_filter in the engine's network namespace: the namespace probe run for real, the parser, the verdict.

A process in a user and network namespace of its own stands where rootlesskit's
child (or dockerd) would be; its pid goes where rootless Docker and containerd
leave theirs, under a made-up XDG_RUNTIME_DIR.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import unavailable
from u7s.facts import rpfilter
from tests.unit.u7s_fakes import make_settings


@pytest.fixture
def namespace():
    """A sleeping process in new user+network namespaces with default rp_filter 1 (all stays 0)."""
    holder = subprocess.Popen(
        ["unshare", "--user", "--map-root-user", "--net", "sh", "-c",
         "echo 1 > /proc/sys/net/ipv4/conf/default/rp_filter && echo ready && exec sleep 60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if holder.stdout.readline().strip() != "ready":
        holder.kill()
        unavailable(f"cannot make a user and network namespace here: {holder.stderr.read().strip()}")
    yield holder.pid
    holder.kill()
    holder.wait()


def probe(tmp_path: Path, engine: str, env_extra=None) -> subprocess.CompletedProcess:
    s = make_settings(CONTAINER_ENGINE=engine)
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "XDG_RUNTIME_DIR": str(tmp_path), **(env_extra or {})}
    return subprocess.run(rpfilter.namespace_probe(s), env=env, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("pid_file", ["dockerd-rootless/child_pid", "docker.pid"])
def test_docker_namespace_is_entered_by_its_pid_file(tmp_path, namespace, pid_file):
    (tmp_path / pid_file).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / pid_file).write_text(f"{namespace}\n")
    r = probe(tmp_path, "docker")
    assert r.returncode == 0, r.stderr
    assert rpfilter.parse(r.stdout) == {"all": "0", "default": "1"}
    assert rpfilter.Reading(rpfilter.parse(r.stdout)).strict == ["default"]


def test_containerd_namespace_is_entered_by_rootlesskits_child_pid(tmp_path, namespace):
    (tmp_path / "containerd-rootless").mkdir()
    (tmp_path / "containerd-rootless" / "child_pid").write_text(str(namespace))
    r = probe(tmp_path, "nerdctl")
    assert r.returncode == 0 and rpfilter.parse(r.stdout) == {"all": "0", "default": "1"}


def test_no_pid_file_or_a_stale_one_says_not_entered(tmp_path):
    assert probe(tmp_path, "docker").returncode == rpfilter.NOT_ENTERED
    (tmp_path / "docker.pid").write_text("999999999\n")
    r = probe(tmp_path, "docker")
    assert (r.returncode, r.stdout) == (rpfilter.NOT_ENTERED, "")


@pytest.mark.parametrize("text, expected", [
    ("0\n2\n", {"all": "0", "default": "2"}),
    ("1\n1\n", {"all": "1", "default": "1"}),
    ("", None), ("2\n", None), ("0\n2\n1\n", None), ("cat: x: No such file or directory\n", None),
])
def test_parse(text, expected):
    assert rpfilter.parse(text) == expected


def test_strict_is_1_in_either_all_or_default():
    assert rpfilter.Reading({"all": "1", "default": "2"}).strict == ["all"]
    assert rpfilter.Reading({"all": "0", "default": "2"}).strict == []
    assert rpfilter.Reading({}).strict == []
