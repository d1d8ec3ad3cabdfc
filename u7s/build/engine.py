"""Argument lists for the container engine and its compose tool.

Pure functions of the settings: nothing here runs anything. The node container
has a fixed name (`<project>-node`) so that every engine finds it the same way.
"""

from __future__ import annotations

from u7s.config.settings import Settings

COMPOSE_FILE = "docker-compose.yaml"
SERVICE = "node"


def container_name(s: Settings) -> str:
    return f"{s.project}-node"


def compose(s: Settings, *args: str) -> list[str]:
    return [*s.compose, "-f", s.path(COMPOSE_FILE), "-p", s.project, *args]


def compose_up(s: Settings) -> list[str]:
    build = [] if s.node_image else ["--build"]
    return compose(s, "up", "-d", *build)


def compose_down(s: Settings, volumes: bool = False) -> list[str]:
    return compose(s, "down", *(["-v"] if volumes else []))


def compose_config(s: Settings) -> list[str]:
    """Validate and print the resolved compose file (the compose tool's own check)."""
    return compose(s, "config")


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
    return [s.container_engine, "exec", *flags, container_name(s), *argv]


def inspect_state(s: Settings) -> list[str]:
    return [s.container_engine, "inspect", "--type", "container", "--format", "{{json .State}}", container_name(s)]


def copy_from_node(s: Settings, src: str, dest: str) -> list[str]:
    return [s.container_engine, "cp", f"{container_name(s)}:{src}", dest]


def read_in_engine_netns(s: Settings, image: str, *paths: str) -> list[str]:
    """`cat` files in a throw-away container on the engine's own network namespace (--net=host)."""
    return [s.container_engine, "run", "--rm", "--net=host", "--entrypoint", "cat", image, *paths]


def node_image_of(s: Settings) -> list[str]:
    """The image the running node container was created from."""
    return [s.container_engine, "inspect", "--format", "{{.Config.Image}}", container_name(s)]


def network_names(s: Settings) -> list[str]:
    return [s.container_engine, "network", "ls", "--format", "{{.Name}}"]


def network_inspect(s: Settings, names: list[str]) -> list[str]:
    """The networks' JSON (Docker and nerdctl: IPAM.Config[].Subnet; Podman: subnets[].subnet)."""
    return [s.container_engine, "network", "inspect", "--", *names]


def engine_info(s: Settings) -> list[str]:
    return [s.container_engine, "info", "--format", "{{json .}}"]


def volume_names(s: Settings) -> dict[str, str]:
    """The node's named volumes by mount point; the compose file names them explicitly."""
    return {path: f"{s.project}-{path.strip('/')}" for path in ("/var", "/opt", "/etc")}
