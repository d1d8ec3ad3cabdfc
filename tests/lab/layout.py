"""Names, addresses and id ranges of a lab: pure functions of (host count, subnet).

Everything the lab creates on the machine is named with the `u7slab` prefix,
so that teardown can find leftovers of a crashed run by name alone.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

PREFIX = "u7slab"
BRIDGE = f"{PREFIX}0"
DEFAULT_SUBNET = "10.213.0.0/24"
DEFAULT_HOSTS = 3
MAX_HOSTS = 40
# Subordinate ids far above the range useradd hands out (SUB_UID_MAX is
# 600100000 on Debian), so lab ranges never overlap a real user's.
SUBID_BASE = 1_100_000_000
SUBID_COUNT = 65536
# Fixed uids (u7slab1 is 41001, ...): the same lab layout always gets the same
# uids, runtime dirs and engine sockets.
UID_BASE = 41000

STATE_DIR = Path("/var/lib/u7s-lab")
CACHE_DIR = Path("/var/cache/u7s-lab")
VENV_DIR = Path("/opt/u7s-lab/venv")
COMPOSE_PLUGIN = Path("/usr/local/lib/docker/cli-plugins/docker-compose")
NODE_IMAGE = "u7s-lab-node"

# The PATH of the engines the lab starts as the users (as a user unit of dockerd-rootless-setuptool.sh sets it).
USER_PATH = ":".join(
    [str(VENV_DIR / "bin"), "/usr/share/docker.io/contrib", "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
)


@dataclass(frozen=True)
class HostLayout:
    """Where one lab host lives: its names, address and subordinate id range."""

    index: int
    address: str
    prefix_len: int
    gateway: str

    @property
    def name(self) -> str:
        return f"h{self.index}"

    @property
    def netns(self) -> str:
        return f"{PREFIX}-{self.name}"

    @property
    def veth(self) -> str:
        """The root-namespace end of the host's veth pair (the other end is eth0 inside)."""
        return f"{PREFIX}-{self.name}"

    @property
    def user(self) -> str:
        return f"{PREFIX}{self.index}"

    @property
    def uid(self) -> int:
        return UID_BASE + self.index

    @property
    def subid_start(self) -> int:
        return SUBID_BASE + (self.index - 1) * SUBID_COUNT

    @property
    def dir(self) -> Path:
        return host_dir(self.name)

    def delegated_cgroup(self, uid: int) -> str:
        """The user's cgroup, as systemd delegates it (a path inside the host's cgroup namespace)."""
        return f"user.slice/user-{uid}.slice/user@{uid}.service"

    def engine_cgroup(self, uid: int) -> str:
        """Where the engine runs, as a `systemctl --user` docker.service would."""
        return f"{self.delegated_cgroup(uid)}/app.slice/docker.service"

    def podman_cgroup(self, uid: int) -> str:
        """Where the Podman service runs (the first host only), as `podman.service` would."""
        return f"{self.delegated_cgroup(uid)}/app.slice/podman.service"


@dataclass(frozen=True)
class LabLayout:
    """The whole lab: a bridge address and one HostLayout per host."""

    subnet: str
    hosts: tuple[HostLayout, ...]

    @property
    def bridge_address(self) -> str:
        return str(ipaddress.ip_network(self.subnet)[1])

    @property
    def prefix_len(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen


def make_layout(count: int = DEFAULT_HOSTS, subnet: str | None = None) -> LabLayout:
    """Lay out `count` hosts in `subnet` (default: $U7S_LAB_SUBNET or 10.213.0.0/24).

    The bridge gets the first address, host K gets the (10+K)th, and the 254th
    is the hosts' default gateway: an address nobody owns, so `ip route get`
    resolves a source address but no packet can leave the lab.
    """
    subnet = subnet or os.environ.get("U7S_LAB_SUBNET") or DEFAULT_SUBNET
    network = ipaddress.ip_network(subnet, strict=True)
    if network.version != 4 or network.prefixlen > 24:
        raise ValueError(f"lab subnet {subnet} must be IPv4 and at least a /24")
    if not 1 <= count <= MAX_HOSTS:
        raise ValueError(f"lab host count {count} is not within 1..{MAX_HOSTS}")
    gateway = str(network[254])
    hosts = tuple(
        HostLayout(index=k, address=str(network[10 + k]), prefix_len=network.prefixlen, gateway=gateway)
        for k in range(1, count + 1)
    )
    return LabLayout(subnet=str(network), hosts=hosts)


def host_dir(name: str) -> Path:
    """Root-owned files of a lab host (sshd config, host key, logs)."""
    return STATE_DIR / "hosts" / name


def is_lab_user(name: str) -> bool:
    """Tell whether a user name is one the lab creates (u7slab1, u7slab2, ...)."""
    return name.startswith(PREFIX) and name[len(PREFIX):].isdigit() and name != BRIDGE
