"""Facts about a host, each a read-only command plus a pure parser.

Settings ask for a fact only when the user did not give the value; each is
looked up at most once per host.
"""

from __future__ import annotations

from typing import Sequence

from u7s.errors import CommandFailed
from u7s.config.values import ENGINES
from u7s.facts.hostip import ADDRESSES, ROUTE, choose, owned
from u7s.run.hosts import Host, Result


def parse_detected_engine(text: str) -> tuple[str, str] | None:
    """(engine, why) from the line init-host/detect-engine.sh prints; None when it found nothing."""
    engine, sep, rest = text.strip().partition("\t")
    why = rest.partition("\t")[0]
    return (engine, why) if sep and engine in ENGINES and why else None


def parse_engine_address(text: str) -> str:
    """The address field of detect-engine.sh's line (a rootless Docker found by its socket alone), or ""."""
    fields = text.strip().split("\t")
    return fields[2] if len(fields) == 3 and fields[0] == "docker" and fields[2].startswith("unix:///") else ""


HOSTNAME = ["hostname"]
HOME = ["sh", "-c", 'printf %s "$HOME"']
HAS_COMMAND = ["sh", "-c", 'command -v "$1" >/dev/null', "sh"]  # the name travels as a positional argument
BYPASS4NETNSD = ["sh", "-c", 'test -S "${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/bypass4netnsd.sock"']


def detect_engine_probe() -> list[str]:
    """init-host/detect-engine.sh, the file init-host itself runs: every socket and place in one command."""
    from u7s.render.resources import init_host_dir

    script = (init_host_dir() / "detect-engine.sh").read_text()
    return ["sh", "-c", script, "detect-engine.sh"]


def likely_probes(given: dict, reached_by: Sequence[str] = ()) -> list[list[str]]:
    """The probes settings will ask for when `given` (the user's values) leaves them to facts.

    Asked together beforehand (one round trip); `docker compose version` is asked on
    the chance that the engine is Docker with a standalone docker-compose as well, and the
    default route along with the host's addresses (`reached_by`: what SSH reaches it by).
    """
    from u7s.config.settings import engine_type_of

    def unset(key: str) -> bool:
        return given.get(key) is None or str(given[key]) == ""

    engine = "" if unset("CONTAINER_ENGINE") else str(given["CONTAINER_ENGINE"])
    kind = (engine_type_of(engine) or "docker") if engine else ""
    probes = [HOSTNAME] if unset("HOSTNAME") else []
    need_route = unset("HOST_IP") or unset("NODE_MTU")  # NODE_MTU: the interface that carries HOST_IP
    probes += [ROUTE] if need_route else []
    probes += [ADDRESSES] if (unset("HOST_IP") and reached_by) or unset("NODE_MTU") else []
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
    """Facts gathered on `host` by running probes there; each probe runs at most once.

    `reached_by`: the IPv4 addresses the inventory (or `fab -H`) reaches the host by
    (u7s/facts/hostip.py), HOST_IP's first choice when the host has one of them.
    """

    def __init__(self, host: Host, reached_by: Sequence[str] = ()):
        self.host = host
        self.reached_by = list(reached_by)
        self.answers: dict[tuple[str, ...], Result] = {}
        self._host_ip: tuple[str, str] | None = None

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
        """An address SSH reaches the host by, when the host has it; else the default route's source."""
        if self._host_ip is None:
            addresses = self.ask(ADDRESSES) if self.reached_by else None
            route = None if owned(self.reached_by, addresses) else self.ask(ROUTE)
            self._host_ip = choose(self.host.name, self.reached_by, addresses, route)
        return self._host_ip[0]

    def host_ip_source(self) -> str:
        """Where host_ip() took its address from (u7s/facts/hostip.py: FROM_INVENTORY or FROM_ROUTE)."""
        self.host_ip()
        return self._host_ip[1]

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
