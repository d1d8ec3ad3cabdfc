"""The node container on one host: bring it up and down, run commands in it.

Each operation checks the current state first and says what it found, so
running it twice is harmless.
"""

from __future__ import annotations

import json

from u7s.node import staging
from u7s.render import bundle, engine, workdir
from u7s.errors import CommandFailed, U7sError
from u7s.run.hosts import Host, Result
from u7s.run.poll import wait_for
from u7s.ui.report import Reporter
from u7s.config.settings import Settings

BOOTED_STATES = ("running", "degraded")


UP_STAMP = ".u7s-up"  # in the working directory: the files' digest and the start time of the node they started


def parse_state(result: Result) -> dict | None:
    if not result.ok:
        return None
    try:
        return json.loads(result.stdout)
    except ValueError:
        return None


def _stamp(digest: str, state: dict) -> str:
    return f"{digest} {state.get('StartedAt', '')}\n"


class Node:
    def __init__(self, host: Host, settings: Settings, report: Reporter | None = None):
        self.host = host
        self.s = settings
        self.report = report or Reporter()

    # -- reading state -------------------------------------------------------------------
    def state(self) -> dict | None:
        """The container's engine state (Status, Running, Pid, StartedAt...), or None if absent."""
        return parse_state(self.host.run(engine.inspect_state(self.s), check=False))

    def running(self) -> bool:
        state = self.state()
        return bool(state and state.get("Running"))

    def require_running(self) -> None:
        if not self.running():
            raise U7sError(
                f"{self.host.name}: the node container {engine.container_name(self.s)} is not running; "
                "run `u7s up` first"
            )

    # -- changing state ------------------------------------------------------------------
    def up(self) -> str:
        """Stage the working directory, start the node, wait until systemd has booted.

        A node that runs, started by an `up` that finished with exactly the files it
        would write now (the stamp says so), is left alone: no compose run, no restart.
        """
        wanted = workdir.files(self.s)
        state, stamp, *files = self.host.run_many(
            [engine.inspect_state(self.s), ["cat", self.s.path(UP_STAMP)], *workdir.file_probes(self.s, wanted)])
        before = parse_state(state)
        digest = workdir.digest(wanted)
        # Changed: the files differ from what is on the host, or the last good `up` started other ones.
        changed = workdir.differing_in(wanted, files) or (stamp.ok and stamp.stdout.split()[:1] != [digest])
        if before and before.get("Running") and not changed and stamp.ok and stamp.stdout == _stamp(digest, before):
            return "unchanged"
        written = staging.stage(self.host, self.s)
        if written:
            self.report.info(f"wrote {', '.join(written)} in {self.s.workdir}")
        title = "building and starting the node" if not self.s.node_image else "starting the node"
        with self.report.step(title):
            # A node made from other files is made anew (its volumes stay), whatever the compose tool thinks.
            self._compose_up(recreate=before is not None and changed)
        after = self.state()
        self.wait_booted()
        if after:  # what this node now runs with, for the next `up` to compare
            self.host.write_file(self.s.path(UP_STAMP), _stamp(digest, after), 0o644)
        if before and before.get("Running") and after and after.get("StartedAt") == before.get("StartedAt"):
            return "unchanged"
        return "started" if before is None else "restarted"

    def _compose_up(self, recreate: bool) -> None:
        try:
            self.host.run(engine.compose_up(self.s, recreate=recreate))
        except CommandFailed as exc:  # BuildKit's or the engine's pull error says nothing of the way out
            hint = bundle.registry_hint(exc.stderr)
            if hint is None:
                raise
            raise U7sError(f"{exc}\n{self.host.name}: {hint}") from None

    def wait_booted(self) -> None:
        def booted() -> tuple[bool, str]:
            # One round trip a look: the engine's state and systemd's, together.
            inspected, result = self.host.run_many([engine.inspect_state(self.s), engine.node_exec(
                self.s, ["systemctl", "is-system-running"], env=False, stdin=False)])
            state = parse_state(inspected)
            if state is None:
                raise U7sError(f"{self.host.name}: the node container disappeared while booting")
            if not state.get("Running"):
                raise U7sError(
                    f"{self.host.name}: the node container stopped ({state.get('Status')}, "
                    f"exit {state.get('ExitCode')}); see `{' '.join(engine.engine_cmd(self.s, 'logs'))} "
                    f"{engine.container_name(self.s)}`"
                )
            status = result.stdout.strip() or result.stderr.strip() or "no answer"
            return status in BOOTED_STATES, f"systemd is {status}"

        wait_for(booted, what="the node's systemd to boot", timeout=self.s.timeout)

    def down(self, volumes: bool = False) -> str:
        present = self.state() is not None
        if self.host.read_text(self.s.path(engine.COMPOSE_FILE)) is None:
            if present:
                raise U7sError(
                    f"{self.host.name}: {engine.container_name(self.s)} exists but "
                    f"{self.s.path(engine.COMPOSE_FILE)} does not; run `u7s render` or remove it by hand"
                )
            return "absent"
        self.host.run(engine.compose_down(self.s, volumes=volumes))
        return "removed" if present else "absent"

    # -- inside the node -----------------------------------------------------------------
    def exec(
        self,
        argv: list[str],
        *,
        check: bool = True,
        stdin: str | None = None,
        env: bool = True,
        timeout: float | None = None,
    ) -> Result:
        """Run argv inside the node with the reference's environment (as -e arguments)."""
        return self.host.run(
            engine.node_exec(self.s, argv, env=env, stdin=stdin is not None),
            check=check,
            stdin=stdin,
            timeout=timeout,
        )

    def exists(self, path: str) -> bool:
        return self.exec(["test", "-e", path], check=False, env=False).ok

    def read(self, path: str) -> str:
        return self.exec(["cat", path], env=False).stdout
