"""The settings of one u7s node on one host: one table drives the object, the env, the listing and templates.

Every variable of the reference keeps its name, meaning and default. How each
value is resolved from the layers and the host's facts is u7s/config/resolve.py.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, make_dataclass
from pathlib import PurePosixPath
from typing import Mapping, Protocol

from u7s.config.subnets import hash_bucket
from u7s.errors import SettingsError

# The reference's kindest/node base, pinned by digest as upstream Usernetes pins it at
# rootless-containers/usernetes@0590bd6768b62dc9f11f007803cfe2caa2d7fd5a (see compose/node/Dockerfile).
DEFAULT_BASE_IMAGE = (
    "docker.io/kindest/node:v1.35.0"
    "@sha256:452d707d4862f52530247495d180205e029056831160e22870e37e3f6c1ac31f"
)
SERVICE_SUBNET = "10.96.0.0/16"
POD_SUBNET = "10.244.0.0/16"


@dataclass(frozen=True)
class Setting:
    """One setting: its variable name, the Settings attribute (and template name) it fills, and how to read it."""

    name: str
    attr: str
    kind: str  # str, ipv4, port, bool, name, seconds, mtu, list (comma-separated text or a YAML list)
    help: str
    default: int | None = None  # ports only; other defaults are derived (u7s/config/resolve.py)
    in_node: bool = False  # the reference passes it into every command run in the node


def _s(name, attr, kind, help, default=None, in_node=False):
    return Setting(name, attr, kind, help, default, in_node)


# Reference names first, then u7s's own.
TABLE: tuple[Setting, ...] = (
    _s("CONTAINER_ENGINE", "container_engine", "str", "docker, podman or nerdctl (detected: a running rootless "
       "engine, else dockerd-rootless.sh, containerd-rootless.sh, podman; see init-host/detect-engine.sh)"),
    _s("COMPOSE", "compose", "str", "compose command (default: `<engine> compose`; docker without the plugin: "
       "docker-compose; podman: podman-compose, else `podman compose`)"),
    _s("HOSTNAME", "hostname", "str", "the host's name (default: `hostname`)"),
    _s("HOST_IP", "host_ip", "ipv4", "address other hosts reach this host on (default: the address the inventory "
       "reaches it by when the host has it, else the source address of the route to 1.0.0.0)", in_node=True),
    _s("NODE_NAME", "node_name", "str", "Kubernetes node name and node container hostname (default: u7s-HOSTNAME)",
       in_node=True),
    _s("NODE_SUBNET", "node_subnet", "str", "the node network, an IPv4 /24 (default: 10.100.N.0/24, N from sha256 "
       "of HOSTNAME)", in_node=True),
    _s("NODE_IP", "node_ip", "ipv4", "the node container's address in NODE_SUBNET (default: .100)", in_node=True),
    _s("PORT_ETCD", "port_etcd", "port", "etcd client port, published on the host (default 2379)", 2379, True),
    _s("PORT_KUBELET", "port_kubelet", "port", "kubelet port, published on the host (default 10250)", 10250, True),
    _s("PORT_FLANNEL", "port_flannel", "port", "the pod network's VXLAN UDP port (flannel's, or calico's with "
       "CNI=calico), published on the host (default 8472)", 8472, True),
    _s("PORT_KUBE_APISERVER", "port_kube_apiserver", "port", "API server port, published on the host (default 6443)",
       6443, True),
    _s("BYPASS4NETNS", "bypass4netns", "bool", "nerdctl only: accelerate connect(2) (default: true when "
       "bypass4netnsd runs)"),
    _s("NODE_IMAGE", "node_image", "str", "use this prebuilt node image instead of building compose/node "
       "(default: build)"),
    _s("NODE_BASE_IMAGE", "node_base_image", "str", "base image the node image is built from (default: pinned "
       "kindest/node); a tag older than v1.31 is refused, a tag that is no version (a local build, a digest alone) "
       "is taken: u7s cannot tell its version then"),
    _s("U7S_PROJECT", "project", "name", "compose project name, and the prefix of the node container's and "
       "volumes' names (default u7s; in an inventory naming a cluster, u7s-CLUSTER; -HOSTNAME added with "
       "U7S_MULTI_NODE)"),
    _s("U7S_NETWORK", "network", "name", "compose network name (default: the project name)"),
    _s("U7S_MULTI_NODE", "multi_node", "bool", "make project and network names unique per host, for shared home "
       "directories"),
    _s("U7S_WORKDIR", "workdir", "str", "where u7s writes this host's files (default ~/.local/share/u7s/PROJECT)"),
    _s("U7S_TIMEOUT", "timeout", "seconds", "how long to wait for each condition (default 300)"),
    _s("U7S_ENGINE_HOST", "engine_host", "str", "the engine's API address for u7s's own engine and compose commands "
       "(docker: DOCKER_HOST, podman: CONTAINER_HOST; default: a running rootless Docker's socket when nothing else "
       "points the docker CLI at it, else none: the CLI's own default or context)"),
    _s("POD_SUBNET", "pod_subnet", "str", "the cluster's pod range, one per cluster (default 10.244.0.0/16)"),
    _s("SERVICE_SUBNET", "service_subnet", "str", "the cluster's service range, one per cluster (default "
       "10.96.0.0/16)"),
    _s("NODE_MTU", "node_mtu", "mtu", "MTU of the node network; flannel's VXLAN uses the cluster's smallest minus 50 "
       "(default: the MTU of HOST_IP's interface, at most 1500)"),
    _s("U7S_PUBLISH", "publish", "list", "extra ports published on HOST_IP: NODEPORT[/proto] or "
       "HOSTPORT:NODEPORT[/proto], comma-separated (default: none)"),
    _s("U7S_MOUNTS", "mounts", "list", "extra host paths in the node: HOST:NODE[:ro], comma-separated "
       "(default: none)"),
    _s("U7S_DEVICES", "devices", "list", "devices in the node: /dev paths or CDI names like nvidia.com/gpu=all "
       "(default: none)"),
    _s("U7S_STORAGE_DIR", "storage_dir", "str", "host directory of the node's local-path volumes, the default "
       "StorageClass's (default: WORKDIR/storage, removed by down-v; a directory you set is never removed)"),
    _s("CNI", "cni", "str", "the pod network, one per cluster: flannel (default) or calico (VXLAN on PORT_FLANNEL, "
       "enforces NetworkPolicy)"),
    _s("METRICS_SERVER", "metrics_server", "bool", "install metrics-server with create, so that `kubectl top` works "
       "(default: false; the task install-metrics-server installs it at any time)"),
)
SPECS: dict[str, Setting] = {s.name: s for s in TABLE}
PORT_DEFAULTS = {s.name: s.default for s in TABLE if s.kind == "port"}
_TYPES = {"port": int, "seconds": int, "mtu": int, "bool": bool, "list": tuple}
# Every engine gives a new bridge network this MTU unless told otherwise; u7s never takes more by itself.
DEFAULT_MTU = 1500
MTU_RANGE = (576, 9216)  # IPv4's minimum datagram every host accepts .. the largest jumbo frames


class Facts(Protocol):
    """What settings need to know about the host; looked up only when asked."""

    def hostname(self) -> str: ...
    def host_ip(self) -> str: ...
    def host_ip_source(self) -> str: ...
    def home(self) -> str: ...
    def has_command(self, name: str) -> bool: ...
    def detected_engine(self) -> tuple[str, str] | None: ...
    def engine_address(self) -> str: ...
    def compose_plugin(self, engine: str) -> bool: ...
    def bypass4netnsd_running(self) -> bool: ...
    def link_mtu(self, host_ip: str) -> tuple[int, str] | None: ...


class _Behaviour:
    """What every Settings object can tell, derived from the table."""

    @property
    def bypass4netns_ignore_subnets(self) -> list[str]:
        return [self.service_subnet, self.pod_subnet, self.node_subnet]

    @property
    def ports(self) -> dict[str, int]:
        return {s.name: getattr(self, s.attr) for s in TABLE if s.kind == "port"}

    @property
    def host_ports(self) -> dict[str, int]:
        """Every port published on the host, PORT_* and U7S_PUBLISH's, by what it is for."""
        return {**self.ports, **{f"U7S_PUBLISH {p}": p.host_port for p in self.publish}}

    def node_env(self) -> dict[str, str]:
        """The environment the reference gives every command run inside the node."""
        return {s.name: str(getattr(self, s.attr)) for s in TABLE if s.in_node}

    def path(self, *parts: str) -> str:
        """A path under the working directory, on the host the settings are for."""
        return str(PurePosixPath(self.workdir, *parts))

    def as_table(self) -> dict[str, str]:
        """Every setting by its variable name, as text (for `u7s settings`)."""
        return {s.name: _text(getattr(self, s.attr)) for s in TABLE}

    def values(self) -> dict:
        """Every setting under its attribute name, with the engine's type (what templates see)."""
        return {**{s.attr: getattr(self, s.attr) for s in TABLE}, "engine_type": self.engine_type}


