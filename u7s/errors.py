"""The one exception root of u7s. Only the task layer turns these into messages.

U7sError is an invoke `Exit`: an error that escapes a task, also one called from
another project's task, ends `u7s`, `inv` or `fab` with its message on one line per
problem (each starting `u7s: `) and exit status 1, without a traceback, while Python
callers catch it by its own type (`except SettingsError`).
"""

from __future__ import annotations

from invoke.exceptions import Exit



def last_line(text: str | None, otherwise: str = "") -> str:
    """The last line a command or an exception said (where it names what went wrong), else `otherwise`."""
    return ((text or "").strip().splitlines() or [otherwise])[-1]

class U7sError(Exit):
    """An error u7s reports to the user as a message, without a traceback."""

    exit_code = 1

    def __init__(self, message: str = ""):
        Exception.__init__(self, message)  # not Exit.__init__: `message` and `code` are derived here

    @property
    def message(self) -> str:
        """What invoke's Program prints: every line of the error, each prefixed `u7s: `."""
        return "u7s: " + str(self).replace("\n", "\nu7s: ")

    @property
    def code(self) -> int:
        return self.exit_code


class Interrupted(U7sError, KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a task: its steps under way finished, its locks released; status 130.

    Also a KeyboardInterrupt, so a Python caller's own Ctrl-C handling still sees it.
    """

    exit_code = 130

    def __init__(self, message: str = "interrupted"):
        super().__init__(message)


class SettingsError(U7sError):
    """A setting has a value u7s cannot use; raised before anything runs."""

    def __init__(self, message: str, keyed: list[tuple[str, str]] | None = None):
        super().__init__(message)
        # (setting, problem) pairs, for callers that name where the setting came from (hosts.yaml).
        self.keyed = keyed or []


class CommandFailed(U7sError):
    """A command on a host exited non-zero where success was required."""

    def __init__(self, where: str, argv: list[str], exited: int, stderr: str = ""):
        self.where = where
        self.argv = argv
        self.exited = exited
        self.stderr = stderr
        tail = last_line(stderr)
        detail = f": {tail}" if tail else ""
        super().__init__(f"{where}: `{argv[0]} {' '.join(argv[1:3])}...` exited {exited}{detail}")


class WaitTimeout(U7sError):
    """A condition u7s polls for did not come true in time."""


class InventoryError(U7sError):
    """An inventory (hosts.yaml) with problems; each is one line naming the key and the fix."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class Refused(U7sError):
    """A request u7s will not carry out as asked (an invoke flag it cannot honour, a task under fab -H, ...)."""


class CheckFailed(U7sError):
    """A check ran and found problems (preflight, the network check); what it found was printed first."""

    def __init__(self, message: str, results=None):
        super().__init__(message)
        self.results = results  # what the check found, for Python callers


class Cancelled(U7sError):
    """The user answered no (or could not be asked) before data would have been destroyed."""
