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

from u7s.config import values
from u7s.config.layers import Layers
from u7s.config.settings import SPECS
from u7s.errors import InventoryError

ROLES = ("control-plane", "worker")
TOP_KEYS = {"cluster", "settings", "ssh", "hosts"}
CLUSTER_KEYS = {"name", "node_subnet_pool", "join_concurrency", "forks"}
HOST_KEYS = {"name", "address", "role", "local", "ssh", "settings"}
SSH_KEYS = {"user", "port", "identity_file", "alias", "jump", "connect_timeout", "known_hosts",
            "accept_unknown_host_keys"}
NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,62})$")


@dataclass(frozen=True)
class Ssh:
    user: str | None = None
    port: int | None = None
    identity_file: str | None = None
    alias: str | None = None
    jump: str | None = None
    connect_timeout: int = 10
    known_hosts: str | None = None
    accept_unknown_host_keys: bool = False


@dataclass(frozen=True)
class HostSpec:
    name: str
    address: str | None
    role: str
    local: bool
    ssh: Ssh
    settings: dict[str, Any] = field(default_factory=dict)  # the inventory's settings, the host's own on top

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
    forks: int | None = None  # hosts handled at once (None: --forks, u7s.forks or 30 decide)
    kubeconfig: str | None = None  # where it goes by default (an allocation's: on the shared file system)
    checked_with: tuple = field(default=(), compare=False, repr=False)  # (config, --set) its settings were checked with

    @property
    def control_plane(self) -> HostSpec:
        return next(h for h in self.hosts if h.is_control_plane)

    @property
    def workers(self) -> list[HostSpec]:
        return [h for h in self.hosts if not h.is_control_plane]


def load(path: str, config: dict | None = None, flags: dict | None = None) -> Inventory:
    """Read and validate an inventory file that lists its hosts; raise InventoryError listing every problem.

    A file naming a batch job's allocation instead is read by allocation.inventory (u7s/config/allocation.py).
    """
    return parse(read_mapping(path), path, config, flags)


def read_mapping(path: str) -> Any:
    """The file's YAML, or InventoryError naming the path."""
    from u7s.config import safeyaml

    if not os.path.isfile(path):
        why = "it is not a file" if os.path.exists(path) else "no such file"
        raise InventoryError([f"{path}: cannot read the inventory ({why}); pass --inventory PATH"])
    try:
        data = safeyaml.load_file(path)
    except safeyaml.YamlError as exc:
        raise InventoryError([str(exc)]) from None
    return data


def parse(data: Any, path: str = "hosts.yaml", config: dict | None = None, flags: dict | None = None) -> Inventory:
    """The inventory, its settings checked with the `u7s:` config's and --set's (`config`, `flags`) on top."""
    return _Parser(path, config or {}, flags or {}).inventory(data)


