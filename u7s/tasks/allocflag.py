"""`--allocation` and `--forks` on every task that takes `--inventory` (the cluster.* tasks, wherever defined).

Added here, once, instead of in each task's signature: U7sTask adds the options to the
task's arguments and help, and clean_errors takes them out of the call, so the task body
reads them through `on_command_line(NAME)` (and the `u7s.allocation` / `u7s.forks` config
keys after them, in u7s/tasks/cluster.py).
"""

from __future__ import annotations

import contextvars
import inspect

NAME = "allocation"
HELP = ("take the hosts from the batch job u7s runs in: slurm, flux or auto (`slurm:NODE` makes NODE the control "
        "plane); with --inventory, that file gives the settings and ssh")
FORKS = "forks"
FORKS_HELP = ("how many hosts are handled at once (default: u7s.forks in the config, else the inventory's "
              "cluster.forks, else 30); the others wait their turn")
FLAGS = {NAME: HELP, FORKS: FORKS_HELP}
_GIVEN: contextvars.ContextVar = contextvars.ContextVar("u7s_cluster_flags", default={})


def wanted(sig: inspect.Signature) -> bool:
    return "inventory" in sig.parameters and NAME not in sig.parameters


def signature(sig: inspect.Signature) -> inspect.Signature:
    """The task's signature for invoke, with `allocation=None, forks=None` after its own parameters."""
    if not wanted(sig):
        return sig
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None) for name in FLAGS]
    params = list(sig.parameters.values())
    at = next((i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD), len(params))
    return sig.replace(parameters=params[:at] + extra + params[at:])


def call(body, args, kwargs):
    """Run body without the added arguments, which `on_command_line` answers while it runs."""
    own = inspect.signature(body).parameters
    token = _GIVEN.set({name: kwargs.pop(name, None) for name in FLAGS if name not in own})
    try:
        return body(*args, **kwargs)
    finally:
        _GIVEN.reset(token)


def on_command_line(name: str = NAME) -> str | None:
    """--allocation (or --forks) as given to the task running now, else None; cluster.py falls back on the config."""
    return _GIVEN.get().get(name)


def forks_of(c) -> int | None:
    """--forks, else the `u7s.forks` config key, as a count of hosts (None: cluster.forks, or 30, decides)."""
    from u7s.config.values import whole_number
    from u7s.errors import SettingsError

    flag_given = on_command_line(FORKS) not in (None, "")
    value = on_command_line(FORKS) if flag_given else (c.config.get("u7s") or {}).get(FORKS)
    if value is None or value == "":
        return None
    try:
        return whole_number(value, 1, 1000)
    except ValueError as exc:
        where = "--forks" if flag_given else "config u7s.forks"
        raise SettingsError(f"{where}: {exc}; give how many hosts to handle at once, from 1 to 1000") from None
