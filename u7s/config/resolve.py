"""Resolve one host's settings: the layers merged in their order (layers.py), derived values, validation.

Values the user does not give are derived from facts about the host (its
hostname, its address, which engine is installed); those facts are only looked
up when needed. Nothing here runs a command itself: facts come from a `Facts` object.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Mapping

from u7s.config import cnichoice, mounts, nodeimage, publish, storagedir, values
from u7s.config.enginechoice import EngineChoice
from u7s.config.layers import Layers
from u7s.config.values import COMPOSE_NAME, NODE_NAME_FORM, NODE_NAME_RULE
from u7s.config.settings import (
    DEFAULT_BASE_IMAGE, DEFAULT_MTU, MTU_RANGE, POD_SUBNET, PORT_DEFAULTS, SERVICE_SUBNET, SPECS, Facts, Settings, default_workdir,
    node_subnet_for,
)
from u7s.errors import SettingsError

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def resolve(
    facts: Facts,
    *,
    config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    config_sources: Mapping[str, str] | None = None,
    cluster: str = "",
    layers: Layers | None = None,
) -> Settings:
    """Merge the layers in their order (u7s/config/layers.py), derive, validate; config_sources: FILE line N.

    `layers`: every layer of a host; else config, env and flags alone. `cluster`: the inventory's cluster name
    ("" for the single-host tasks); it names the project by default.
    """
    stack = layers or Layers(config=config or {}, config_sources=config_sources or {}, env=env or {},
                             flags=flags or {})
    raw, sources = stack.merged()
    return Resolver(raw, sources, facts, cluster).settings()


class Resolver(EngineChoice):
    """Derives each setting once, in dependency order, collecting every problem."""

    def __init__(self, raw: dict[str, Any], sources: dict[str, str], facts: Facts, cluster: str = ""):
        self.raw, self.sources, self.facts, self.cluster = raw, sources, facts, cluster
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
        engine_host = self.engine_host(engine_type)
        hostname = self.text("HOSTNAME") or self.facts.hostname()
        if self.given("HOSTNAME") and not values.SSH_ALIAS.match(hostname):
            self.bad("HOSTNAME", "not a host name", "use letters, digits, '.', '_' and '-'")
        host_ip = self.address("HOST_IP", self.facts.host_ip)
        if not self.given("HOST_IP"):  # the inventory address or the default route (u7s/facts/hostip.py)
            from u7s.config.sources import FROM_ROUTE

            source = getattr(self.facts, "host_ip_source", None)  # facts that predate it took the route's
            self.sources["HOST_IP"] = source() if source else FROM_ROUTE
        # As the kubelet names a node after its hostname: lowercase, without a final dot.
        node_name = self.text("NODE_NAME") or f"u7s-{hostname.lower().rstrip('.')}"
        if not NODE_NAME_FORM.match(node_name):
            self.keyed.append(("NODE_NAME", f"{NODE_NAME_RULE}; set NODE_NAME to one, e.g. NODE_NAME=u7s-node1"))
            self.problems.append(
                f"NODE_NAME={values.shown(node_name, quote=False)}"
                + (f" (from {self.sources['NODE_NAME']})" if "NODE_NAME" in self.sources else " (derived from HOSTNAME)")
                + f": {NODE_NAME_RULE}; set NODE_NAME to one, e.g. NODE_NAME=u7s-node1"
            )
        pod_subnet, service_subnet = self.ranges()
        subnet, node_ip = self.subnet(hostname, (pod_subnet, service_subnet))
        published = self.listed("U7S_PUBLISH", publish.parse, publish.EXAMPLE)
        ports = self.ports(published)
        mounts_ = self.listed("U7S_MOUNTS", mounts.parse_mounts, mounts.MOUNT_EXAMPLE)
        devices = self.listed("U7S_DEVICES", mounts.parse_devices, mounts.DEVICE_EXAMPLE)
        multi_node = self.boolean("U7S_MULTI_NODE", False)
        default_project = project_for(self.cluster, hostname if multi_node else None)
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
        for key, why, fix in nodeimage.problems(image, base):
            self.bad(key, why, fix)
        workdir, storage_dir = self.directories(default_workdir(self.facts.home(), project)
                                                if not self.given("U7S_WORKDIR") else "")
        timeout = self.integer("U7S_TIMEOUT", 300, 1, 86400, "a number of seconds")
        node_mtu, cni = self.mtu(host_ip), cnichoice.resolve(self.text("CNI"), self.bad)
        metrics_server = self.boolean("METRICS_SERVER", False)
        if self.problems:
            raise SettingsError("\n".join(self.problems), self.keyed)
        given = {
            "CONTAINER_ENGINE": engine, "COMPOSE": compose, "HOSTNAME": hostname, "HOST_IP": host_ip,
            "NODE_NAME": node_name, "NODE_SUBNET": subnet, "NODE_IP": node_ip, **ports, "BYPASS4NETNS": bypass,
            "NODE_IMAGE": image, "NODE_BASE_IMAGE": base, "U7S_PROJECT": project, "U7S_NETWORK": network,
            "U7S_MULTI_NODE": multi_node, "U7S_WORKDIR": workdir, "U7S_TIMEOUT": timeout, "U7S_ENGINE_HOST": engine_host,
            "POD_SUBNET": pod_subnet, "SERVICE_SUBNET": service_subnet, "U7S_PUBLISH": published,
            "U7S_MOUNTS": mounts_, "U7S_DEVICES": devices, "NODE_MTU": node_mtu, "U7S_STORAGE_DIR": storage_dir,
            "CNI": cni, "METRICS_SERVER": metrics_server,
        }
        return Settings(**{SPECS[key].attr: value for key, value in given.items()},
                        engine_type=engine_type, sources=dict(self.sources), cluster=self.cluster)

    def ports(self, published: tuple) -> dict[str, int]:
        """The PORT_*, each its own number and none a port U7S_PUBLISH publishes too."""
        ports = {k: self.integer(k, d, 1, 65535, "a port") for k, d in PORT_DEFAULTS.items()}
        self.distinct_ports(ports)
        for clash in publish.clashes(published, ports):
            self.bad("U7S_PUBLISH", f"host port {clash}", "publish another host port (HOSTPORT:NODEPORT)")
        return ports

    def directories(self, default: str) -> tuple[str, str]:
        """(U7S_WORKDIR, U7S_STORAGE_DIR): as given and checked, else `default` and the storage directory in it."""
        workdir = self.text("U7S_WORKDIR") or default
        if self.given("U7S_WORKDIR"):
            try:
                values.workdir(workdir)
            except ValueError as exc:
                self.bad("U7S_WORKDIR", str(exc), "give a directory of its own, e.g. /home/USER/u7s")
        storage_dir, why = storagedir.resolve(self.text("U7S_STORAGE_DIR"), workdir)
        if why:
            self.bad("U7S_STORAGE_DIR", why, storagedir.FIX)
        return workdir, storage_dir

    def address(self, key: str, derive) -> str:
        value = self.text(key) or derive()
        try:
            problem = values.host_ip_problem(values.ipv4(value), allow_loopback=True)
        except ValueError as exc:
            problem = str(exc)
        if problem:
            self.bad(key, problem, f"set {key} to an address of this host that other hosts reach")
        return value

    def mtu(self, host_ip: str) -> int:
        """NODE_MTU: as given, else the MTU of HOST_IP's interface, at most DEFAULT_MTU (jumbo frames are opt-in)."""
        low, high = MTU_RANGE
        if self.given("NODE_MTU"):
            return self.integer("NODE_MTU", DEFAULT_MTU, low, high, "an MTU")
        found = self.facts.link_mtu(host_ip)
        if found is None:
            self.sources["NODE_MTU"] = "default: the MTU of HOST_IP's interface is unknown"
            return DEFAULT_MTU
        mtu, where = found
        if mtu > DEFAULT_MTU:
            self.sources["NODE_MTU"] = f"detected: {mtu} on {where}; u7s takes at most {DEFAULT_MTU} unless NODE_MTU is set"
            return DEFAULT_MTU
        self.sources["NODE_MTU"] = f"detected: MTU of {where}"
        if mtu < low:
            self.bad("NODE_MTU", f"{mtu} is below {low}, too small for the node network",
                     f"give the hosts a larger MTU, or set NODE_MTU to a whole number from {low} to {high}")
        return mtu

    def listed(self, key: str, parse, example: str) -> tuple:
        """A list setting (text with commas, or a YAML list), parsed; () and a problem when bad."""
        if key not in self.raw or self.raw[key] is None:
            return ()
        try:
            return parse(self.raw[key])
        except ValueError as exc:
            self.bad(key, str(exc), example)
            return ()

    def ranges(self) -> tuple[str, str]:
        """POD_SUBNET and SERVICE_SUBNET: IPv4 networks apart from each other and from special ranges."""
        nets: dict[str, ipaddress.IPv4Network | None] = {}
        for key, default, low, high in (("POD_SUBNET", POD_SUBNET, 8, 22), ("SERVICE_SUBNET", SERVICE_SUBNET, 12, 28)):
            text = self.text(key, default)
            nets[key] = None
            try:
                net = ipaddress.IPv4Network(text, strict=True)
            except ValueError:
                self.bad(key, "not an IPv4 network (address/prefix, host bits zero)", f"use e.g. {key}={default}")
                continue
            # Flannel gives each node a /24 of the pod range; kube-apiserver refuses service ranges above /12.
            if not low <= net.prefixlen <= high:
                self.bad(key, f"prefix /{net.prefixlen} is outside /{low}../{high}", f"use e.g. {key}={default}")
                continue
            problem = values.special_range_problem(net)
            if problem:
                self.bad(key, problem, f"use e.g. {key}={default}")
                continue
            nets[key] = net
        pods, services = nets["POD_SUBNET"], nets["SERVICE_SUBNET"]
        if pods and services and pods.overlaps(services):
            self.bad("SERVICE_SUBNET", f"{services} overlaps POD_SUBNET {pods}", "give the two ranges apart")
        # A bad range is reported above; the defaults stand in so the other checks still run.
        return str(pods or POD_SUBNET), str(services or SERVICE_SUBNET)

    def subnet(self, hostname: str, ranges: tuple[str, str] = (POD_SUBNET, SERVICE_SUBNET)) -> tuple[str, str]:
        text = self.text("NODE_SUBNET") or node_subnet_for(hostname)
        try:
            net = ipaddress.IPv4Network(text, strict=True)
            if net.prefixlen != 24:
                raise ValueError("prefix")
        except ValueError:
            self.bad("NODE_SUBNET", "not an IPv4 /24 network", "use e.g. NODE_SUBNET=10.100.7.0/24")
            return text, self.text("NODE_IP")
        problem = values.subnet_problem(net, pods=ranges[0], services=ranges[1])
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


def project_for(cluster: str = "", hostname: str | None = None) -> str:
    """The default U7S_PROJECT: `u7s` for the single-host tasks and an inventory that names no cluster (or names
    it `u7s`), `u7s-CLUSTER` for a named one; `-HOSTNAME` added with U7S_MULTI_NODE (shared home directories)."""
    base = "u7s" if cluster in ("", "u7s") else f"u7s-{_compose_safe(cluster)}"
    return f"{base}-{_compose_safe(hostname)}" if hostname is not None else base


def _compose_safe(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "-", text.lower()).strip("-_") or "host"