class _Parser:
    def __init__(self, path: str, config: dict, flags: dict):
        self.path, self.config, self.flags = path, config, flags
        self.problems: list[str] = []
        self.labels: dict[str, str] = {}  # host name -> how messages name it

    def bad(self, where: str, message: str, line: str | None = None) -> None:
        line = line or f"{self.path}: {where}: {message}"
        if line not in self.problems:  # a shared setting's problem is reported once, not per host
            self.problems.append(line)

    def mapping(self, value: Any, where: str, allowed: set[str]) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.bad(where, f"expected a mapping, got {type(value).__name__}")
            return {}
        for key in value:
            if key not in allowed:
                named = key if isinstance(key, str) and values.SSH_ALIAS.match(key) and len(key) <= 40 \
                    else values.shown(key)
                self.bad(f"{where}.{named}" if where else named,
                         f"unknown key; expected one of: {', '.join(sorted(allowed))}")
        return value

    def inventory(self, data: Any) -> Inventory:
        if not isinstance(data, dict):
            raise InventoryError([f"{self.path}: expected a mapping with a `hosts` list"])
        Layers(config=self.config, flags=self.flags).merged()  # an unknown name there: one line, at once
        self.mapping(data, "", TOP_KEYS)
        cluster = self.mapping(data.get("cluster"), "cluster", CLUSTER_KEYS)
        name = cluster.get("name", "u7s")
        if not isinstance(name, str) or not NAME.match(name):
            self.bad("cluster.name", "expected a short name (letters, digits, '.', '_', '-')")
        pool = cluster.get("node_subnet_pool", "10.100.0.0/16")
        concurrency = self.integer(cluster.get("join_concurrency", 5), "cluster.join_concurrency", 1, 1000)
        forks = self.integer(cluster["forks"], "cluster.forks", 1, 1000) if "forks" in cluster else None
        shared_settings = self.settings(data.get("settings"), "settings")
        try:
            if not isinstance(pool, str):
                raise ValueError
            net = ipaddress.IPv4Network(pool, strict=True)
            if net.prefixlen > 24:
                raise ValueError
            problem = values.subnet_problem(net, **_ranges(shared_settings))
            if problem:
                self.bad("cluster.node_subnet_pool", f"{problem}; use e.g. 10.100.0.0/16")
        except ValueError:
            self.bad("cluster.node_subnet_pool", "expected an IPv4 network of /24 or larger, e.g. 10.100.0.0/16")
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
        return Inventory(self.path, name, hosts, str(pool), concurrency or 5, forks,
                         checked_with=(self.config, self.flags))

    def integer(self, value: Any, where: str, low: int, high: int, unit: str = "") -> int | None:
        # YAML integers only: a quoted "22" or 22.0 is a mistake worth pointing out.
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.bad(where, f"expected a whole number{unit} from {low} to {high}, got {values.shown(value)}")
            return None
        return value

    def settings(self, value: Any, where: str) -> dict:
        settings = self.mapping(value, where, set(SPECS))
        clean = {}
        for key, item in settings.items():
            if key not in SPECS:
                continue
            if isinstance(item, list) and SPECS[key].kind == "list":  # U7S_PUBLISH: [30080/tcp, ...]
                pass
            elif isinstance(item, (dict, list)):
                self.bad(f"{where}.{key}", "expected a single value")
                continue
            if isinstance(item, str) and any(ord(ch) < 32 for ch in item):
                self.bad(f"{where}.{key}", f"{values.shown(item)} has control characters (a newline?)")
                continue
            clean[key] = item
        return clean

    def ssh(self, value: Any, where: str, base: Ssh) -> Ssh:
        data = self.mapping(value, where, SSH_KEYS)
        fields = dict(base.__dict__)
        checks = {"user": values.ssh_user, "alias": values.ssh_alias, "jump": values.jump_host}
        for key in ("user", "alias", "jump", "identity_file", "known_hosts"):
            if key in data:
                item = data[key]
                if not isinstance(item, str) or not item or any(ord(ch) < 32 for ch in item):
                    self.bad(f"{where}.{key}", f"expected a non-empty string, got {values.shown(item)}")
                    continue
                try:
                    fields[key] = checks[key](item) if key in checks else item
                except ValueError as exc:
                    self.bad(f"{where}.{key}", str(exc))
        if "port" in data:
            fields["port"] = self.integer(data["port"], f"{where}.port", 1, 65535)
        if "connect_timeout" in data:
            # Whole seconds: fabric truncates a fraction (0.5 would mean no timeout at all).
            timeout = self.integer(data["connect_timeout"], f"{where}.connect_timeout", 1, 3600, " of seconds")
            if timeout is not None:
                fields["connect_timeout"] = timeout
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
            self.labels.setdefault(name, label)
        else:
            got = "nothing" if name is None else values.shown(name)
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
        elif address is not None:
            try:
                values.ssh_address(address)
            except ValueError as exc:
                self.bad(f"{label}.address", f"{exc}; give the address to reach it by")
                address = None
        role = item.get("role", "worker")
        if not isinstance(role, str) or role not in ROLES:
            self.bad(f"{label}.role", f"expected one of {', '.join(ROLES)}, got {values.shown(role)}")
            role = "worker"
        own = self.settings(item.get("settings"), f"{label}.settings")
        stack = Layers(config=self.config, inventory=shared_settings, host=own, flags=self.flags)
        self.static_settings(stack, label)
        return HostSpec(name, address, role if role in ROLES else "worker", local, ssh,
                        Layers(inventory=shared_settings, host=own).explicit())

    def static_settings(self, stack: Layers, label: str) -> None:
        """Validate the given values now, with the config's and --set's on top (placeholders for what only the
        host can tell)."""
        from u7s.config.crosshost import override_line, placeholder_problems

        settings = {**stack.inventory, **stack.host}
        for layer, key, problem in placeholder_problems(stack):
            if not key:
                self.bad(f"{label}.settings", problem)
                continue
            # A value from the shared `settings` is named there, once.
            where = f"settings.{key}" if layer == "inventory" else f"{label}.settings.{key}"
            value = settings.get(key)
            shown = f"{values.shown(value)}: " if value is not None else ""
            with_ = " (with the --set and config values)" if self.config or self.flags else ""
            self.bad(where, f"{shown}{problem}{with_}", override_line(stack, layer, key, problem))

    def cross_checks(self, hosts: list[HostSpec]) -> None:
        from u7s.config.crosshost import inventory_problems

        for where, message in inventory_problems(hosts, self.labels):
            self.bad(where, message)


def _ranges(settings: dict) -> dict:
    """The inventory's POD_SUBNET and SERVICE_SUBNET where they are valid networks (the settings check reports others)."""
    out = {}
    for key, arg in (("POD_SUBNET", "pods"), ("SERVICE_SUBNET", "services")):
        try:
            out[arg] = ipaddress.IPv4Network(str(settings[key]).strip(), strict=True)
        except (KeyError, ValueError):
            pass
    return out
