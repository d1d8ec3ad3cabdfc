"""The `u7s` command: an invoke Program over the same collection `inv` uses in a checkout."""

from __future__ import annotations

import os

from invoke import Config, Program

from u7s import __version__


class U7sConfig(Config):
    """Config files are /etc/u7s.yaml, ~/.u7s.yaml and ./u7s.yaml; env U7S_*."""

    prefix = "u7s"


class U7sProgram(Program):
    def parse_collection(self) -> None:
        super().parse_collection()
        # A Program with a bundled collection does not look for project config by itself.
        self.config.set_project_location(os.getcwd())
        self.config.load_project()


def _terminate(signum, frame):
    # SIGTERM takes the same clean path as Ctrl-C: steps under way finish, locks are released.
    raise KeyboardInterrupt


def main() -> None:
    import signal

    from u7s.tasks import ns

    signal.signal(signal.SIGTERM, _terminate)

    U7sProgram(
        namespace=ns,
        version=__version__,
        name="u7s",
        binary="u7s",
        config_class=U7sConfig,
    ).run()
