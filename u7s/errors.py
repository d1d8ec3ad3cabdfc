"""The one exception root of u7s. Only the task layer turns these into messages."""


class U7sError(Exception):
    """An error u7s reports to the user as a message, without a traceback."""


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
        tail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        detail = f": {tail}" if tail else ""
        super().__init__(f"{where}: `{argv[0]} {' '.join(argv[1:3])}...` exited {exited}{detail}")


class WaitTimeout(U7sError):
    """A condition u7s polls for did not come true in time."""


class InventoryError(U7sError):
    """An inventory (hosts.yaml) with problems; each is one line naming the key and the fix."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))
