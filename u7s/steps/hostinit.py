"""cluster.init-host: upload init-host/ to every host and run it there, in parallel.

The root part runs through sudo (one password prompt on the controller, before
the parallel part, when any host needs one); the rootless part runs as the
SSH user. Every line the scripts print (ok / changed / skipped with a reason)
is shown, prefixed by host: nothing is skipped silently.
"""

from __future__ import annotations

import contextlib
import getpass
import posixpath
import sys

from u7s.errors import U7sError
from u7s.run.parallel import run_parallel
from u7s.session import Member
from u7s.steps.step import Step, execute
from u7s.render.resources import init_host_dir

ROOT_SCRIPT = "init-host.root.sh"
ROOTLESS_SCRIPT = "init-host.rootless.sh"
SHARED = "common.sh"  # sourced by both scripts from beside them
DETECT = "detect-engine.sh"  # run by common.sh, and by u7s itself (u7s/facts/host.py)
MODULES = "kernel-modules.sh"  # run by the root script, and by preflight (u7s/facts/kernel.py)


@contextlib.contextmanager
def _uploaded(m: Member, dry_run: bool):
    """The scripts on the host: in its working directory; for a dry run, in a private temporary folder.

    A dry run changes nothing on the host: the scripts' own --dry-run needs them there, so
    they go to `mktemp -d` (mode 0700) and that folder is removed when they have run.
    """
    folder = m.host.run(["mktemp", "-d", "-t", "u7s-init-host.XXXXXXXX"]).stdout.strip() if dry_run \
        else m.settings.path("init-host")
    try:
        paths = {}
        for name in (SHARED, DETECT, MODULES, ROOT_SCRIPT, ROOTLESS_SCRIPT):
            paths[name] = posixpath.join(folder, name)
            m.host.write_file(paths[name], (init_host_dir() / name).read_bytes(), 0o755)
        yield paths
    finally:
        if dry_run:
            m.host.run(["rm", "-rf", "--", folder], check=False)


def _identity(m: Member) -> tuple[str, bool]:
    who = m.host.run(["id", "-un"]).stdout.strip()
    return who, who == "root"


def _needs_password(m: Member) -> bool:
    _, is_root = _identity(m)
    return not is_root and not m.host.run(["sudo", "-n", "true"], check=False).ok


def _ask_password(context, names: list[str]) -> str:
    """Ask on the terminal; without one, say how to give the password instead of reading stdin."""
    prefix = (getattr(context.config, "env_prefix", None) or context.config.prefix).upper()
    if not sys.stdin.isatty():
        raise U7sError(f"sudo on {', '.join(names)} needs a password and there is no terminal to ask on; "
                       f"pass --prompt-for-sudo-password, or set sudo.password in the config or {prefix}_SUDO_PASSWORD")
    return getpass.getpass(f"sudo password for {', '.join(names)}: ")


def _check_password(members: list[Member], password: str) -> None:
    """Try the password on every host that needs it before anything runs anywhere."""
    refused: set[str] = set()

    def try_one(m: Member) -> str:
        # -k: ignore cached credentials, so the password itself is what is checked.
        if not m.host.run(["sudo", "-S", "-k", "-p", "", "true"], check=False, stdin=f"{password}\n").ok:
            refused.add(m.name)
        return ""

    run_parallel(members, try_one)
    if refused:
        raise U7sError(f"sudo did not accept the password on {', '.join(sorted(refused))}; nothing was run")


def _show(m: Member, text: str) -> tuple[int, int, int]:
    counts = [0, 0, 0]
    for line in text.splitlines():
        if line.startswith("changed:"):
            counts[0] += 1
            m.report.done(line)
        elif line.startswith("skipped:"):
            counts[2] += 1
            m.report.warn(line)
        elif line.startswith("ok:"):
            counts[1] += 1
            m.report.skip(line)
        elif line.strip():
            m.report.info(line)
    return tuple(counts)


def run_all(context, run, start_engine: bool = False) -> None:
    """Run init-host/ on every healthy member; one error lists every host that failed.

    start_engine: the rootless part starts rootless Docker itself where no systemd user instance does.
    """
    execute(run, [INIT_HOST], password=None if run.dry_run else _password(context, run.healthy),
            start_engine=start_engine)


def _password(context, members: list[Member]) -> str | None:
    """The sudo password, asked for once before anything runs and tried on every host that needs one."""
    asking: set[str] = set()
    run_parallel(members, lambda m: asking.add(m.name) or "" if _needs_password(m) else "")
    if not asking:
        return None
    password = context.config.get("sudo", {}).get("password") or _ask_password(context, sorted(asking))
    _check_password([m for m in members if m.name in asking], password)
    return password


def _init_one(run, m: Member, password: str | None, start_engine: bool) -> str:
    with _uploaded(m, run.dry_run) as paths:
        return _run_scripts(m, paths, run.dry_run, password, start_engine)


# No dry-run text of its own: under --dry-run the scripts run with theirs, from a temporary folder.
INIT_HOST = Step("init-host", _init_one, None)


def _run_scripts(m: Member, paths: dict, dry_run: bool, password: str | None, start_engine: bool = False) -> str:
    """The root part (through sudo unless the SSH user is root), then the rootless part; counts of their lines."""
    user, is_root = _identity(m)
    flags = ["--engine", m.settings.engine_type] + (["--dry-run"] if dry_run else [])
    root_argv = ["bash", paths[ROOT_SCRIPT], "--user", user, *flags]
    if not is_root and not dry_run:  # the root script's dry run needs no root
        root_argv = ["sudo", "-S", "-p", "", *root_argv]
    stdin = f"{password}\n" if password and not is_root and not dry_run else None
    r = m.host.run(root_argv, check=False, stdin=stdin)
    root_counts = _show(m, r.stdout)
    if not r.ok:
        raise U7sError(f"{ROOT_SCRIPT} failed (exit {r.exited}): {(r.stderr.strip() or r.stdout.strip())[-300:]}")
    if is_root:
        m.report.warn(f"skipped: {ROOTLESS_SCRIPT} (the SSH user is root; connect as the user who runs u7s)")
        return f"root part: {root_counts[0]} changed, {root_counts[1]} ok, {root_counts[2]} skipped"
    rootless_flags = [*flags, *(["--start-engine"] if start_engine else [])]
    r = m.host.run(["bash", paths[ROOTLESS_SCRIPT], *rootless_flags], check=False)
    counts = _show(m, r.stdout)
    if not r.ok:
        raise U7sError(f"{ROOTLESS_SCRIPT} failed (exit {r.exited}): {(r.stderr.strip() or r.stdout.strip())[-300:]}")
    total = [a + b for a, b in zip(root_counts, counts)]
    return f"init-host: {total[0]} changed, {total[1]} ok, {total[2]} skipped"
