"""Which engine and compose tool a host uses, and the address u7s gives the engine: part of resolving settings.

The engine and its compose tool come from the settings or from the host (init-host/detect-engine.sh, the
file init-host runs too). A rootless Docker that only its socket reveals is addressed explicitly: its CLI
would otherwise ask /var/run/docker.sock (Debian 12's setup tool leaves no CLI context, and a non-login
SSH session has no DOCKER_HOST).
"""

from __future__ import annotations

import shlex

from u7s.config import values
from u7s.config.settings import engine_type_of
from u7s.errors import SettingsError


class EngineChoice:
    """Mixed into the settings resolver (u7s/config/resolve.py), whose text(), given(), bad(), facts and
    sources it uses."""

    def engine(self) -> tuple[str, str, tuple[str, ...]]:
        engine = self.text("CONTAINER_ENGINE")
        if not engine:
            # init-host/detect-engine.sh, the file init-host itself uses: both pick the same engine.
            found = self.facts.detected_engine()
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

    def engine_host(self, engine_type: str) -> str:
        """U7S_ENGINE_HOST as given, else (docker only) the socket of a rootless daemon found by it alone."""
        if self.given("U7S_ENGINE_HOST"):
            value = self.text("U7S_ENGINE_HOST")
            try:
                values.engine_host(value)
            except ValueError as exc:
                self.bad("U7S_ENGINE_HOST", str(exc), "e.g. U7S_ENGINE_HOST=unix:///run/user/1000/docker.sock")
                return ""
            if engine_type == "nerdctl":
                self.bad("U7S_ENGINE_HOST", "nerdctl finds its rootless containerd by itself", "unset it")
            return value
        if engine_type != "docker":
            return ""
        address = self.facts.engine_address()
        if address:
            self.sources["U7S_ENGINE_HOST"] = "detected: the running rootless daemon's socket (no DOCKER_HOST set)"
        return address
