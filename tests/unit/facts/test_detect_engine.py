"""Engine detection: init-host/detect-engine.sh, run by u7s (facts.py) and by init-host (common.sh).

The script runs for real on trees of sockets and tools made for each case. The
comparison test builds each tree at the real places (the distributions' folders,
/run/user) inside a mount namespace of its own, then asks u7s's HostFacts on a
LocalHost and init-host's choose_engine, and requires the same answer from both.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import unavailable
from u7s.facts.host import HostFacts, parse_detected_engine, parse_engine_address
from tests.unit.u7s_fakes import FakeHost

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "init-host" / "detect-engine.sh"


def make_socket(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))  # the file stays after close, as a daemon's socket does while it runs


def make_tool(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)


@pytest.fixture
def tree(tmp_path):
    """bin/ (the whole PATH: sh and id only, plus tools a case adds), run/ (XDG_RUNTIME_DIR), places."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "id"):
        (bin_dir / tool).symlink_to(subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True,
                                                   text=True, check=True).stdout.strip())
    (tmp_path / "run").mkdir()
    return tmp_path


def detect(tree: Path, env: dict[str, str] | None = None, xdg: bool = True) -> tuple[str, str] | None:
    environment = {"PATH": str(tree / "bin"), "HOME": str(tree / "home"), **(env or {})}
    if xdg:
        environment["XDG_RUNTIME_DIR"] = str(tree / "run")
    places = [str(tree / "contrib"), str(tree / "local")]
    r = subprocess.run(["sh", str(SCRIPT), *places], env=environment, capture_output=True, text=True, timeout=30)
    assert r.returncode in (0, 1), r.stderr
    assert r.stderr == ""
    return parse_detected_engine(r.stdout) if r.returncode == 0 else None


def test_nothing_there_is_nothing_found(tree):
    assert detect(tree) is None


def test_the_debian_docker_io_place_is_found_though_off_path_and_beats_podman_on_path(tree):
    make_tool(tree / "contrib" / "dockerd-rootless.sh")
    make_tool(tree / "bin" / "podman")
    assert detect(tree) == ("docker", f"{tree}/contrib/dockerd-rootless.sh")


def test_tools_on_path_in_the_reference_order(tree):
    make_tool(tree / "bin" / "podman")
    assert detect(tree) == ("podman", f"{tree}/bin/podman")
    make_tool(tree / "local" / "containerd-rootless.sh")
    assert detect(tree) == ("nerdctl", f"{tree}/local/containerd-rootless.sh")
    make_tool(tree / "bin" / "dockerd-rootless.sh")
    assert detect(tree) == ("docker", f"{tree}/bin/dockerd-rootless.sh")


def test_a_running_engine_beats_every_installed_tool(tree):
    make_tool(tree / "bin" / "dockerd-rootless.sh")
    make_socket(tree / "run" / "podman" / "podman.sock")
    assert detect(tree) == ("podman", f"running rootless podman ({tree}/run/podman/podman.sock)")
    make_socket(tree / "run" / "containerd-rootless" / "api.sock")
    assert detect(tree)[0] == "nerdctl"
    make_socket(tree / "run" / "docker.sock")
    assert detect(tree) == ("docker", f"running rootless docker ({tree}/run/docker.sock)")


def test_docker_host_and_container_host_count_when_they_name_a_socket(tree):
    make_tool(tree / "bin" / "dockerd-rootless.sh")
    make_socket(tree / "elsewhere" / "p.sock")
    make_socket(tree / "elsewhere" / "d.sock")
    podman = {"CONTAINER_HOST": f"unix://{tree}/elsewhere/p.sock"}
    assert detect(tree, podman) == ("podman",
                                    f"running rootless podman (CONTAINER_HOST=unix://{tree}/elsewhere/p.sock)")
    docker = {**podman, "DOCKER_HOST": f"unix://{tree}/elsewhere/d.sock"}
    assert detect(tree, docker) == ("docker", f"running rootless docker (DOCKER_HOST=unix://{tree}/elsewhere/d.sock)")
    # Not a socket, or not a unix one: not a running engine.
    for value in (f"unix://{tree}/elsewhere/missing.sock", "tcp://192.0.2.1:2376", f"{tree}/elsewhere/p.sock"):
        assert detect(tree, {"CONTAINER_HOST": value, "DOCKER_HOST": value})[1] == f"{tree}/bin/dockerd-rootless.sh"


