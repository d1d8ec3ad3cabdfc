"""Pure renderers: settings in, file text out (jinja2 with StrictUndefined).

Templates live in compose/. Every value a template prints into YAML goes
through the `q` filter (JSON quoting, valid YAML); shell scripts quote with
`shquote`/`shjoin`.
"""

from __future__ import annotations

import functools
import json
import shlex

from u7s.errors import U7sError
from u7s.config import storagedir
from u7s.config.settings import DEFAULT_MTU, Settings
from u7s.render import engine, ownership

# The node network's MTU option: Podman's own name (podman-compose passes it to `podman network create --opt`;
# Podman's Docker API takes it too); Docker's name, which nerdctl also reads.
MTU_OPTION = {"podman": "mtu", "docker": "com.docker.network.driver.mtu", "nerdctl": "com.docker.network.driver.mtu"}


@functools.cache
def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_compose_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["q"] = json.dumps
    env.filters["shquote"] = shlex.quote
    env.filters["shjoin"] = shlex.join
    return env


def _compose_dir():
    from u7s.render.resources import compose_dir

    return compose_dir()


def render(name: str, **data) -> str:
    """Render compose/<name>; a missing value or a template error names the template and line."""
    import jinja2

    try:
        return _environment().get_template(name).render(**data)
    except jinja2.TemplateSyntaxError as exc:
        raise U7sError(f"template {name}, line {exc.lineno}: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise U7sError(f"template {name}: {exc.message}") from None


def settings_data(s: Settings) -> dict:
    """What the templates may use: every setting under its attribute name, and what is derived from them."""
    return {
        **s.values(),
        "bypass4netns_ignore_subnets": s.bypass4netns_ignore_subnets,
        "container_name": engine.container_name(s),
        "labels": ownership.labels(s),
        "volumes": engine.volume_names(s),
        "published": [p.compose(s.host_ip) for p in s.publish],
        "mounts": [m.compose() for m in s.mounts],
        "devices": [d.compose() for d in s.devices],
        "storage_node_path": storagedir.NODE_PATH,
        # Left out at the engines' default, so that a node made before NODE_MTU existed keeps its files.
        "network_mtu_option": MTU_OPTION[s.engine_type] if s.node_mtu != DEFAULT_MTU else "",
    }


def compose_file(s: Settings) -> str:
    return render("docker-compose.yaml.j2", **settings_data(s))


def kubeadm_config(s: Settings) -> str:
    return render("kubeadm-config.yaml.j2", **settings_data(s))


def join_script(cp_host_ip: str, cp_node_name: str, join_argv: list[str]) -> str:
    return render(
        "join-command.sh.j2",
        cp_host_ip=cp_host_ip,
        cp_node_name=cp_node_name,
        join_argv=join_argv,
    )
