"""One validated settings object per host: defaults < config < environment < flags.

Every variable of the reference keeps its name, meaning and default. Values the
user does not give are derived from facts about the host (its hostname, its
address, which engine is installed); those facts are only looked up when needed.
Nothing here runs a command itself: facts come from a `Facts` object.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import shlex
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Mapping, Protocol

from u7s.config import values
from u7s.errors import SettingsError

# The reference's kindest/node base, pinned by digest as upstream Usernetes pins it at
# rootless-containers/usernetes@0590bd6768b62dc9f11f007803cfe2caa2d7fd5a (see compose/node/Dockerfile).
DEFAULT_BASE_IMAGE = (
    "docker.io/kindest/node:v1.35.0"
    "@sha256:452d707d4862f52530247495d180205e029056831160e22870e37e3f6c1ac31f"
)
ENGINE_TYPES = ("docker", "podman", "nerdctl")
SERVICE_SUBNET = "10.96.0.0/16"
POD_SUBNET = "10.244.0.0/16"

# name -> (kind, help). Reference names first, then u7s's own.
SPECS: dict[str, tuple[str, str]] = {
    "CONTAINER_ENGINE": ("str", "docker, podman or nerdctl (detected: a running rootless engine, else "
                         "dockerd-rootless.sh, containerd-rootless.sh, podman; see init-host/detect-engine.sh)"),
    "COMPOSE": ("str", "compose command (default: `<engine> compose`; docker without the plugin: docker-compose; "
                "podman: podman-compose, else `podman compose`)"),
    "HOSTNAME": ("str", "the host's name (default: `hostname`)"),
    "HOST_IP": ("ipv4", "address other hosts reach this host on (default: source address of the route to 1.0.0.0)"),
    "NODE_NAME": ("str", "Kubernetes node name and node container hostname (default: u7s-HOSTNAME)"),
    "NODE_SUBNET": ("str", "the node network, an IPv4 /24 (default: 10.100.N.0/24, N from sha256 of HOSTNAME)"),
    "NODE_IP": ("ipv4", "the node container's address in NODE_SUBNET (default: .100)"),
    "PORT_ETCD": ("port", "etcd client port, published on the host (default 2379)"),
    "PORT_KUBELET": ("port", "kubelet port, published on the host (default 10250)"),
    "PORT_FLANNEL": ("port", "flannel VXLAN UDP port, published on the host (default 8472)"),
    "PORT_KUBE_APISERVER": ("port", "API server port, published on the host (default 6443)"),
    "BYPASS4NETNS": ("bool", "nerdctl only: accelerate connect(2) (default: true when bypass4netnsd runs)"),
    "NODE_IMAGE": ("str", "use this prebuilt node image instead of building compose/node (default: build)"),
    "NODE_BASE_IMAGE": ("str", "base image the node image is built from (default: pinned kindest/node)"),
    "U7S_PROJECT": ("name", "compose project name (default u7s; u7s-HOSTNAME with U7S_MULTI_NODE)"),
    "U7S_NETWORK": ("name", "compose network name (default: the project name)"),
    "U7S_MULTI_NODE": ("bool", "make project and network names unique per host, for shared home directories"),
    "U7S_WORKDIR": ("str", "where u7s writes this host's files (default ~/.local/share/u7s/PROJECT)"),
    "U7S_TIMEOUT": ("seconds", "how long to wait for each condition (default 300)"),
}
PORT_DEFAULTS = {
    "PORT_ETCD": 2379,
    "PORT_KUBELET": 10250,
    "PORT_FLANNEL": 8472,
    "PORT_KUBE_APISERVER": 6443,
}
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
COMPOSE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


class Facts(Protocol):
    """What settings need to know about the host; looked up only when asked."""

    def hostname(self) -> str: ...
    def host_ip(self) -> str: ...
    def home(self) -> str: ...
    def has_command(self, name: str) -> bool: ...
    def detected_engine(self) -> tuple[str, str] | None: ...
    def compose_plugin(self, engine: str) -> bool: ...
    def bypass4netnsd_running(self) -> bool: ...


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one u7s node on one host."""

    container_engine: str
    engine_type: str
    compose: tuple[str, ...]
    hostname: str
    host_ip: str
    node_name: str
    node_subnet: str
    node_ip: str
    port_etcd: int
    port_kubelet: int
    port_flannel: int
    port_kube_apiserver: int
    bypass4netns: bool
    node_image: str
    node_base_image: str
    project: str
    network: str
    multi_node: bool
    workdir: str
    timeout: int
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def bypass4netns_ignore_subnets(self) -> list[str]:
        return [SERVICE_SUBNET, POD_SUBNET, self.node_subnet]

    @property
    def ports(self) -> dict[str, int]:
        return {
            "PORT_ETCD": self.port_etcd,
            "PORT_KUBELET": self.port_kubelet,
            "PORT_FLANNEL": self.port_flannel,
            "PORT_KUBE_APISERVER": self.port_kube_apiserver,
        }

    def node_env(self) -> dict[str, str]:
        """The environment the reference gives every command run inside the node."""
        env = {
            "HOST_IP": self.host_ip,
            "NODE_NAME": self.node_name,
            "NODE_SUBNET": self.node_subnet,
            "NODE_IP": self.node_ip,
        }
        env.update({k: str(v) for k, v in self.ports.items()})
        return env

    def path(self, *parts: str) -> str:
        """A path under the working directory, on the host the settings are for."""
        return str(PurePosixPath(self.workdir, *parts))

    def as_table(self) -> dict[str, str]:
        """Every setting by its variable name, as text (for `u7s settings`)."""
        return {
            "CONTAINER_ENGINE": self.container_engine,
            "COMPOSE": shlex.join(self.compose),
            "HOSTNAME": self.hostname,
            "HOST_IP": self.host_ip,
            "NODE_NAME": self.node_name,
            "NODE_SUBNET": self.node_subnet,
            "NODE_IP": self.node_ip,
            **{k: str(v) for k, v in self.ports.items()},
            "BYPASS4NETNS": str(self.bypass4netns).lower(),
            "NODE_IMAGE": self.node_image,
            "NODE_BASE_IMAGE": self.node_base_image,
            "U7S_PROJECT": self.project,
            "U7S_NETWORK": self.network,
            "U7S_MULTI_NODE": str(self.multi_node).lower(),
            "U7S_WORKDIR": self.workdir,
            "U7S_TIMEOUT": str(self.timeout),
        }