def test_a_plain_file_or_a_folder_is_not_a_socket_nor_a_tool(tree):
    (tree / "run" / "docker.sock").write_text("")
    (tree / "contrib" / "dockerd-rootless.sh").mkdir(parents=True)
    (tree / "local").mkdir()
    (tree / "local" / "containerd-rootless.sh").write_text("not executable")
    assert detect(tree) is None


def test_without_xdg_runtime_dir_the_users_run_folder_is_used(tree):
    # /run/user/<uid> of whoever runs the tests: only read here, never created.
    runtime = Path(f"/run/user/{os.getuid()}")
    expected = None
    if (runtime / "docker.sock").is_socket():
        expected = ("docker", f"running rootless docker ({runtime}/docker.sock)")
    elif (runtime / "containerd-rootless" / "api.sock").is_socket():
        expected = ("nerdctl", f"running rootless nerdctl ({runtime}/containerd-rootless/api.sock)")
    elif (runtime / "podman" / "podman.sock").is_socket():
        expected = ("podman", f"running rootless podman ({runtime}/podman/podman.sock)")
    make_socket(tree / "run" / "docker.sock")  # XDG_RUNTIME_DIR's, ignored when it is unset
    assert detect(tree, xdg=False) == expected


def test_a_docker_socket_found_without_docker_host_comes_with_its_address(tree):
    """The docker CLI asks /var/run/docker.sock unless told otherwise: u7s must be told where the daemon is."""
    make_socket(tree / "run" / "docker.sock")
    out = subprocess.run(["sh", str(SCRIPT)], env={"PATH": str(tree / "bin"), "XDG_RUNTIME_DIR": str(tree / "run")},
                         capture_output=True, text=True, timeout=30).stdout
    assert out == f"docker\trunning rootless docker ({tree}/run/docker.sock)\tunix://{tree}/run/docker.sock\n"
    assert parse_engine_address(out) == f"unix://{tree}/run/docker.sock"
    assert parse_detected_engine(out) == ("docker", f"running rootless docker ({tree}/run/docker.sock)")
    # With DOCKER_HOST set (to anything), the CLI follows it: no address of ours.
    for value in (f"unix://{tree}/run/docker.sock", "tcp://192.0.2.1:2376"):
        out = subprocess.run(["sh", str(SCRIPT)], env={"PATH": str(tree / "bin"), "DOCKER_HOST": value,
                                                         "XDG_RUNTIME_DIR": str(tree / "run")},
                             capture_output=True, text=True, timeout=30).stdout
        assert parse_engine_address(out) == "" and out.count("\t") == 1


@pytest.mark.parametrize("text, expected", [
    ("docker\t/usr/share/docker.io/contrib/dockerd-rootless.sh\n",
     ("docker", "/usr/share/docker.io/contrib/dockerd-rootless.sh")),
    ("podman\trunning rootless podman (/run/user/1000/podman/podman.sock)\n",
     ("podman", "running rootless podman (/run/user/1000/podman/podman.sock)")),
    ("", None), ("docker\n", None), ("lxc\t/usr/bin/lxc\n", None), ("docker\t\n", None),
])
def test_parse_detected_engine(text, expected):
    assert parse_detected_engine(text) == expected


def test_u7s_runs_the_script_once_as_one_command_with_no_host_value_in_it():
    script = SCRIPT.read_text()
    host = FakeHost().on("sh", "-c", script, stdout="docker\t/usr/share/docker.io/contrib/dockerd-rootless.sh\n")
    facts = HostFacts(host)
    assert facts.detected_engine() == ("docker", "/usr/share/docker.io/contrib/dockerd-rootless.sh")
    assert facts.detected_engine() == ("docker", "/usr/share/docker.io/contrib/dockerd-rootless.sh")
    assert host.calls == [["sh", "-c", script, "detect-engine.sh"]]
    assert HostFacts(FakeHost().on("sh", "-c", script, exited=1)).detected_engine() is None


