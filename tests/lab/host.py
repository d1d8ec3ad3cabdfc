"""One lab host as tests see it: its address and credentials, and ways to run commands there."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from .commands import run


@dataclass(frozen=True)
class LabHost:
    """A lab host: what `python -m tests.lab up` prints for it, plus helpers."""

    name: str
    address: str
    ssh_user: str
    ssh_port: int
    key: str
    known_hosts: str
    uid: int
    home: str
    netns: str
    engine_socket: str

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping) -> LabHost:
        return cls(**{field: data[field] for field in cls.__dataclass_fields__})

    def ssh_argv(self) -> list[str]:
        """Return the ssh client command line (lab key, strict known_hosts, no ~/.ssh/config)."""
        return [
            "ssh", "-F", "/dev/null", "-i", self.key, "-p", str(self.ssh_port),
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
            f"{self.ssh_user}@{self.address}",
        ]

    def ssh(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        check: bool = True,
        timeout: float = 120,
        input: str | None = None,
    ) -> subprocess.CompletedProcess:
        """Run argv on the host as its user over real SSH; env goes through `env K=V` (quoted once)."""
        words = list(argv)
        if env:
            words = ["env", *(f"{k}={v}" for k, v in env.items()), *words]
        remote = shlex.join(words)
        return run([*self.ssh_argv(), "--", remote], check=check, timeout=timeout, input=input)

    def docker(
        self, argv: Sequence[str], check: bool = True, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess:
        """Run the docker CLI here (as root) against the host's rootless engine."""
        return run(["docker", *argv], check=check, timeout=timeout, input=input,
                   env={"DOCKER_HOST": self.engine_socket})

    def in_netns(
        self, argv: Sequence[str], check: bool = True, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess:
        """Run argv as root inside the host's network namespace (as if on the host, without SSH)."""
        return run(["ip", "netns", "exec", self.netns, *argv], check=check, timeout=timeout, input=input)

