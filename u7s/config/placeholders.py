"""Facts that stand for a host not reached yet, so given values can be validated first."""

from __future__ import annotations


class PlaceholderFacts:
    """Facts for validating the values a user gives before any host is reached (inventory, --set, config)."""

    def hostname(self) -> str:
        return "placeholder"

    def host_ip(self) -> str:
        return "192.0.2.1"

    def host_ip_source(self) -> str:
        return "placeholder"

    def home(self) -> str:
        return "/home/placeholder"

    def has_command(self, name: str) -> bool:
        return name == "dockerd-rootless.sh"

    def detected_engine(self) -> tuple[str, str]:
        return "docker", "placeholder"

    def engine_address(self) -> str:
        return ""

    def bypass4netnsd_running(self) -> bool:
        return False

    def link_mtu(self, host_ip: str) -> tuple[int, str]:
        return 1500, "placeholder"
