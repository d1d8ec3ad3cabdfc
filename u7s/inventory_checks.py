"""Rules across an inventory's hosts about HOST_IP, kept apart from the per-key parsing.

A loopback HOST_IP only works when every node is on one machine: in an inventory
of more than one host the others could not reach it. Hosts that give the same
HOST_IP (however it is written) publish their ports on one address, so their
port sets must not collide: the caller checks them like hosts sharing an address.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable


def host_ip_groups(hosts: Iterable, labels: dict[str, str]) -> tuple[list[tuple[str, str]], dict[str, list]]:
    """(problems as (where, message), hosts grouped by a HOST_IP they share)."""
    hosts = list(hosts)
    problems: list[tuple[str, str]] = []
    by_ip: dict[ipaddress.IPv4Address, list] = {}
    for h in hosts:
        raw = h.settings.get("HOST_IP")
        if not isinstance(raw, str):
            continue
        try:
            ip = ipaddress.IPv4Address(raw.strip())
        except ValueError:
            continue  # the settings check reports it
        if ip.is_loopback and len(hosts) > 1:
            problems.append((f"{labels.get(h.name, h.name)}.settings.HOST_IP",
                             f"{ip} is a loopback address, which the other hosts cannot reach; give an "
                             "address they reach (loopback only suits an inventory of one host)"))
        by_ip.setdefault(ip, []).append(h)
    return problems, {f"HOST_IP {ip}": group for ip, group in by_ip.items() if len(group) > 1}


def check_overrides(inventory, flags: dict) -> None:
    """Validate `--set` values against every host's settings before any host is touched."""
    from .errors import SettingsError
    from .inventory import InventoryError, _Placeholders
    from .settings import resolve
    from .values import shown

    if not flags:
        return
    problems: list[str] = []
    for h in inventory.hosts:
        try:
            resolve(_Placeholders(), config=h.settings, flags=flags)
        except SettingsError as exc:
            for key, problem in exc.keyed:
                line = (f"--set {key}={shown(flags[key], quote=False)}: {problem}" if key in flags
                        else f"{inventory.path}: {h.name}: {key}: {problem} (with the --set values)")
                if line not in problems:
                    problems.append(line)
    if problems:
        raise InventoryError(problems)
