"""What u7s finds out about a host by itself, on the lab's first host as its user over real SSH.

That host runs rootless Docker and rootless Podman side by side (Debian 12's
docker.io and podman), so the engine u7s picks there is a real choice.
"""

from __future__ import annotations

import json
import subprocess

import pytest

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]


def test_docker_is_detected_off_path_beside_podman(lab, lab_host):
    """As on a fresh Debian host: dockerd-rootless.sh not on PATH, nothing set, Podman installed and running."""
    # A lab login sets none of DOCKER_HOST, XDG_RUNTIME_DIR, CONTAINER_ENGINE (test_lab.py).
    assert lab_host.ssh(["sh", "-c", "command -v podman && ! command -v dockerd-rootless.sh"]).returncode == 0
    podman_socket = f"/run/user/{lab_host.uid}/podman/podman.sock"
    assert lab_host.ssh(["test", "-S", podman_socket]).returncode == 0  # Podman is running too

    settings = json.loads(lab_host.ssh(["u7s", "settings", "--json"]).stdout)
    assert settings["CONTAINER_ENGINE"] == "docker"
    table = lab_host.ssh(["env", "COLUMNS=300", "u7s", "settings"]).stdout
    row = next(line for line in table.splitlines() if "CONTAINER_ENGINE" in line)
    assert f"detected: running rootless docker (/run/user/{lab_host.uid}/docker.sock)" in row, table

    # init-host decides the same way (its dry run changes nothing).
    where = lab_host.ssh(["python3", "-c", "from u7s.render.resources import init_host_dir; print(init_host_dir())"])
    r = lab_host.ssh(["bash", f"{where.stdout.strip()}/init-host.rootless.sh", "--dry-run"], check=False)
    assert f"engine docker (detected: running rootless docker (/run/user/{lab_host.uid}/docker.sock))" in r.stdout, (
        r.stdout + r.stderr)


def dockerd_pid(host) -> str:
    out = subprocess.run(["pgrep", "-u", str(host.uid), "-x", "dockerd"], capture_output=True, text=True).stdout
    return out.split()[0]


def test_preflight_reports_strict_rp_filter_in_the_engines_namespace(lab, lab_host):
    sysctl = ["nsenter", "-t", dockerd_pid(lab_host), "-n", "sysctl"]
    before = subprocess.run([*sysctl, "-n", "net.ipv4.conf.default.rp_filter"], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert before != "1"
    ok = {c["name"]: c for c in json.loads(lab_host.ssh(["u7s", "check-preflight", "--json", "--quick"],
                                                         check=False).stdout)}
    assert ok["rp_filter"]["status"] == "ok", ok["rp_filter"]
    subprocess.run([*sysctl, "-w", "net.ipv4.conf.default.rp_filter=1"], check=True, capture_output=True)
    try:
        # --quick, as `u7s up` runs it: entering the namespace needs no throw-away container.
        r = lab_host.ssh(["u7s", "check-preflight", "--json", "--quick"], check=False)
    finally:
        subprocess.run([*sysctl, "-w", f"net.ipv4.conf.default.rp_filter={before}"], check=True, capture_output=True)
    checks = {c["name"]: c for c in json.loads(r.stdout)}
    assert r.returncode == 1
    assert checks["rp_filter"]["status"] == "error", checks["rp_filter"]
    assert "net.ipv4.conf.default.rp_filter = 1" in checks["rp_filter"]["detail"]
    assert "rp_filter = 2" in checks["rp_filter"]["fix"]
