"""`--allocation` and `--forks` on every task that takes `--inventory` (the cluster.* tasks, wherever defined).

Added here, once, instead of in each task's signature: U7sTask adds the options to the
task's arguments and help, and clean_errors takes them out of the call, so the task body
reads them, with the `u7s.allocation` and `u7s.forks` config keys, through `given(c)` and
`forks(c)`.
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
    """Run body without the added arguments, which `given` and `forks` answer while it runs."""
    own = inspect.signature(body).parameters
    values = {name: kwargs.pop(name, None) for name in FLAGS if name not in own}
    token = _GIVEN.set(values)
    try:
        return body(*args, **kwargs)
    finally:
        _GIVEN.reset(token)


def given(c) -> str | None:
    """--allocation, else the `u7s.allocation` config key, else None (the inventory file decides)."""
    from u7s.tasks._common import option

    value = option(c, NAME, _GIVEN.get().get(NAME), None)
    return value or None


def forks(c) -> int | None:
    """--forks, else the `u7s.forks` config key, else None (the inventory's cluster.forks, or 30, decides)."""
    from u7s.config.values import whole_number
    from u7s.errors import SettingsError
    from u7s.tasks._common import option

    flag = _GIVEN.get().get(FORKS)
    value = option(c, FORKS, flag, None)
    if value is None or value == "":
        return None
    where = "--forks" if flag not in (None, "") else "config u7s.forks"
    try:
        return whole_number(value, 1, 1000)
    except ValueError as exc:
        raise SettingsError(f"{where}: {exc}; give how many hosts to handle at once, from 1 to 1000") from None
