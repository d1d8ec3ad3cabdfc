"""Parse U7S_MOUNTS and U7S_DEVICES: host paths and devices given to the node container.

U7S_MOUNTS items are `HOST:NODE[:ro]` (absolute, normalised paths), U7S_DEVICES items
are absolute device paths (`/dev/...`, optionally `HOST:NODE`) or CDI names
(`vendor.com/class=name`, e.g. `nvidia.com/gpu=all`), separated by commas. Whether a
path exists is a fact of the host it is on: preflight checks it, not the parser.
Pure functions, standard library only.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from u7s.config.publish import items

# Paths are written into the compose file and split there on ':' and ','.
PATH = re.compile(r"^/[A-Za-z0-9._/+@=~-]*$", re.ASCII)
# The container device interface's fully-qualified name: vendor/class=name.
CDI_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*\.[a-z]+/[a-zA-Z0-9][a-zA-Z0-9_.-]*=[a-zA-Z0-9_.:-]+$", re.ASCII)
# Where the node keeps what u7s and Kubernetes own: a mount there would hide or replace it.
NODE_RESERVED = ("/", "/var", "/opt", "/etc", "/run", "/tmp", "/usernetes", "/boot", "/lib/modules",
                 "/proc", "/sys", "/dev", "/usr", "/bin", "/sbin", "/lib")
MOUNT_EXAMPLE = "e.g. U7S_MOUNTS=/srv/data:/data:ro"
DEVICE_EXAMPLE = "e.g. U7S_DEVICES=/dev/fuse or U7S_DEVICES=nvidia.com/gpu=all"


@dataclass(frozen=True)
class Mount:
    host: str
    node: str
    read_only: bool = False

    def compose(self) -> str:
        return f"{self.host}:{self.node}{':ro' if self.read_only else ''}"

    def text(self) -> str:
        return self.compose()


@dataclass(frozen=True)
class Device:
    host: str  # a path on the host, or a CDI name
    node: str = ""

    @property
    def is_cdi(self) -> bool:
        return not self.host.startswith("/")

    def compose(self) -> str:
        return self.host if self.is_cdi else f"{self.host}:{self.node or self.host}"

    def text(self) -> str:
        """As given: HOST, HOST:NODE or a CDI name."""
        return f"{self.host}:{self.node}" if self.node else self.host


def _path(text: str, what: str) -> str:
    if not PATH.match(text):
        raise ValueError(f"{what} {text!r} is not an absolute path of letters, digits and ._/+@=~-")
    if posixpath.normpath(text) != text or text.startswith("//"):
        raise ValueError(f"{what} {text!r} is not normalised (no '..', '.', '//' or trailing '/')")
    return text


def parse_mounts(value) -> tuple[Mount, ...]:
    out: list[Mount] = []
    seen: set[str] = set()
    for item in items(value):
        parts = item.split(":")
        read_only = len(parts) == 3 and parts[2] == "ro"
        if len(parts) == 3 and parts[2] not in ("ro", "rw"):
            raise ValueError(f"{item!r}: the option is {parts[2]!r}, not ro or rw")
        if len(parts) not in (2, 3):
            raise ValueError(f"{item!r} is not HOST:NODE[:ro]")
        host, node = _path(parts[0], "host path"), _path(parts[1], "node path")
        if node in NODE_RESERVED or node.startswith(("/proc/", "/sys/", "/usernetes/", "/etc/kubernetes",
                                                      "/var/lib/kubelet", "/var/lib/containerd")):
            raise ValueError(f"{item!r}: {node} in the node is u7s's or Kubernetes' own; mount elsewhere, e.g. /data")
        if node in seen:
            raise ValueError(f"{item!r}: {node} is mounted twice")
        seen.add(node)
        out.append(Mount(host, node, read_only))
    return tuple(out)


def parse_devices(value) -> tuple[Device, ...]:
    out: list[Device] = []
    for item in items(value):
        if CDI_NAME.match(item):
            out.append(Device(item))
            continue
        host, _, node = item.partition(":")
        host = _path(host, "device")
        if node:
            node = _path(node, "node device")
        if not host.startswith("/dev/") or (node and not node.startswith("/dev/")):
            raise ValueError(f"{item!r} is not a device under /dev/ or a CDI name (vendor.com/class=name)")
        out.append(Device(host, node))
    return tuple(out)
