"""Argument lists for the container engine and its compose tool.

Pure functions of the settings: nothing here runs anything. The node container
has a fixed name (`<project>-node`) so that every engine finds it the same way.
"""

from __future__ import annotations

from u7s.config.settings import Settings

COMPOSE_FILE = "docker-compose.yaml"


def container_name(s: Settings) -> str:
    return f"{s.project}-node"


def _addressed(s: Settings, command) -> list[str]:
    """command, pointed at U7S_ENGINE_HOST when there is one (through `env`: a plain word, not shell text)."""
    variable = {"docker": "DOCKER_HOST", "podman": "CONTAINER_HOST"}.get(s.engine_type)
    if s.engine_host and variable:
        return ["env", f"{variable}={s.engine_host}", *command]
    return list(command)


def engine_cmd(s: Settings, *args: str) -> list[str]:
    """The container engine's command line: every engine command u7s runs starts here."""
    return [*_addressed(s, [s.container_engine]), *args]


def compose_cmd(s: Settings, *args: str) -> list[str]:
    """The compose tool's command line, addressed like the engine (Compose talks to the same daemon)."""
    return [*_addressed(s, s.compose), *args]


def compose(s: Settings, *args: str) -> list[str]:
    return compose_cmd(s, "-f", s.path(COMPOSE_FILE), "-p", s.project, *args)


def compose_up(s: Settings, recreate: bool = False) -> list[str]:
    """`up -d`; `recreate` when the node's files changed: not every compose tool recreates a changed container
    by itself (podman-compose before 1.0.6 starts the old one again)."""
    build = [] if s.node_image else ["--build"]
    return compose(s, "up", "-d", *build, *(["--force-recreate"] if recreate else []))


def compose_down(s: Settings, volumes: bool = False) -> list[str]:
    return compose(s, "down", *(["-v"] if volumes else []))




def node_exec(
    s: Settings,
    argv: list[str],
    *,
    env: bool = True,
    stdin: bool = True,
    tty: bool = False,
) -> list[str]:
    """`<engine> exec` in the node with the reference's environment given as -e arguments."""
    flags = []
    if stdin:
        flags.append("-i")
    if tty:
        flags.append("-t")
    if env:
        for key, value in s.node_env().items():
            flags += ["-e", f"{key}={value}"]
    return engine_cmd(s, "exec", *flags, container_name(s), *argv)


def inspect_state(s: Settings) -> list[str]:
    return engine_cmd(s, "inspect", "--type", "container", "--format", "{{json .State}}", container_name(s))


def copy_from_node(s: Settings, src: str, dest: str) -> list[str]:
    return engine_cmd(s, "cp", f"{container_name(s)}:{src}", dest)


def read_in_engine_netns(s: Settings, image: str, *paths: str) -> list[str]:
    """`cat` files in a throw-away container on the engine's own network namespace (--net=host)."""
    return engine_cmd(s, "run", "--rm", "--net=host", "--entrypoint", "cat", image, *paths)


def node_image_of(s: Settings) -> list[str]:
    """The image the running node container was created from."""
    return engine_cmd(s, "inspect", "--format", "{{.Config.Image}}", container_name(s))


def network_names(s: Settings) -> list[str]:
    return engine_cmd(s, "network", "ls", "--format", "{{.Name}}")


def network_inspect(s: Settings, names: list[str]) -> list[str]:
    """The networks' JSON (Docker and nerdctl: IPAM.Config[].Subnet; Podman: subnets[].subnet)."""
    return engine_cmd(s, "network", "inspect", "--", *names)


def engine_info(s: Settings) -> list[str]:
    return engine_cmd(s, "info", "--format", "{{json .}}")


def volume_names(s: Settings) -> dict[str, str]:
    """The node's named volumes by mount point; the compose file names them explicitly."""
    return {path: f"{s.project}-{path.strip('/')}" for path in ("/var", "/opt", "/etc")}
