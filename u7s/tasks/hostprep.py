"""`u7s init-host`: the packaged init-host scripts for this host, run or shown (pip-installed users have no checkout)."""

from __future__ import annotations

import os

from u7s.tasks._common import DRY_RUN, clean_errors, config_of, out, task

SCRIPTS = ("init-host.root.sh", "init-host.rootless.sh", "common.sh", "detect-engine.sh")


@task(help={"dry-run": DRY_RUN + " (the root part runs without sudo then)",
            "engine": "docker, podman or nerdctl (default: CONTAINER_ENGINE, else what the scripts detect)",
            "print-dir": "print the folder holding the packaged scripts and stop (to read them, or run them by hand)"})
@clean_errors
def init_host(c, dry_run=False, engine=None, print_dir=False):
    """Prepare this host with the packaged init-host scripts: the root part through sudo, then yours."""
    import getpass
    import subprocess

    from u7s.config.layers import Layers
    from u7s.render.resources import init_host_dir
    from u7s.errors import Refused, U7sError
    from u7s.tasks.fabhost import is_connection

    folder = init_host_dir()
    if print_dir:
        out(str(folder))
        return str(folder)
    if is_connection(c):
        raise Refused("init-host under fab -H: use cluster.init-host with an inventory of those hosts "
                      "(it uploads the scripts and asks for the sudo password once)")
    # The settings' order (u7s/config/layers.py): --engine over the environment over the config file.
    engine = Layers(config=config_of(c), env=os.environ, flags={"CONTAINER_ENGINE": engine} if engine else {}
                    ).explicit().get("CONTAINER_ENGINE")
    flags = (["--engine", str(engine)] if engine else []) + (["--dry-run"] if dry_run else [])
    user = getpass.getuser()
    root = ["bash", str(folder / SCRIPTS[0]), "--user", user, *flags]
    if os.geteuid() != 0 and not dry_run:  # its dry run needs no root
        root = ["sudo", *root]
    parts = [(SCRIPTS[0], root)]
    if os.geteuid() != 0:
        parts.append((SCRIPTS[1], ["bash", str(folder / SCRIPTS[1]), *flags]))
    # Attached to the terminal: sudo asks for the password there, and each step's line shows as it happens.
    for name, argv in parts:
        code = subprocess.call(argv)
        if code:
            raise U7sError(f"{name} exited {code}; its `failed:` lines above say why")
    if os.geteuid() == 0:
        from u7s.ui.report import Reporter

        Reporter().warn(f"skipped: {SCRIPTS[1]} (you are root): run `bash {folder / SCRIPTS[1]}` as the user "
                        "who runs u7s")
    return str(folder)
