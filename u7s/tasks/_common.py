"""What every task shares: settings for this host, and turning u7s errors into clean exits.

Kept light: importing this must not pull in jinja2, fabric or paramiko (help stays fast).
"""

from __future__ import annotations

import functools
import os
import sys

from invoke import Exit

DRY_RUN = "print what would run; change nothing"
SET_HELP = "KEY=VALUE: set a setting for this run (repeatable), e.g. --set PORT_ETCD=12379"


def clean_errors(body):
    """Turn the project's own errors into a one-line message and exit status 1."""

    @functools.wraps(body)
    def wrapper(*args, **kwargs):
        from u7s.errors import U7sError
        from u7s.run.lock import release_all

        try:
            return body(*args, **kwargs)
        except U7sError as exc:
            raise Exit(f"u7s: {exc}".replace("\n", "\nu7s: "), code=1) from None
        except KeyboardInterrupt:
            raise Exit("u7s: interrupted", code=130) from None
        finally:
            release_all()  # the run's locks end with its task

    return wrapper


# Task options that may also come from the `u7s` section (lower case; settings are upper case).
OPTIONS = {
    "inventory": "the inventory file of cluster.* tasks",
    "accept_unknown_host_keys": "accept SSH host keys not in known_hosts",
}


def config_of(c) -> dict:
    """The settings in the `u7s` section of the invoke configuration (config files, or a parent collection's)."""
    section = c.config.get("u7s") or {}
    return {key: section[key] for key in section if key not in OPTIONS}


def option(c, name: str, given, default):
    """A task argument: the command line wins, then the `u7s` section's key of the same name, then default."""
    if given:
        return given
    value = (c.config.get("u7s") or {}).get(name)
    return default if value is None else value


def local(c, set_=None, report_prefix=None):
    """This host, its resolved settings, and a reporter: what a single-host task works with."""
    from u7s.config.resolve import resolve
    from u7s.config.settings import parse_assignments
    from u7s.facts.host import HostFacts, likely_probes
    from u7s.run.hosts import LocalHost
    from u7s.ui.report import Reporter

    host = LocalHost(c)
    facts, flags = HostFacts(host), parse_assignments(set_ or [])
    facts.prefetch(likely_probes({**config_of(c), **os.environ, **flags}))
    settings = resolve(facts, config=config_of(c), env=os.environ, flags=flags)
    return host, settings, Reporter(report_prefix)


def this_host(c, set_=None, lock=False):
    """This host as a one-host session member; with `lock`, holding this host's lock (tasks that change it)."""
    from u7s.session import alone

    host, settings, report = local(c, set_)
    if lock:
        from u7s.run.hostlock import take

        taken = take(host, settings.workdir)
        if taken.took_over:
            from u7s.run.lock import describe

            report.warn(f"took over the lock of {describe(taken.took_over)}, which ended without releasing it")
    return alone(host, settings, report)


def steps_here(c, set_, steps, dry_run=False, titled=False, **params):
    """Run steps (u7s/steps/workflows.py) on this host, its lock held; print what each did or would do."""
    from u7s.steps.step import run_one

    member = this_host(c, set_, lock=not dry_run)
    for step in steps:
        message = run_one(step, member, dry_run, **params)
        if message:
            member.report.done(f"{step.task_name}: {message}" if titled else message)
    return member


def make_task(name: str, doc: str, body, help: dict):
    """A task made from a body shared by several tasks (one per step list), with its own name and help."""
    from invoke import task

    body.__doc__ = doc
    return task(name=name, iterable=["set_"], help=help)(clean_errors(body))


def named_steps(names) -> list:
    """The steps of u7s/steps/workflows.py named by their constants, e.g. ("JOIN", "SYNC")."""
    from u7s.steps import workflows

    return [getattr(workflows, name) for name in names]


def confirm(yes: bool, what: str) -> None:
    """Ask before destroying data; without a terminal, --yes is the only way to confirm."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise Exit(f"u7s: {what}; confirm with --yes", code=1)
    if input(f"{what}. Continue? [y/N] ").strip().lower() not in ("y", "yes"):
        raise Exit("u7s: cancelled", code=1)


def out(text: str) -> None:
    """What a task exists to print goes to stdout."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()
