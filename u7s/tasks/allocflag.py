"""`--allocation` on every task that takes `--inventory` (the cluster.* tasks, wherever they are defined).

Added here, once, instead of in each task's signature: U7sTask adds the option to the
task's arguments and help, and clean_errors takes it out of the call, so the task body
reads it through `on_command_line()` (and the `u7s.allocation` config key after it).
"""

from __future__ import annotations

import contextvars
import inspect

NAME = "allocation"
HELP = ("take the hosts from the batch job u7s runs in: slurm, flux or auto (`slurm:NODE` makes NODE the control "
        "plane); with --inventory, that file gives the settings and ssh")
_GIVEN: contextvars.ContextVar = contextvars.ContextVar("u7s_allocation", default=None)


def wanted(sig: inspect.Signature) -> bool:
    return "inventory" in sig.parameters and NAME not in sig.parameters


def signature(sig: inspect.Signature) -> inspect.Signature:
    """The task's signature for invoke, with `allocation=None` after its own parameters."""
    if not wanted(sig):
        return sig
    extra = inspect.Parameter(NAME, inspect.Parameter.KEYWORD_ONLY, default=None)
    params = list(sig.parameters.values())
    at = next((i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD), len(params))
    return sig.replace(parameters=params[:at] + [extra] + params[at:])


def call(body, args, kwargs):
    """Run body without the `allocation` argument, which `given` answers while it runs."""
    value = kwargs.pop(NAME, None) if NAME not in inspect.signature(body).parameters else None
    token = _GIVEN.set(value)
    try:
        return body(*args, **kwargs)
    finally:
        _GIVEN.reset(token)


def on_command_line() -> str | None:
    """--allocation as given to the task running now, else None; u7s/tasks/cluster.py falls back on the config key."""
    return _GIVEN.get()
