"""What every task shares: settings for this host, invoke's core flags, and errors as invoke Exits.

Kept light: importing this must not pull in jinja2, fabric or paramiko (help stays fast).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
from typing import Mapping

import invoke

DRY_RUN = "print what would run; change nothing"
SET_HELP = "KEY=VALUE: set a setting for this run (repeatable), e.g. --set PORT_ETCD=12379"
# One short flag, one meaning, in every task; options not named here have none.
SHORT_FLAGS = {"set": "s", "dry-run": "d", "inventory": "i", "json": "j", "output": "o", "yes": "y"}


class U7sTask(invoke.Task):
    """An invoke Task whose short flags come from SHORT_FLAGS instead of each name's first free letter."""

    def __init__(self, *args, **kwargs):
        from u7s.tasks import allocflag

        kwargs["auto_shortflags"] = False
        super().__init__(*args, **kwargs)
        if allocflag.wanted(super().argspec(self.body)):
            for name, text in allocflag.FLAGS.items():
                self.help.setdefault(name, text)

    def argspec(self, body):
        from u7s.tasks import allocflag

        return allocflag.signature(super().argspec(body))

    def arg_opts(self, name, default, taken_names):
        opts = super().arg_opts(name, default, taken_names)
        short = SHORT_FLAGS.get(opts["names"][0])
        if short and short not in taken_names:
            opts["names"].append(short)
        return opts


def task(*args, **kwargs):
    """invoke's @task, making U7sTasks."""
    kwargs.setdefault("klass", U7sTask)
    return invoke.task(*args, **kwargs)


def _terminate(signum, frame):
    # SIGTERM takes the same clean path as Ctrl-C: steps under way finish, locks are released.
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While a task runs (under u7s, inv, fab or a Python caller), SIGTERM is Ctrl-C, unless someone handles it."""
    install = threading.current_thread() is threading.main_thread() and \
        signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)
    if install:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        if install:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def clean_errors(body):
    """Apply invoke's core flags, check the config files, and end the run's locks with the task.

    u7s's errors are invoke Exits (u7s/errors.py): raised to a Python caller as they are,
    printed by invoke's program as one line each. Ctrl-C and SIGTERM become Interrupted (status 130).
    """

    @functools.wraps(body)
    def wrapper(*args, **kwargs):
        from u7s.errors import Interrupted
        from u7s.run.lock import release_all

        with _sigterm_as_interrupt():
            try:
                if args:
                    from u7s.config import configfiles
                    from u7s.tasks import coreflags

                    configfiles.check_loaded(getattr(args[0], "config", None))
                    kwargs = coreflags.apply(args[0], body, kwargs)
                from u7s.tasks import allocflag

                return allocflag.call(body, args, kwargs)
            except KeyboardInterrupt as exc:
                if isinstance(exc, Interrupted):
                    raise
                raise Interrupted() from None
            finally:
                # The run's locks end with its task; tasks running in threads (fab -H, u7s/fab.py) share
                # the process's locks, which the thread that started them releases when all are done.
                if threading.current_thread() is threading.main_thread():
                    release_all()

    return wrapper


def read_only(body):
    """clean_errors for a task that changes nothing: under --dry it runs as usual."""
    body.u7s_reads_only = True
    return clean_errors(body)


# Task options that may also come from the `u7s` section (lower case; settings are upper case).
OPTIONS = {
    "inventory": "the inventory file of cluster.* tasks",
    "accept_unknown_host_keys": "accept SSH host keys not in known_hosts",
    "allocation": "the batch job whose nodes cluster.* tasks use (slurm, flux, auto)",
    "forks": "how many hosts cluster.* tasks handle at once (default 30)",
}


def config_of(c) -> dict:
    """The settings in the `u7s` section of the invoke configuration (config files, or a parent collection's)."""
    section = c.config.get("u7s") or {}
    return {key: section[key] for key in section if key not in OPTIONS}


def config_sources(c) -> dict:
    """Where each setting of the `u7s` section came from (`FILE line N`), as far as u7s loaded the files."""
    from u7s.config import configfiles

    return configfiles.origins(c.config)


def option(c, name: str, given, default):
    """A task argument: the command line wins, then the `u7s` section's key of the same name, then default."""
    if given:
        return given
    value = (c.config.get("u7s") or {}).get(name)
    return default if value is None else value


def flags_of(set_) -> dict:
    """--set values: ["KEY=VALUE", ...] from the command line, or a mapping from a Python caller."""
    from u7s.config.settings import SPECS, parse_assignments
    from u7s.errors import SettingsError

    if isinstance(set_, Mapping):
        unknown = [key for key in set_ if key not in SPECS]
        if unknown:
            raise SettingsError(f"set_ {unknown[0]}: unknown setting; known: {', '.join(SPECS)}")
        return dict(set_)
    return parse_assignments(set_ or [])


def local(c, set_=None, report_prefix=None):
    """This host (or, under `fab -H`, the task's host), its resolved settings, and a reporter."""
    from u7s.config.layers import Layers
    from u7s.config.resolve import resolve
    from u7s.facts.host import HostFacts, likely_probes
    from u7s.tasks import fabhost
    from u7s.ui.report import Reporter

    host, remote = fabhost.host_of(c)
    facts, flags = HostFacts(host), flags_of(set_)
    # The controller's environment describes the controller: it is no layer of a remote host's settings.
    layers = Layers(config=config_of(c), config_sources=config_sources(c), env={} if remote else os.environ, flags=flags)
    facts.prefetch(likely_probes(layers.explicit()))
    settings = resolve(facts, layers=layers)
    return host, settings, Reporter(host.name if remote and report_prefix is None else report_prefix)


def this_host(c, set_=None, lock=False):
    """This host as a one-host session member; with `lock`, holding this host's lock (tasks that change it)."""
    from u7s.session import alone

    host, settings, report = local(c, set_)
    if lock:
        from u7s.node import identity
        from u7s.run.hostlock import take

        identity.check(host, settings)  # another cluster's node or working directory is left alone
        taken = take(host, settings.workdir)
        if taken.took_over:
            from u7s.run.lock import describe

            report.warn(f"took over the lock of {describe(taken.took_over)}, which ended without releasing it")
    return alone(host, settings, report)


def steps_here(c, set_, steps, dry_run=False, titled=False, **params):
    """Run steps (u7s/steps/workflows.py) on this host, a run of one, its lock held; print what each did or would
    do. Returns the run."""
    from u7s.session import one_host
    from u7s.steps.step import execute

    run = one_host(this_host(c, set_, lock=not dry_run), dry_run)
    execute(run, steps, titled=titled, **params)
    return run


def make_task(name: str, doc: str, body, help: dict):
    """A task made from a body shared by several tasks (one per step list), with its own name and help."""
    body.__doc__ = doc
    body.u7s_task_name = name
    return task(name=name, iterable=["set_"], help=help)(clean_errors(body))


def workflows():
    """u7s/steps/workflows.py, whose Steps the tasks run: imported when a task runs, so that `--help` stays light."""
    from u7s.steps import workflows as module

    return module


def confirm(yes: bool, what: str) -> None:
    """Ask before destroying data; without a terminal, --yes is the only way to confirm."""
    from u7s.errors import Cancelled

    if yes:
        return
    if not sys.stdin.isatty():
        raise Cancelled(f"{what}; confirm with --yes")
    if input(f"{what}. Continue? [y/N] ").strip().lower() not in ("y", "yes"):
        raise Cancelled("cancelled")


def out(text: str) -> None:
    """What a task exists to print goes to stdout."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()
