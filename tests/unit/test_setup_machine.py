"""tests/setup-machine.sh's Debian package list, chosen from /etc/debian_version (no root, installs nothing)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tests" / "setup-machine.sh"


def packages(version: str) -> list[str]:
    result = subprocess.run(["bash", str(SCRIPT), "--packages", version], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.parametrize("version", ["12.11", "12.0", "bookworm/sid", "something odd"])
def test_debian_12_gets_docker_io_alone(version):
    wanted = packages(version)
    assert "docker.io" in wanted and "docker-cli" not in wanted  # 12 has no docker-cli: apt would fail
    assert "nftables" not in wanted  # the machine's Podman networks are left as they are


@pytest.mark.parametrize("version", ["13.8", "13.0", "trixie/sid", "forky/sid", "14.1"])
def test_debian_13_and_later_get_the_docker_cli_and_nftables_too(version):
    # docker.io 26 on trixie ships dockerd without the docker command, which is docker-cli (only recommended);
    # netavark 1.14 there fails a rootless network with "unable to execute nft" without nftables (recommended).
    wanted = packages(version)
    assert {"docker.io", "docker-cli", "podman", "nftables"} <= set(wanted)


def test_the_rest_of_the_list_is_the_same_on_both():
    assert [p for p in packages("13.8") if p not in ("docker-cli", "nftables")] == packages("12.11")
    assert {"podman", "openssh-server", "python3-venv", "rootlesskit", "slirp4netns", "uidmap"} <= set(packages("12.11"))
