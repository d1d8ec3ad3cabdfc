"""Facts about a host, each a read-only command plus a pure parser.

Settings ask for a fact only when the user did not give the value; each is
looked up at most once per host.
"""

from __future__ import annotations

import json

from u7s.errors import CommandFailed, U7sError
from u7s.run.hosts import Host, Result


ENGINES = ("docker", "nerdctl", "podman")


def parse_detected_engine(text: str) -> tuple[str, str] | None:
    """(engine, why) from the line init-host/detect-engine.sh prints; None when it found nothing."""
    engine, sep, rest = text.strip().partition("\t")
    why = rest.partition("\t")[0]
    return (engine, why) if sep and engine in ENGINES and why else None


def parse_engine_address(text: str) -> str:
    """The address field of detect-engine.sh's line (a rootless Docker found by its socket alone), or ""."""
    fields = text.strip().split("\t")
    return fields[2] if len(fields) == 3 and fields[0] == "docker" and fields[2].startswith("unix:///") else ""


def parse_route_get(text: str) -> str:
    """The preferred source address from `ip --json route get 1` (how the reference finds HOST_IP)."""
    try:
        routes = json.loads(text)
        return routes[0]["prefsrc"]
    except (ValueError, LookupError, TypeError):
        raise U7sError(
            "HOST_IP: could not read a source address from `ip --json route get 1`; set HOST_IP"
        ) from None


HOSTNAME = ["hostname"]
ROUTE = ["ip", "--json", "route", "get", "1"]
ADDRESSES = ["ip", "--json", "addr", "show"]  # each interface's MTU and addresses (NODE_MTU)
HOME = ["sh", "-c", 'printf %s "$HOME"']
HAS_COMMAND = ["sh", "-c", 'command -v "$1" >/dev/null', "sh"]  # the name travels as a positional argument
BYPASS4NETNSD = ["sh", "-c", 'test -S "${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/bypass4netnsd.sock"']


def detect_engine_probe() -> list[str]:
    """init-host/detect-engine.sh, the file init-host itself runs: every socket and place in one command."""
    from u7s.build.resources import init_host_dir

    script = (init_host_dir() / "detect-engine.sh").read_text()
    return ["sh", "-c", script, "detect-engine.sh"]


def likely_probes(given: dict) -> list[list[str]]:
    """The probes settings will ask for when `given` (the user's values) leaves them to facts.

    Asked together beforehand (one round trip); `docker compose version` is asked on
    the chance that the engine is Docker with a standalone docker-compose as well.
    """
    from u7s.config.settings import engine_type_of

    def unset(key: str) -> bool:
        return given.get(key) is None or str(given[key]) == ""

    engine = "" if unset("CONTAINER_ENGINE") else str(given["CONTAINER_ENGINE"])
    kind = (engine_type_of(engine) or "docker") if engine else ""
    probes = [HOSTNAME] if unset("HOSTNAME") else []
    probes += [ROUTE] if unset("HOST_IP") or unset("NODE_MTU") else []
    probes += [ADDRESSES] if unset("NODE_MTU") else []
    probes += [HOME] if unset("U7S_WORKDIR") else []
    # The same script tells where a rootless Docker listens when only its socket shows it.
    probes += [detect_engine_probe()] if not engine or (kind == "docker" and unset("U7S_ENGINE_HOST")) else []
    if unset("COMPOSE"):
        if kind in ("", "podman"):
            probes.append([*HAS_COMMAND, "podman-compose"])
        if kind in ("", "docker"):
            probes += [[*HAS_COMMAND, "docker-compose"], [engine or "docker", "compose", "version"]]
    if unset("BYPASS4NETNS") and kind in ("", "nerdctl"):
        probes.append(BYPASS4NETNSD)
    return probes


class HostFacts:
    """Facts gathered on `host` by running probes there; each probe runs at most once."""

    def __init__(self, host: Host):
        self.host = host
        self.answers: dict[tuple[str, ...], Result] = {}

    def prefetch(self, argvs: list[list[str]]) -> None:
        """Ask these probes now, in one round trip; the facts then answer from what they said."""
        missing = [argv for argv in argvs if tuple(argv) not in self.answers]
        for argv, result in zip(missing, self.host.run_many(missing)):
            self.answers[tuple(argv)] = result

    def ask(self, argv: list[str], check: bool = False) -> Result:
        key = tuple(argv)
        if key not in self.answers:
            self.answers[key] = self.host.run(argv, check=False)
        result = self.answers[key]
        if check and not result.ok:
            raise CommandFailed(self.host.name, list(argv), result.exited, result.stderr)
        return result

    def hostname(self) -> str:
        return self.ask(HOSTNAME, check=True).stdout.strip()

    def host_ip(self) -> str:
        result = self.ask(ROUTE)
        if not result.ok:
            raise U7sError(f"HOST_IP: `ip route get 1` failed on {self.host.name} (no route?); set HOST_IP")
        return parse_route_get(result.stdout)

    def home(self) -> str:
        return self.ask(HOME, check=True).stdout

    def has_command(self, name: str) -> bool:
        return self.ask([*HAS_COMMAND, name]).ok

    def detected_engine(self) -> tuple[str, str] | None:
        """Run init-host/detect-engine.sh there: every socket and place in one command."""
        result = self.ask(detect_engine_probe())
        return parse_detected_engine(result.stdout) if result.ok else None

    def engine_address(self) -> str:
        """unix://SOCKET of a running rootless Docker that the docker CLI would not find by itself, else ""."""
        result = self.ask(detect_engine_probe())
        return parse_engine_address(result.stdout) if result.ok else ""

    def compose_plugin(self, engine: str) -> bool:
        """Whether `<engine> compose` works (Docker's CLI plugin is installed)."""
        return self.ask([engine, "compose", "version"]).ok

    def bypass4netnsd_running(self) -> bool:
        return self.ask(BYPASS4NETNSD).ok

    def link_mtu(self, host_ip: str) -> tuple[int, str] | None:
        """(MTU, which interface) of the interface that carries host_ip; None when `ip` cannot tell."""
        from u7s.facts.system import parse_link_mtu

        addresses = self.ask(ADDRESSES)
        if not addresses.ok:
            return None
        route = self.ask(ROUTE)
        return parse_link_mtu(addresses.stdout, route.stdout if route.ok else "", host_ip)