def _text(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        if value and not isinstance(value[0], str):  # U7S_PUBLISH, U7S_MOUNTS, U7S_DEVICES: as given
            return ",".join(item.text() for item in value)
        return shlex.join(value)
    return str(value)


Settings = make_dataclass(
    "Settings",
    [(s.attr, tuple[str, ...] if s.attr == "compose" else _TYPES.get(s.kind, str)) for s in TABLE]
    + [("engine_type", str),
       ("sources", Mapping[str, str], field(default_factory=dict, compare=False, repr=False)),
       # The inventory's cluster name, "" for the single-host tasks (u7s/node/identity.py).
       ("cluster", str, field(default=""))],
    bases=(_Behaviour,),
    frozen=True,
    namespace={"__doc__": "The resolved settings of one u7s node on one host (one attribute per TABLE row)."},
)
Settings.__module__ = __name__


def node_subnet_for(hostname: str) -> str:
    """The reference's NODE_SUBNET: 10.100.N.0/24, N = first byte of sha256(hostname + newline)."""
    return f"10.100.{hash_bucket(hostname, 256)}.0/24"


def default_workdir(home: str, project: str, host: str | None = None) -> str:
    """~/.local/share/u7s/PROJECT, and a folder per inventory host under it (home directories may be shared)."""
    return str(PurePosixPath(home, ".local/share/u7s", project, *([host] if host else [])))


def engine_type_of(engine: str) -> str | None:
    """podman if the name says podman, nerdctl if it says nerdctl, docker if it says docker."""
    base = engine.rsplit("/", 1)[-1]
    for kind in ("podman", "nerdctl", "docker"):
        if kind in base:
            return kind
    return None


def parse_assignments(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Turn `--set KEY=VALUE` items into a mapping; unknown keys are an error."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise SettingsError(f"--set {item!r}: expected KEY=VALUE, e.g. --set PORT_ETCD=12379")
        if key not in SPECS:
            raise SettingsError(f"--set {key}: {unknown(key)}")
        out[key] = value
    return out


def unknown(key: str) -> str:
    """Pure: the message for a --set KEY that is no setting, with the closest names (the whole list is too long)."""
    import difflib

    close = difflib.get_close_matches(key, SPECS, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return f"unknown setting; {hint}`u7s settings` lists every setting"
