"""Facts about a host, each a read-only command plus a pure parser.

Settings ask for a fact only when the user did not give the value; each is
looked up at most once per host.
"""

from __future__ import annotations

import functools
import json

from u7s.errors import U7sError
from u7s.run.hosts import Host


ENGINES = ("docker", "nerdctl", "podman")


def parse_detected_engine(text: str) -> tuple[str, str] | None:
    """(engine, why) from the line init-host/detect-engine.sh prints; None when it found nothing."""
    engine, sep, why = text.strip().partition("\t")
    return (engine, why) if sep and engine in ENGINES and why else None


def parse_route_get(text: str) -> str:
    """The preferred source address from `ip --json route get 1` (how the reference finds HOST_IP)."""
    try:
        routes = json.loads(text)
        return routes[0]["prefsrc"]
    except (ValueError, LookupError, TypeError):
        raise U7sError(
            "HOST_IP: could not read a source address from `ip --json route get 1`; set HOST_IP"
        ) from None


class HostFacts:
    """Facts gathered on `host` by running probes there."""

    def __init__(self, host: Host):
        self.host = host

    @functools.cache
    def hostname(self) -> str:
        return self.host.run(["hostname"]).stdout.strip()

    @functools.cache
    def host_ip(self) -> str:
        result = self.host.run(["ip", "--json", "route", "get", "1"], check=False)
        if not result.ok:
            raise U7sError(f"HOST_IP: `ip route get 1` failed on {self.host.name} (no route?); set HOST_IP")
        return parse_route_get(result.stdout)

    @functools.cache
    def home(self) -> str:
        return self.host.run(["sh", "-c", 'printf %s "$HOME"']).stdout

    @functools.cache
    def has_command(self, name: str) -> bool:
        # The name travels as a positional argument; the script itself is constant.
        return self.host.run(["sh", "-c", 'command -v "$1" >/dev/null', "sh", name], check=False).ok

    @functools.cache
    def detected_engine(self) -> tuple[str, str] | None:
        """Run init-host/detect-engine.sh there: every socket and place in one command."""
        from u7s.build.resources import init_host_dir

        script = (init_host_dir() / "detect-engine.sh").read_text()
        result = self.host.run(["sh", "-c", script, "detect-engine.sh"], check=False)
        return parse_detected_engine(result.stdout) if result.ok else None

    @functools.cache
    def compose_plugin(self, engine: str) -> bool:
        """Whether `<engine> compose` works (Docker's CLI plugin is installed)."""
        return self.host.run([engine, "compose", "version"], check=False).ok

    @functools.cache
    def bypass4netnsd_running(self) -> bool:
        script = 'test -S "${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/bypass4netnsd.sock"'
        return self.host.run(["sh", "-c", script], check=False).ok
