"""invoke's core flags (`--dry`, `--echo`, `--hide`, `--warn-only`, `--pty`, `--command-timeout`) for u7s tasks.

u7s runs its commands itself (captured, checked, prefixed by host; u7s/run/hosts.py), so
invoke's own handling of these flags never reaches them. Each is honoured here where it
means something for u7s, and refused with one line where it does not; none is ignored:
- `--dry`: the task's own dry run (`--dry-run`); a task that only reads runs as usual; a
  task that changes something and has no dry run is refused.
- `--echo`: every command u7s runs is printed first, on stderr, prefixed by its host.
- `--pty`: honoured by `shell` (a terminal in the node even when stdin is none); refused elsewhere.
- `--hide`, `--warn-only`, `--command-timeout`: refused (what u7s does instead is in the message).
Flags come from the command line (invoke's overrides level). The same keys in a config
file (`run.pty: true` in ~/.invoke.yaml is common for other projects) get a warning
instead of a refusal, except `run.dry`, which is honoured from anywhere.
"""

from __future__ import annotations

import inspect
import sys

from u7s.errors import Refused

REFUSED = {
    "hide": ("--hide", "u7s always captures its commands' output and reports per host; --echo shows the commands"),
    "warn": ("--warn-only", "u7s stops a host's step at a failed command and lists every failed host at the end"),
}
TIMEOUT_WHY = ("u7s waits for conditions, not single commands; give each wait a limit with "
               "--set U7S_TIMEOUT=SECONDS")


def task_name(body) -> str:
    """The task's name as users type it: `down-v`, `cluster.down-v`."""
    name = getattr(body, "u7s_task_name", None) or body.__name__.replace("_", "-")
    return f"cluster.{name}" if body.__module__.endswith(".cluster") else name


def _given(config, level: str) -> dict:
    data = getattr(config, level, None) or {}
    return {"run": dict(data.get("run") or {}), "timeouts": dict(data.get("timeouts") or {})}


def apply(c, body, kwargs: dict) -> dict:
    """The task's keyword arguments with the core flags applied; Refused for a flag it cannot honour."""
    config = getattr(c, "config", None)
    if config is None:
        return kwargs
    name = task_name(body)
    if name.startswith("cluster.") and _is_connection(c):
        raise Refused(f"{name} under fab -H: cluster tasks reach their hosts themselves, from an inventory "
                      f"(hosts.yaml, --inventory); run `fab {name}` without -H, or `u7s {name}`")
    run = config.get("run") or {}
    flags = _given(config, "_overrides")  # what the command line gave
    if run.get("dry"):
        kwargs = _dry(body, name, kwargs)
    for key, (flag, why) in REFUSED.items():
        if flags["run"].get(key):
            raise Refused(f"{flag}: {why}; run `{name}` without it")
        if run.get(key):
            _warn(f"run.{key} from the configuration does not apply to u7s's commands ({why})")
    if flags["run"].get("pty"):
        if not getattr(body, "u7s_pty", False):
            raise Refused(f"--pty: `{name}` runs its commands without a terminal; only `shell` takes --pty")
        kwargs = {**kwargs, "pty": True}
    elif run.get("pty") and not getattr(body, "u7s_pty", False):
        _warn("run.pty from the configuration does not apply to u7s's commands (only `shell` takes --pty)")
    if flags["timeouts"].get("command"):
        raise Refused(f"--command-timeout: {TIMEOUT_WHY}")
    return kwargs


def _is_connection(c) -> bool:
    from u7s.tasks.fabhost import is_connection

    return is_connection(c)


def _dry(body, name: str, kwargs: dict) -> dict:
    if "dry_run" in inspect.signature(body).parameters:
        return {**kwargs, "dry_run": True}
    if getattr(body, "u7s_reads_only", False):
        return kwargs  # it changes nothing: its dry run is the task itself
    raise Refused(f"--dry: `{name}` changes things and has no dry run; run it without --dry")


def _warn(text: str) -> None:
    sys.stderr.write(f"u7s: warning: {text}\n")


def echoing(context) -> bool:
    """Whether `--echo` (run.echo) asks for every command to be shown before it runs."""
    config = getattr(context, "config", None)
    try:
        return bool(config.run.echo) if config is not None else False
    except AttributeError:
        return False
