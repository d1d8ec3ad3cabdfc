"""hosts.yaml: the cluster's hosts, how to reach them, and their settings.

Parsed once and validated completely before any host is touched: every
problem is reported (file, host, key, fix), not just the first.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import SettingsError, U7sError
from .settings import SPECS, resolve

ROLES = ("control-plane", "worker")
TOP_KEYS = {"cluster", "settings", "ssh", "hosts"}
CLUSTER_KEYS = {"name", "node_subnet_pool", "join_concurrency"}
HOST_KEYS = {"name", "address", "role", "local", "ssh", "settings"}
SSH_KEYS = {"user", "port", "identity_file", "alias", "jump", "connect_timeout", "known_hosts",
            "accept_unknown_host_keys"}
NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,62})$")


class InventoryError(U7sError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Ssh:
    user: str | None = None
    port: int | None = None
    identity_file: str | None = None
    alias: str | None = None
    jump: str | None = None
    connect_timeout: float = 10.0
    known_hosts: str | None = None
    accept_unknown_host_keys: bool = False


@dataclass(frozen=True)
class HostSpec:
    name: str
    address: str | None
    role: str
    local: bool
    ssh: Ssh
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def is_control_plane(self) -> bool:
        return self.role == "control-plane"


@dataclass(frozen=True)
class Inventory:
    path: str
    name: str
    hosts: list[HostSpec]
    node_subnet_pool: str = "10.100.0.0/16"
    join_concurrency: int = 5

    @property
    def control_plane(self) -> HostSpec:
        return next(h for h in self.hosts if h.is_control_plane)

    @property
    def workers(self) -> list[HostSpec]:
        return [h for h in self.hosts if not h.is_control_plane]


def load(path: str) -> Inventory:
    """Read and validate an inventory file; raise InventoryError listing every problem."""
    import yaml

    try:
        with open(path) as handle:
            text = handle.read()
    except OSError as exc:
        raise InventoryError([f"{path}: cannot read the inventory ({exc.strerror}); pass --inventory PATH"])
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise InventoryError([f"{path}:{where}: not valid YAML ({getattr(exc, 'problem', exc)})"])
    return parse(data, path)


def parse(data: Any, path: str = "hosts.yaml") -> Inventory:
    return _Parser(path).inventory(data)


class _Parser:
    def __init__(self, path: str):
        self.path = path
        self.problems: list[str] = []

    def bad(self, where: str, message: str) -> None:
        self.problems.append(f"{self.path}: {where}: {message}")

    def mapping(self, value: Any, where: str, allowed: set[str]) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.bad(where, f"expected a mapping, got {type(value).__name__}")
            return {}
        for key in value:
            if key not in allowed:
                self.bad(f"{where}.{key}" if where else str(key),
                         f"unknown key; expected one of: {', '.join(sorted(allowed))}")
        return value

    def inventory(self, data: Any) -> Inventory:
        if not isinstance(data, dict):
            raise InventoryError([f"{self.path}: expected a mapping with a `hosts` list"])
        self.mapping(data, "", TOP_KEYS)
        cluster = self.mapping(data.get("cluster"), "cluster", CLUSTER_KEYS)
        name = cluster.get("name", "u7s")
        if not isinstance(name, str) or not NAME.match(name):
            self.bad("cluster.name", "expected a short name (letters, digits, '.', '_', '-')")
        pool = cluster.get("node_subnet_pool", "10.100.0.0/16")
        try:
            net = ipaddress.IPv4Network(str(pool), strict=True)
            if net.prefixlen > 24:
                raise ValueError
        except ValueError:
            self.bad("cluster.node_subnet_pool", "expected an IPv4 network of /24 or larger, e.g. 10.100.0.0/16")
        concurrency = self.integer(cluster.get("join_concurrency", 5), "cluster.join_concurrency", 1, 1000)
        shared_settings = self.settings(data.get("settings"), "settings")
        shared_ssh = self.ssh(data.get("ssh"), "ssh", Ssh())
        hosts_data = data.get("hosts")
        if not isinstance(hosts_data, list) or not hosts_data:
            got = "an empty list" if hosts_data == [] else type(hosts_data).__name__
            self.bad("hosts", f"expected a non-empty list of hosts, got {got}")
            hosts_data = []
        hosts = [h for i, item in enumerate(hosts_data) if (h := self.host(item, i, shared_ssh, shared_settings))]
        if hosts_data:
            self.cross_checks(hosts)
        if self.problems:
            raise InventoryError(self.problems)
        return Inventory(self.path, name, hosts, str(pool), concurrency or 5)

    def integer(self, value: Any, where: str, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.bad(where, f"expected a whole number from {low} to {high}, got {value!r}")
            return None
        return value

    def settings(self, value: Any, where: str) -> dict:
        settings = self.mapping(value, where, set(SPECS))
        clean = {}
        for key, item in settings.items():
            if key not in SPECS:
                continue
            if isinstance(item, (dict, list)):
                self.bad(f"{where}.{key}", "expected a single value")
                continue
            clean[key] = item
        return clean

    def ssh(self, value: Any, where: str, base: Ssh) -> Ssh:
        data = self.mapping(value, where, SSH_KEYS)
        fields = dict(base.__dict__)
        for key in ("user", "alias", "jump", "identity_file", "known_hosts"):
            if key in data:
                if not isinstance(data[key], str) or not data[key]:
                    self.bad(f"{where}.{key}", "expected a non-empty string")
                else:
                    fields[key] = data[key]
        if "port" in data:
            fields["port"] = self.integer(data["port"], f"{where}.port", 1, 65535)
        if "connect_timeout" in data:
            timeout = data["connect_timeout"]
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
                self.bad(f"{where}.connect_timeout", f"expected a positive number of seconds, got {timeout!r}")
            else:
                fields["connect_timeout"] = float(timeout)
        if "accept_unknown_host_keys" in data:
            if not isinstance(data["accept_unknown_host_keys"], bool):
                self.bad(f"{where}.accept_unknown_host_keys", "expected true or false")
            else:
                fields["accept_unknown_host_keys"] = data["accept_unknown_host_keys"]
        for key in ("identity_file", "known_hosts"):
            if key in data and isinstance(data[key], str) and data[key]:
                expanded = os.path.expanduser(data[key])
                if not os.access(expanded, os.R_OK):
                    self.bad(f"{where}.{key}", f"cannot read {data[key]}; fix the path or its permissions")
        return Ssh(**fields)

    def host(self, item: Any, index: int, shared_ssh: Ssh, shared_settings: dict) -> HostSpec | None:
        label = f"hosts[{index}]"
        if not isinstance(item, dict):
            self.bad(label, "expected a mapping with name, address and role")
            return None
        name = item.get("name")
        if isinstance(name, str) and NAME.match(name):
            label = f"hosts[{index}] ({name})"
        else:
            got = "nothing" if name is None else repr(name)
            self.bad(f"{label}.name", f"expected a host name (letters, digits, '.', '_', '-'), got {got}")
            name = f"#{index}"
        self.mapping(item, label, HOST_KEYS)
        local = item.get("local", False)
        if not isinstance(local, bool):
            self.bad(f"{label}.local", "expected true or false")
            local = False
        ssh = self.ssh(item.get("ssh"), f"{label}.ssh", shared_ssh)
        address = item.get("address")
        if address is None and not local and not ssh.alias:
            self.bad(f"{label}.address", "missing; give the address (or ssh.alias) to reach it, or local: true")
        elif address is not None and (not isinstance(address, str) or not address or " " in address):
            self.bad(f"{label}.address", "expected an IP address or a host name")
            address = None
        role = item.get("role", "worker")
        if role not in ROLES:
            self.bad(f"{label}.role", f"expected one of {', '.join(ROLES)}, got {role!r}")
        settings = {**shared_settings, **self.settings(item.get("settings"), f"{label}.settings")}
        self.static_settings(settings, label)
        return HostSpec(name, address, role if role in ROLES else "worker", local, ssh, settings)

    def static_settings(self, settings: dict, label: str) -> None:
        """Validate the given values now (placeholders for what only the host can tell)."""
        try:
            resolve(_Placeholders(), config=settings)
        except SettingsError as exc:
            for line in str(exc).splitlines():
                self.bad(f"{label}.settings", line.replace(" (from config)", ""))

    def cross_checks(self, hosts: list[HostSpec]) -> None:
        planes = [h.name for h in hosts if h.is_control_plane]
        if len(planes) != 1:
            found = ", ".join(planes) if planes else "none"
            self.bad("hosts", f"exactly one host must have role: control-plane (found {found})")
        self.unique(hosts, "name", lambda h: h.name)
        self.unique(hosts, "NODE_NAME", lambda h: h.settings.get("NODE_NAME"))
        self.unique(hosts, "NODE_SUBNET", lambda h: h.settings.get("NODE_SUBNET"))
        locals_ = [h.name for h in hosts if h.local]
        if len(locals_) > 1:
            self.bad("hosts", f"only one host can be local: true (found {', '.join(locals_)})")
        # A host is placed by its address, or by its ssh alias when it has none.
        by_place: dict[str, list[HostSpec]] = {}
        for h in hosts:
            if h.address or h.ssh.alias:
                by_place.setdefault(h.address or h.ssh.alias, []).append(h)
        for place, group in by_place.items():
            users = [h.ssh.user for h in group]
            if len(set(users)) != len(users):
                names = ", ".join(h.name for h in group)
                self.bad("hosts", f"{names}: same address {place} and SSH user; list each host once")
            self.port_clash(place, group)

    def unique(self, hosts: list[HostSpec], what: str, key) -> None:
        seen: dict[Any, str] = {}
        for h in hosts:
            value = key(h)
            if value is None:
                continue
            if value in seen:
                self.bad("hosts", f"{seen[value]} and {h.name} have the same {what} {value!r}; each must be unique")
            else:
                seen[value] = h.name

    def port_clash(self, address: str, group: list[HostSpec]) -> None:
        """Instances sharing one address (one host, several users) need disjoint port sets."""
        from .settings import PORT_DEFAULTS

        taken: dict[int, str] = {}
        for h in group:
            for key, default in PORT_DEFAULTS.items():
                port = h.settings.get(key, default)
                try:
                    port = int(port)
                except (TypeError, ValueError):
                    continue
                if port in taken and taken[port] != h.name:
                    self.bad("hosts", f"{taken[port]} and {h.name} share address {address} and port {port} "
                             f"({key}); give one of them other PORT_* values")
                taken.setdefault(port, h.name)


# One value per cluster: kubeadm join hands every worker the kubelet configuration made at init (its
# port included), and flannel's VXLAN port is one value of its DaemonSet.
CLUSTER_WIDE = {
    "PORT_KUBELET": "kubeadm join gives every node the kubelet port set at init",
    "PORT_FLANNEL": "flannel's VXLAN port is one value for the whole DaemonSet",
}


def check_cluster_wide(inventory: Inventory, config: dict[str, Any], flags: dict[str, Any]) -> None:
    """Refuse hosts that differ in a cluster-wide setting, before any host is touched.

    Each host's value is what resolution would see: `u7s:` config < inventory < host < --set.
    """
    from .settings import PORT_DEFAULTS

    problems = []
    for key, why in CLUSTER_WIDE.items():
        by_value: dict[str, list[str]] = {}
        for h in inventory.hosts:
            value = {**config, **h.settings, **flags}.get(key, PORT_DEFAULTS[key])
            by_value.setdefault(str(value).strip(), []).append(h.name)
        if len(by_value) > 1:
            shown = "; ".join(f"{value} on {', '.join(names)}" for value, names in by_value.items())
            problems.append(f"{inventory.path}: hosts: {key} differs between hosts ({shown}): {why}; "
                            f"set {key} once, under the top-level settings")
    if problems:
        raise InventoryError(problems)


class _Placeholders:
    """Stand-in facts for validating given values before any host is reached."""

    def hostname(self) -> str:
        return "placeholder"

    def host_ip(self) -> str:
        return "192.0.2.1"

    def home(self) -> str:
        return "/home/placeholder"

    def has_command(self, name: str) -> bool:
        return name == "dockerd-rootless.sh"

    def detected_engine(self) -> tuple[str, str]:
        return "docker", "placeholder"

    def bypass4netnsd_running(self) -> bool:
        return False