def node_subnet_for(hostname: str) -> str:
    """The reference's NODE_SUBNET: 10.100.N.0/24, N = first byte of sha256(hostname + newline)."""
    n = hashlib.sha256((hostname + "\n").encode()).digest()[0]
    return f"10.100.{n}.0/24"


def engine_type_of(engine: str) -> str | None:
    """podman if the name says podman, nerdctl if it says nerdctl, docker if it says docker."""
    base = engine.rsplit("/", 1)[-1]
    for kind in ("podman", "nerdctl", "docker"):
        if kind in base:
            return kind
    return None


def detect_engine(facts: Facts) -> tuple[str, str] | None:
    """The engine and where it was found: a running rootless engine first, then the setup tools.

    The host runs init-host/detect-engine.sh, the file init-host itself uses, so
    u7s and init-host never pick different engines on one host.
    """
    return facts.detected_engine()


def parse_assignments(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Turn `--set KEY=VALUE` items into a mapping; unknown keys are an error."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise SettingsError(f"--set {item!r}: expected KEY=VALUE, e.g. --set PORT_ETCD=12379")
        if key not in SPECS:
            raise SettingsError(f"--set {key}: unknown setting; known: {', '.join(SPECS)}")
        out[key] = value
    return out


def resolve(
    facts: Facts,
    *,
    config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge the layers (defaults < config < environment < flags), derive the rest, validate."""
    raw: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, value in (config or {}).items():
        if key not in SPECS:
            raise SettingsError(
                f"config u7s.{key}: unknown setting; known: {', '.join(SPECS)}"
            )
        raw[key], sources[key] = value, "config"
    for key, value in (env or {}).items():
        if key in SPECS:
            raw[key], sources[key] = value, "environment"
    for key, value in (flags or {}).items():
        if key not in SPECS:
            raise SettingsError(f"--set {key}: unknown setting; known: {', '.join(SPECS)}")
        raw[key], sources[key] = value, "--set"
    return _Resolver(raw, sources, facts).settings()


class _Resolver:
    """Derives each setting once, in dependency order, collecting every problem."""

    def __init__(self, raw: dict[str, Any], sources: dict[str, str], facts: Facts):
        self.raw, self.sources, self.facts = raw, sources, facts
        self.problems: list[str] = []
        self.keyed: list[tuple[str, str]] = []

    def given(self, key: str) -> bool:
        value = self.raw.get(key)
        return value is not None and str(value) != ""

    def bad(self, key: str, why: str, fix: str) -> None:
        where = f" (from {self.sources[key]})" if key in self.sources else ""
        value = self.raw.get(key)
        shown = f"={values.shown(value, quote=False)}" if value is not None and key in self.sources else ""
        self.problems.append(f"{key}{shown}{where}: {why}; {fix}")
        self.keyed.append((key, f"{why}; {fix}"))

    def text(self, key: str, default: Any = "") -> str:
        if not self.given(key):
            return default
        value = self.raw[key]
        if isinstance(value, (bool, float)):  # `NODE_IMAGE: yes` or `.nan`: YAML read it as no text
            self.bad(key, f"{values.shown(value)} is a {type(value).__name__}, not text", "quote the value")
            return default
        return str(value).strip()

    def boolean(self, key: str, default: bool) -> bool:
        if key not in self.raw or self.raw[key] is None:
            return default
        value = self.raw[key]
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        self.bad(key, "not a boolean", "use true or false")
        return default

    def integer(self, key: str, default: int, low: int, high: int, what: str) -> int:
        if not self.given(key):
            return default
        try:
            return values.whole_number(self.raw[key], low, high)
        except values.OutOfRange:
            self.bad(key, f"out of range for {what}", f"use a whole number from {low} to {high}")
            return default
        except ValueError as exc:
            self.bad(key, f"not {what}: {exc}", f"use a whole number from {low} to {high}")
            return default

    def settings(self) -> Settings:
        engine, engine_type, compose = self.engine()
        hostname = self.text("HOSTNAME") or self.facts.hostname()
        if self.given("HOSTNAME") and not values.SSH_ALIAS.match(hostname):
            self.bad("HOSTNAME", "not a host name", "use letters, digits, '.', '_' and '-'")
        host_ip = self.address("HOST_IP", lambda: self.facts.host_ip())
        node_name = self.text("NODE_NAME") or f"u7s-{hostname}"
        if not DNS_LABEL.match(node_name):
            self.keyed.append(("NODE_NAME", "not a DNS label (lowercase letters, digits and '-', at most 63); "
                               "set NODE_NAME to one, e.g. NODE_NAME=u7s-node1"))
            self.problems.append(
                f"NODE_NAME={values.shown(node_name, quote=False)}"
                + (f" (from {self.sources['NODE_NAME']})" if "NODE_NAME" in self.sources else " (derived from HOSTNAME)")
                + ": not a DNS label (lowercase letters, digits and '-', at most 63); "
                "set NODE_NAME to one, e.g. NODE_NAME=u7s-node1"
            )
        subnet, node_ip = self.subnet(hostname)
        ports = {k: self.integer(k, d, 1, 65535, "a port") for k, d in PORT_DEFAULTS.items()}
        self.distinct_ports(ports)
        multi_node = self.boolean("U7S_MULTI_NODE", False)
        default_project = f"u7s-{_compose_safe(hostname)}" if multi_node else "u7s"
        project = self.name("U7S_PROJECT", default_project)
        network = self.name("U7S_NETWORK", project)
        if self.raw.get("BYPASS4NETNS") is None:  # probe the socket only when the user gave no value
            bypass = engine_type == "nerdctl" and self.facts.bypass4netnsd_running()
        else:
            bypass = self.boolean("BYPASS4NETNS", False)
        if bypass and engine_type != "nerdctl":
            self.bad("BYPASS4NETNS", f"only nerdctl supports bypass4netns, the engine is {engine_type}", "unset it")
        image = self.text("NODE_IMAGE")
        base = self.text("NODE_BASE_IMAGE", DEFAULT_BASE_IMAGE)
        for key, value in (("NODE_IMAGE", image), ("NODE_BASE_IMAGE", base)):
            if value:
                try:
                    values.image_reference(value)
                except ValueError as exc:
                    self.bad(key, str(exc), "give one image reference, e.g. localhost/u7s-node:1")
        workdir = self.text("U7S_WORKDIR") or str(
            PurePosixPath(self.facts.home(), ".local/share/u7s", project)
        )
        if self.given("U7S_WORKDIR"):
            try:
                values.workdir(workdir)
            except ValueError as exc:
                self.bad("U7S_WORKDIR", str(exc), "give a directory of its own, e.g. /home/USER/u7s")
        timeout = self.integer("U7S_TIMEOUT", 300, 1, 86400, "a number of seconds")
        if self.problems:
            raise SettingsError("\n".join(self.problems), self.keyed)
        return Settings(
            container_engine=engine,
            engine_type=engine_type,
            compose=compose,
            hostname=hostname,
            host_ip=host_ip,
            node_name=node_name,
            node_subnet=subnet,
            node_ip=node_ip,
            port_etcd=ports["PORT_ETCD"],
            port_kubelet=ports["PORT_KUBELET"],
            port_flannel=ports["PORT_FLANNEL"],
            port_kube_apiserver=ports["PORT_KUBE_APISERVER"],
            bypass4netns=bypass,
            node_image=image,
            node_base_image=base,
            project=project,
            network=network,
            multi_node=multi_node,
            workdir=workdir,
            timeout=timeout,
            sources=dict(self.sources),
        )

    def engine(self) -> tuple[str, str, tuple[str, ...]]:
        engine = self.text("CONTAINER_ENGINE")
        if not engine:
            found = detect_engine(self.facts)
            if found is None:
                raise SettingsError(
                    "CONTAINER_ENGINE: no container engine found (looked for a running rootless engine's socket "
                    "in $XDG_RUNTIME_DIR, DOCKER_HOST, CONTAINER_HOST, then for dockerd-rootless.sh, "
                    "containerd-rootless.sh, podman on PATH and in /usr/share/docker.io/contrib); "
                    "install rootless Docker (init-host/), or set CONTAINER_ENGINE"
                )
            engine, why = found
            self.sources["CONTAINER_ENGINE"] = f"detected: {why}"
        engine_type = engine_type_of(engine)
        try:
            values.engine(engine)
        except ValueError as exc:
            self.bad("CONTAINER_ENGINE", str(exc), "use docker, podman or nerdctl")
            engine_type = "docker"
        if self.given("COMPOSE"):
            try:
                compose = tuple(shlex.split(self.text("COMPOSE")))
            except ValueError as exc:
                self.bad("COMPOSE", f"cannot be split into words ({exc})", "fix its quoting")
                compose = (engine, "compose")
            if not compose or compose[0].startswith("-") or not all(w.isprintable() for w in compose):
                self.bad("COMPOSE", "not a command (empty, an option first, or control characters)",
                         "e.g. COMPOSE='docker compose'")
                compose = (engine, "compose")
        elif engine_type == "podman":
            podman_compose = self.facts.has_command("podman-compose")
            compose = ("podman-compose",) if podman_compose else (engine, "compose")
        elif (engine_type == "docker" and self.facts.has_command("docker-compose")
              and not self.facts.compose_plugin(engine)):
            # No CLI plugin, but a standalone Compose (e.g. from `pip install u7s[compose]`).
            compose = ("docker-compose",)
        else:
            compose = (engine, "compose")
        return engine, engine_type, compose

    def address(self, key: str, derive) -> str:
        value = self.text(key) or derive()
        try:
            problem = values.host_ip_problem(values.ipv4(value), allow_loopback=True)
        except ValueError as exc:
            problem = str(exc)
        if problem:
            self.bad(key, problem, f"set {key} to an address of this host that other hosts reach")
        return value

    def subnet(self, hostname: str) -> tuple[str, str]:
        text = self.text("NODE_SUBNET") or node_subnet_for(hostname)
        try:
            net = ipaddress.IPv4Network(text, strict=True)
            if net.prefixlen != 24:
                raise ValueError("prefix")
        except ValueError:
            self.bad("NODE_SUBNET", "not an IPv4 /24 network", "use e.g. NODE_SUBNET=10.100.7.0/24")
            return text, self.text("NODE_IP")
        problem = values.subnet_problem(net)
        if problem:
            self.bad("NODE_SUBNET", problem, "use another /24, e.g. NODE_SUBNET=10.100.7.0/24")
            return text, self.text("NODE_IP")
        node_ip = self.text("NODE_IP") or str(net.network_address + 100)
        try:
            addr = ipaddress.IPv4Address(node_ip)
        except ValueError:
            self.bad("NODE_IP", "not an IPv4 address", f"use an address inside {net}, e.g. {net.network_address + 100}")
            return str(net), node_ip
        if addr not in net:
            self.bad("NODE_IP", f"outside NODE_SUBNET {net}", f"use an address inside it, e.g. {net.network_address + 100}")
        elif addr in (net.network_address, net.broadcast_address, net.network_address + 1):
            self.bad("NODE_IP", f"{addr} is the network, broadcast or gateway address of {net}",
                     f"use e.g. {net.network_address + 100}")
        return str(net), node_ip

    def distinct_ports(self, ports: dict[str, int]) -> None:
        seen: dict[int, str] = {}
        for key, port in ports.items():
            if port in seen:
                self.bad(key, f"same port as {seen[port]} ({port})", "give each PORT_* its own number")
            seen.setdefault(port, key)

    def name(self, key: str, default: str) -> str:
        value = self.text(key, default)
        if not COMPOSE_NAME.match(value):
            self.bad(key, "not a compose name", "use lowercase letters, digits, '-' and '_', starting with a letter or digit")
        return value


def _compose_safe(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "-", text.lower()).strip("-_") or "host"
