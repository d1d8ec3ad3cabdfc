"""The `u7s` command: an invoke Program over the same collection `inv` uses in a checkout."""

from __future__ import annotations

import errno
import os
import sys

from invoke import Config, Program

from u7s import __version__


class U7sConfig(Config):
    """Config files are /etc/u7s.yaml, ~/.u7s.yaml, ./u7s.yaml and -f FILE; env U7S_*.

    Each file is read by u7s's bounded loader and checked before invoke merges it
    (u7s/config/configfiles.py); where each setting came from is kept for messages.
    """

    prefix = "u7s"
    u7s_checked = True  # configfiles.check_loaded: the files were checked as they were loaded

    def _load_checked(self, path):
        from u7s.config import configfiles

        if not os.path.exists(path):  # invoke tries every suffix: a missing one is skipped, as it expects
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)

        data, origins = configfiles.load(path, self.global_defaults())
        self._set(_u7s_origins={**(getattr(self, "_u7s_origins", None) or {}), **origins})
        return data

    _load_yaml = _load_yml = _load_json = _load_py = _load_checked


class U7sProgram(Program):
    def parse_collection(self) -> None:
        super().parse_collection()
        # A Program with a bundled collection does not look for project config by itself.
        self.config.set_project_location(os.getcwd())
        self.config.load_project()

    def update_config(self, merge: bool = True) -> None:
        super().update_config(merge)
        given = self.args.config.value or os.environ.get("INVOKE_RUNTIME_CONFIG")
        if given and not self.config._runtime_found:  # invoke skips a missing -f FILE without a word
            from u7s.errors import U7sError

            raise U7sError(f"-f {given}: no such file")

    def run(self, argv=None, exit: bool = True) -> None:
        from invoke.config import AmbiguousMergeError
        from invoke.exceptions import UnknownFileType

        try:
            super().run(argv, exit)
        except (AmbiguousMergeError, UnknownFileType) as exc:  # what invoke's config can raise besides ours
            print(f"u7s: config: {exc}", file=sys.stderr)
            if exit:
                sys.exit(1)


def _terminate(signum, frame):
    # Kept for callers of the old name; tasks install the same handler themselves (u7s/tasks/_common.py).
    raise KeyboardInterrupt


def main() -> None:
    from u7s.ui import streams
    from u7s.tasks import ns

    streams.tolerate_any_encoding()
    U7sProgram(
        namespace=ns,
        version=__version__,
        name="u7s",
        binary="u7s",
        config_class=U7sConfig,
    ).run()
