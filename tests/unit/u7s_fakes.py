"""Fakes shared by the unit tests: host facts, a scripted host, settings made from a few values.

Nothing here runs a command, touches an engine or opens a connection.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Callable

from u7s.run.hosts import Host, Result
from u7s.config.settings import Settings
from u7s.config.resolve import resolve

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOLDEN = Path(__file__).resolve().parent / "golden"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


class FakeFacts:
    """Facts of a made-up host; `asked` records which facts settings looked up."""

    def __init__(
        self,
        hostname: str = "host1",
        host_ip: str = "192.0.2.10",
        home: str = "/home/user",
        commands: tuple[str, ...] = ("dockerd-rootless.sh",),
        bypass4netnsd: bool = False,
        compose_plugin: bool = True,
        running: tuple[str, str] | None = None,
        address: str = "",
        host_ip_source: str = "detected: the default route's source (ip route get 1)",
        link: tuple[int, str] | None = (1500, "eth0, the interface with HOST_IP"),
    ):
        self._hostname, self._host_ip, self._home = hostname, host_ip, home
        self._host_ip_source = host_ip_source
        self.address = address  # what detect-engine.sh says of a rootless Docker found by its socket alone
        self.commands, self.bypass4netnsd = set(commands), bypass4netnsd
        self._compose_plugin = compose_plugin
        self.running = running
        self.link = link  # (MTU, which interface) of HOST_IP's interface
        self.asked: list[str] = []

    def hostname(self) -> str:
        self.asked.append("hostname")
        return self._hostname

    def host_ip(self) -> str:
        self.asked.append("host_ip")
        return self._host_ip

    def host_ip_source(self) -> str:
        return self._host_ip_source

    def home(self) -> str:
        self.asked.append("home")
        return self._home

    def has_command(self, name: str) -> bool:
        self.asked.append(f"has_command:{name}")
        return name in self.commands

    def detected_engine(self) -> tuple[str, str] | None:
        """A running engine if given, else the first setup tool in `commands`, as detect-engine.sh orders them."""
        self.asked.append("detected_engine")
        if self.running:
            return self.running
        for tool, engine in (("dockerd-rootless.sh", "docker"), ("containerd-rootless.sh", "nerdctl"),
                             ("podman", "podman")):
            if tool in self.commands:
                return engine, f"/usr/bin/{tool}"
        return None

    def engine_address(self) -> str:
        self.asked.append("engine_address")
        return self.address

    def compose_plugin(self, engine: str) -> bool:
        self.asked.append(f"compose_plugin:{engine}")
        return self._compose_plugin

    def bypass4netnsd_running(self) -> bool:
        self.asked.append("bypass4netnsd_running")
        return self.bypass4netnsd

    def link_mtu(self, host_ip: str) -> tuple[int, str] | None:
        self.asked.append(f"link_mtu:{host_ip}")
        return self.link


class RefusingFacts:
    """Facts that must not be needed: every look-up fails the test."""

    def __getattr__(self, name):
        def refuse(*args):
            raise AssertionError(f"settings asked for the fact {name}{args} although the value was given")

        return refuse


def make_settings(facts=None, **flags) -> Settings:
    """Settings for host1 (docker, 192.0.2.10, workdir /home/user/.local/share/u7s/u7s) plus `flags`."""
    return resolve(facts or FakeFacts(), flags={k: str(v) for k, v in flags.items()})


Matcher = Callable[[list[str]], bool]


class FakeHost(Host):
    """A host whose commands answer from a script of rules; unknown commands fail the test.

    A rule is (matcher, Result). Matchers see the argv the command was built
    from (the shell string `Host.run` makes, split back), so a test also
    proves that quoting survives the trip.
    """

    name = "fake"

    def __init__(self, files: dict[str, str] | None = None):
        self.rules: list[tuple[Matcher, Result]] = []
        self.files = dict(files or {})
        self.calls: list[list[str]] = []
        self.stdins: list[str | None] = []
        self.written: dict[str, tuple[bytes, int]] = {}

    def on(self, *prefix: str, result: Result | None = None, contains: str | None = None,
           exited: int = 0, stdout: str = "", stderr: str = "") -> "FakeHost":
        """Answer commands starting with `prefix` (and containing `contains` in some word); newest rule wins."""

        def match(argv: list[str]) -> bool:
            return argv[: len(prefix)] == list(prefix) and (
                contains is None or any(contains in word for word in argv)
            )

        self.rules.insert(0, (match, result or Result(exited, stdout, stderr)))
        return self

    def _run(self, command: str, *, stdin: str | None, timeout: float | None) -> Result:
        argv = shlex.split(command)
        self.calls.append(argv)
        self.stdins.append(stdin)
        for match, result in self.rules:
            if match(argv):
                return result
        return self.from_files(argv)

    def from_files(self, argv: list[str]) -> Result:
        """Probes that read a file (cat, sha256sum, stat -c %a) read the fake's files."""
        path = argv[-1]
        text = self.files.get(path)
        missing = Result(1, "", f"{argv[0]}: {path}: No such file or directory\n")
        if argv[:1] == ["cat"] and len(argv) == 2:
            return Result(0, text, "") if text is not None else missing
        if argv[:2] == ["sha256sum", "--"] and len(argv) == 3:
            import hashlib

            raw = self.written[path][0] if path in self.written else (text or "").encode()
            return Result(0, f"{hashlib.sha256(raw).hexdigest()}  {path}\n", "") if text is not None else missing
        if argv[:4] == ["stat", "-c", "%a", "--"] and len(argv) == 5:
            mode = self.written[path][1] if path in self.written else 0o644
            return Result(0, f"{mode:o}\n", "") if text is not None else missing
        if argv[:2] == ["test", "-d"] and len(argv) == 3:  # a directory made here, or one holding a file
            there = path in self.__dict__.get("dirs", ()) or any(f.startswith(path.rstrip("/") + "/") for f in self.files)
            return Result(0 if there else 1, "", "")
        raise AssertionError(f"FakeHost: no rule for {argv}")

    def read_text(self, path: str) -> str | None:
        return self.files.get(path)

    def write_file(self, path: str, data: str | bytes, mode: int = 0o644) -> bool:
        raw = data.encode() if isinstance(data, str) else data
        if self.written.get(path) == (raw, mode):
            return False
        self.written[path] = (raw, mode)
        self.files[path] = raw.decode()
        return True

    def remove(self, path: str) -> bool:
        return self.files.pop(path, None) is not None

    def makedirs(self, path: str, mode: int = 0o700) -> None:
        self.__dict__.setdefault("dirs", set()).add(path)

    def run_streaming(self, argv, source, sent=None) -> Result:
        """Answer like `run`; what was streamed is kept in `streamed` (one entry per call)."""
        data = source.read()
        self.__dict__.setdefault("streamed", []).append(data)
        if sent:
            sent(len(data))
        return self.run(argv, check=False)


class Clock:
    """A monotonic clock that advances only when slept on: waits run instantly and deterministically."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def run_of(cp, workers: dict, dry_run: bool = False, report=None):
    """A cluster run of these Nodes: `cp` the control plane, `workers` by inventory name (u7s/session.py: Run)."""
    from u7s.config.inventory import HostSpec, Inventory, Ssh
    from u7s.session import Member, Run
    from u7s.ui.report import Reporter

    specs = [HostSpec("cp", None, "control-plane", False, Ssh())] + [
        HostSpec(name, None, "worker", False, Ssh()) for name in workers]
    members = [Member(spec, node.report, node.host, node.s) for spec, node in zip(specs, [cp, *workers.values()])]
    return Run(Inventory("hosts.yaml", "t", specs), members, report or Reporter(), dry_run=dry_run)