def test_shellcheck_posix_sh():
    if subprocess.run(["sh", "-c", "command -v shellcheck"], capture_output=True).returncode != 0:
        unavailable("shellcheck is not installed (apt-get install shellcheck)")
    r = subprocess.run(["shellcheck", "--shell=sh", str(SCRIPT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# ---- u7s and init-host agree, at the real places --------------------------------------------------------

PLACES = ["/usr/share/docker.io/contrib", "/usr/local/bin", "/run/user"]
# Each case: files to make (path -> "socket" or "tool"), extra environment, and the engine both must pick.
CASES = {
    "nothing": ({}, {}, None),
    "debian docker.io beside podman": (
        {"/usr/share/docker.io/contrib/dockerd-rootless.sh": "tool", "BIN/podman": "tool"}, {}, "docker"),
    "podman alone": ({"BIN/podman": "tool"}, {}, "podman"),
    "nerdctl-full": ({"/usr/local/bin/containerd-rootless.sh": "tool", "BIN/podman": "tool"}, {}, "nerdctl"),
    "running podman beats installed docker": (
        {"/usr/share/docker.io/contrib/dockerd-rootless.sh": "tool", "RUN/podman/podman.sock": "socket"}, {}, "podman"),
    "running docker, no XDG_RUNTIME_DIR": (
        {"BIN/podman": "tool", "/run/user/0/docker.sock": "socket", "RUN/podman/podman.sock": "socket"},
        {"XDG_RUNTIME_DIR": None}, "docker"),
    "CONTAINER_HOST": ({"BIN/dockerd-rootless.sh": "tool", "TMP/p.sock": "socket"},
                       {"CONTAINER_HOST": "unix://TMP/p.sock"}, "podman"),
}

DRIVER = r"""
import json, os, socket, subprocess, sys
from pathlib import Path
import invoke
from u7s.facts.host import HostFacts
from u7s.run.hosts import LocalHost

cases, places, tmp, common = json.loads(sys.argv[1]), json.loads(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
subprocess.run(["mount", "--make-rprivate", "/"], check=True)
out = {}
for index, (name, (files, env, _)) in enumerate(cases.items()):
    for place in places:
        subprocess.run(["mount", "-t", "tmpfs", "u7s-test", place], check=True)
    case_dir = tmp / f"c{index}"  # short: a unix socket's path has at most 107 bytes
    where = {"BIN": case_dir / "bin", "RUN": case_dir / "run", "TMP": case_dir / "tmp"}
    for d in where.values():
        d.mkdir(parents=True)
    for tool in ("sh", "id", "bash", "dirname"):
        (where["BIN"] / tool).symlink_to(subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip())
    def real(path):
        for key, d in where.items():
            path = path.replace(key + "/", str(d) + "/")
        return Path(path)
    for path, kind in files.items():
        p = real(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        if kind == "socket":
            socket.socket(socket.AF_UNIX).bind(str(p))
        else:
            p.write_text("#!/bin/sh\n")
            p.chmod(0o755)
    environment = {"PATH": str(where["BIN"]), "HOME": str(case_dir), "XDG_RUNTIME_DIR": str(where["RUN"])}
    for key, value in env.items():
        if value is None:
            environment.pop(key)
        else:
            environment[key] = value.replace("TMP/", str(where["TMP"]) + "/")
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environment)
    u7s = HostFacts(LocalHost(invoke.Context())).detected_engine()
    os.environ.clear()
    os.environ.update(saved)
    shell = subprocess.run(
        ["bash", "-c", '. "$1"; engine=""; if choose_engine; then printf "%s\\t%s" "$engine" "$engine_source"; fi',
         "bash", common], env=environment, capture_output=True, text=True)
    out[name] = {"u7s": u7s, "init_host": shell.stdout, "stderr": shell.stderr}
    for place in places:
        subprocess.run(["umount", place], check=True)
print(json.dumps(out))
"""


@pytest.mark.root
def test_u7s_and_init_host_pick_the_same_engine_at_the_real_places():
    if os.geteuid() != 0:
        unavailable("needs root (a mount namespace with tmpfs over the distributions' folders)")
    missing = [p for p in PLACES if not Path(p).is_dir()]
    if missing:
        unavailable(f"{', '.join(missing)} missing (tests/setup-machine.sh installs docker.io)")
    top = tempfile.mkdtemp(prefix="u7s-detect-")
    try:
        r = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", sys.executable, "-c", DRIVER,
             json.dumps(CASES), json.dumps(PLACES), top, str(REPO / "init-host" / "common.sh")],
            capture_output=True, text=True, timeout=120, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    finally:
        shutil.rmtree(top)
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout)
    for name, (_, _, engine) in CASES.items():
        got = results[name]
        u7s = tuple(got["u7s"]) if got["u7s"] else None
        init_host = tuple(got["init_host"].split("\t", 1)) if got["init_host"] else None
        assert got["stderr"] == "", (name, got)
        assert (u7s[0] if u7s else None) == engine, (name, got)
        assert init_host == ((u7s[0], f"detected: {u7s[1]}") if u7s else None), (name, got)
