"""Hosts as HPC sites have them, on the lab: no systemd (no lab host has one), and cgroup v1.

As a user would: the lab user over SSH, in a session with nothing set (no DOCKER_HOST, no
XDG_RUNTIME_DIR, Debian's own PATH without the docker.io contrib folder).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.integration.u7s_cli import u7s
from tests.lab import state
from tests.lab.commands import wait_until
from tests.lab.users import SUDO_PASSWORD
from tests.cgroup_layouts import HYBRID

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]
STOCK = ["env", "-u", "DOCKER_HOST", "-u", "XDG_RUNTIME_DIR", "-u", "CONTAINER_ENGINE", "PATH=/usr/local/bin:/usr/bin:/bin"]
CONTRIB = "/usr/share/docker.io/contrib"


def init_host_dir(host) -> str:
    r = host.ssh(["python3", "-c", "from u7s.render.resources import init_host_dir; print(init_host_dir())"])
    return r.stdout.strip()


def rootless_docker_answers(host) -> bool:
    r = host.ssh([*STOCK, "DOCKER_HOST=unix:///run/user/%d/docker.sock" % host.uid, "docker", "info", "--format",
                  "{{json .SecurityOptions}}"], check=False, timeout=60)
    return r.returncode == 0 and "name=rootless" in r.stdout


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def end(pid: int) -> None:
    """End a daemon this test started (rootlesskit, which takes dockerd with it), and wait until it has."""
    if alive(pid):
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not alive(pid), what=f"pid {pid} to exit", timeout=60)


def rootlesskit_pids(host) -> list[int]:
    out = subprocess.run(["pgrep", "-u", str(host.uid), "-x", "rootlesskit"], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


@pytest.fixture
def engine_stopped(lab):
    """The last lab host with its rootless Docker stopped and no docker CLI files; all restored after."""
    host = lab.hosts[-1]
    docker_dir = Path(host.home) / ".docker"
    saved = {p: p.read_bytes() for p in docker_dir.rglob("*") if p.is_file()} if docker_dir.exists() else None
    # As on a fresh host, where no CLI context exists yet (the lab's logins have one: tests/lab/login.py).
    subprocess.run(["rm", "-rf", "--one-file-system", str(docker_dir)], check=True)
    lab.stop_engine(host)
    try:
        assert not rootless_docker_answers(host)
        yield host
    finally:
        for pid in rootlesskit_pids(host):  # daemons the test started (the lab's own is stopped)
            end(pid)
        subprocess.run(["rm", "-rf", "--one-file-system", str(docker_dir)], check=True)
        for path, data in (saved or {}).items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if saved is not None:
            subprocess.run(["chown", "-R", f"{host.uid}:{host.uid}", str(docker_dir)], check=True)
        lab.start_engine(host)


def one_host_inventory(host, tmp_path) -> Path:
    path = tmp_path / "hosts.yaml"
    path.write_text(yaml.safe_dump({
        "cluster": {"name": "hpc"}, "ssh": {"known_hosts": host.known_hosts, "connect_timeout": 5},
        "hosts": [{"name": host.name, "address": host.address, "role": "control-plane",
                   "ssh": {"user": host.ssh_user, "port": host.ssh_port, "identity_file": host.key}}],
    }))
    (tmp_path / "u7s.yaml").write_text(yaml.safe_dump({"sudo": {"password": SUDO_PASSWORD}}))
    return path


def test_without_systemd_the_rootless_part_stops_with_a_line_that_works_or_starts_the_engine(engine_stopped, tmp_path):
    host = engine_stopped
    script = f"{init_host_dir(host)}/init-host.rootless.sh"

    r = host.ssh([*STOCK, "bash", script, "--engine", "docker"], check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    found = re.search(r"^failed: rootless Docker \(not running, and systemd is not running on this host to start it: "
                      r"re-run with --start-engine, or start it yourself: (.*)\)$", r.stdout, re.M)
    assert found, r.stdout
    assert "loginctl" not in r.stdout and "systemctl" not in r.stdout

    # The line works as given, pasted into a shell on that host.
    host.ssh([*STOCK, "sh", "-c", found.group(1)], timeout=60)
    wait_until(lambda: rootless_docker_answers(host), what="the daemon the line started", timeout=120)
    for pid in rootlesskit_pids(host):
        end(pid)

    # u7s cluster.init-host runs the same script: it fails the host the same way, or starts the engine when asked.
    inventory = one_host_inventory(host, tmp_path)
    failing = u7s("cluster.init-host", "--inventory", str(inventory), cwd=tmp_path, check=False)
    assert failing.returncode == 1 and "failed: rootless Docker (not running, " in failing.stderr, failing.stderr
    started = u7s("cluster.init-host", "--inventory", str(inventory), "--start-engine", cwd=tmp_path, check=False)
    assert started.returncode == 0, started.stderr
    pid_file = f"/run/user/{host.uid}/u7s-dockerd-rootless.pid"
    assert re.search(rf"changed: rootless Docker started: {CONTRIB}/dockerd-rootless.sh, pid \d+ \({pid_file}\), log "
                     rf"{host.home}/.local/state/u7s/dockerd-rootless.log$", started.stderr, re.M), started.stderr
    socket = f"unix:///run/user/{host.uid}/docker.sock"
    assert f"changed: docker CLI context rootless made and in use ({socket})" in started.stderr
    assert re.search(r"info: docker \d+\.\d+\.\d+.*, cgroup v2 ", started.stderr), started.stderr
    # It outlived the SSH session, and a new session with nothing set reaches it (the CLI context).
    pid = int(Path(pid_file).read_text())
    assert alive(pid) and pid in rootlesskit_pids(host)
    options = host.ssh([*STOCK, "docker", "info", "--format", "{{json .SecurityOptions}}"]).stdout
    assert "name=rootless" in options

    again = host.ssh([*STOCK, "bash", script, "--engine", "docker", "--start-engine"], check=False)
    assert again.returncode == 0, again.stdout
    assert "ok: rootless Docker already running (docker info reports rootless)" in again.stdout
    assert f"ok: docker CLI context rootless already in use ({socket})" in again.stdout
    assert "changed:" not in again.stdout


@pytest.fixture
def hybrid_host(lab):
    """The second lab host presenting a hybrid cgroup layout (as the test machines boot) while the test runs."""
    host = lab.hosts[1]
    holder = next(d for d in state.daemons() if d.role == "host" and d.host == host.name)
    enter = ["nsenter", f"--target={holder.pid}", "--mount", "--"]
    subprocess.run([*enter, "sh", "-c", HYBRID], check=True)
    try:
        assert host.ssh(["stat", "-f", "-c", "%T", "/sys/fs/cgroup"]).stdout.strip() == "tmpfs"
        yield host
    finally:
        subprocess.run([*enter, "umount", "-R", "/sys/fs/cgroup"], check=True)  # the cgroup2 mount beneath is back
        assert host.ssh(["stat", "-f", "-c", "%T", "/sys/fs/cgroup"]).stdout.strip() == "cgroup2fs"


def test_a_cgroup_v1_host_hears_it_first(hybrid_host):
    host = hybrid_host
    checks = json.loads(host.ssh(["u7s", "check-preflight", "--json", "--quick"], check=False).stdout)
    assert (checks[0]["name"], checks[0]["status"]) == ("cgroup v2", "error"), checks
    assert checks[0]["detail"].startswith("cgroup v1: /sys/fs/cgroup is a tmpfs of v1 hierarchies (systemd); "
                                          "hybrid, cgroup2 only at /sys/fs/cgroup/unified"), checks[0]
    assert "mount cgroup2 at /sys/fs/cgroup" in checks[0]["fix"]  # no systemd here: no kernel command line advice

    up = host.ssh(["u7s", "up"], check=False, timeout=300)
    assert up.returncode != 0
    said = [line for line in up.stderr.splitlines() if "preflight" in line]
    assert said and "preflight cgroup v2: cgroup v1: " in said[0], up.stderr
    assert host.ssh(["sh", "-c", "docker ps -q --filter name=u7s"]).stdout.strip() == ""  # nothing was started

    where = init_host_dir(host)
    rootless = host.ssh(["bash", f"{where}/init-host.rootless.sh", "--dry-run"], check=False)
    first = [line for line in rootless.stdout.splitlines() if line.startswith(("ok:", "failed:", "skipped:"))][0]
    assert first.startswith("failed: cgroup v2 (this host runs cgroup v1: "), rootless.stdout
    root = host.ssh(["sudo", "-S", "-p", "", "bash", f"{where}/init-host.root.sh", "--user", host.ssh_user, "--dry-run"],
                    check=False, input=f"{SUDO_PASSWORD}\n")
    lines = [line for line in root.stdout.splitlines() if line.startswith(("ok:", "failed:", "skipped:", "would"))]
    assert lines[0].startswith("failed: cgroup v2 (this host runs cgroup v1: "), root.stdout + root.stderr
    assert "delegate.conf already up to date" not in root.stdout
    assert root.returncode == 1
