"""The container engine's own report: rootless or not, cgroup version, Podman's network command."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from u7s.render import engine
from u7s.config.settings import Settings
from u7s.run.hosts import Host


@dataclass(frozen=True)
class EngineInfo:
    rootless: bool
    cgroup_version: str
    network_cmd: str = ""  # Podman's rootless network command (slirp4netns or pasta)
    version: str = ""  # Podman's version (its fix for pasta depends on it)


def parse_engine_info(engine_type: str, text: str) -> EngineInfo:
    """Docker/nerdctl `info --format '{{json .}}'` or Podman `info --format '{{json .}}'`."""
    data = json.loads(text)
    if engine_type == "podman":
        host = data.get("host", {})
        return EngineInfo(
            rootless=bool(host.get("security", {}).get("rootless")),
            cgroup_version=str(host.get("cgroupVersion", "")).lstrip("v"),
            network_cmd=str(host.get("rootlessNetworkCmd") or ""),
            version=str((data.get("version") or {}).get("Version") or ""),
        )
    options = data.get("SecurityOptions") or []
    return EngineInfo(
        rootless=any("name=rootless" in opt for opt in options),
        cgroup_version=str(data.get("CgroupVersion", "")),
    )


def engine_info(host: Host, s: Settings) -> EngineInfo | None:
    """The engine's report on `host`; None when the engine does not answer or prints no JSON."""
    r = host.run(engine.engine_info(s), check=False)
    if not r.ok:
        return None
    try:
        return parse_engine_info(s.engine_type, r.stdout)
    except ValueError:
        return None


# "Docker Compose version v2.40.3", "docker-compose version 1.29.2, build ...", "podman-compose version 1.0.6",
# podman-compose 1.0.3's "podman-composer version  1.0.3" (after a line of its own debug output), "nerdctl Compose
# version v2.1.2".
_COMPOSE_VERSION = re.compile(r"^(?P<name>[\w -]*?compos\w*)\s+version\s+v?(?P<version>\d+(?:\.\d+)+)", re.I | re.M)


def parse_compose_version(text: str) -> tuple[str, tuple[int, ...]] | None:
    """(the tool's name as it says it, its version) from `<compose> version`; podman-composer reads podman-compose."""
    found = _COMPOSE_VERSION.search(text)
    if not found:
        return None
    name = found.group("name").strip()
    name = "podman-compose" if name.lower() == "podman-composer" else name
    return name, tuple(int(part) for part in found.group("version").split("."))
