"""Remote hosts over SSH (fabric), with host keys checked and files moved by one command each.

fabric accepts any host key by default; u7s loads known_hosts and refuses keys
it does not know, unless the inventory opts in (ssh.accept_unknown_host_keys)
or the task is given --accept-unknown-host-keys.

A file written, read or removed is one command (u7s/run/files.py), not SFTP: over a slow
link SFTP costs a round trip per step (its start, stat, open, chmod, write, close, rename).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import socket
import threading

from u7s.errors import U7sError
from u7s.run import files, sessions
from u7s.run.hosts import ContextHost, Result
from u7s.config.inventory import HostSpec

# paramiko logs a failed handshake with its traceback from its own thread; u7s reports
# the failure itself, in one line per host (a user's own logging setup still sees it).
logging.getLogger("paramiko").addHandler(logging.NullHandler())


class Gateways:
    """The jump hosts of one run: one connection to each, shared by every host reached through it.

    A bastion's sshd drops new connections while too many are still unauthenticated
    (MaxStartups, 10 by default): a fleet that opened its own connection to the
    bastion for every host would lose some of them at random. Channels through one
    connection have no such limit.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._shared: dict[tuple, object] = {}
        self._opening: dict[tuple, threading.Lock] = {}
        self._failed: dict[tuple, BaseException] = {}  # a jump host that could not be reached is tried once

    def share(self, conn, policy: tuple) -> tuple | None:
        """Replace conn's jump host (if any) by the run's connection to the same hop(s); its key, or None."""
        from fabric import Connection

        if not isinstance(conn.gateway, Connection):
            return None
        key = (policy, *hops(conn.gateway))
        with self._lock:
            conn.gateway = self._shared.setdefault(key, conn.gateway)
            self._opening.setdefault(key, threading.Lock())
        return key

    def open(self, key: tuple | None) -> None:
        """Open a shared jump host once (fabric would open it from each host's thread at the same time).

        When that fails, every host behind it fails with the same error, at once.
        """
        if key is None:
            return
        with self._opening[key]:
            if key in self._failed:
                raise self._failed[key]
            try:
                self._shared[key].open()
            except BaseException as exc:
                self._failed[key] = exc
                raise


def hops(conn) -> list[tuple]:
    """(user, host, port) of a connection and of each jump host behind it, nearest first."""
    from fabric import Connection

    chain = []
    while isinstance(conn, Connection):
        chain.append((conn.user, conn.host, conn.port))
        conn = conn.gateway
    return chain


def connect(spec: HostSpec, config, accept_unknown: bool = False, gateways: Gateways | None = None):
    """A fabric Connection for `spec`, opened, with the host-key policy applied.

    With `gateways`, a jump host (ssh.jump, or ProxyJump in ~/.ssh/config) is shared with the
    other hosts of the run that go through it.
    """
    import paramiko
    from fabric import Config, Connection

    ssh = spec.ssh
    target = ssh.alias or spec.address
    # A port that accepts but never speaks SSH fails after connect_timeout, not paramiko's 15 s.
    kwargs = {"banner_timeout": ssh.connect_timeout}
    if ssh.identity_file:
        kwargs["key_filename"] = [os.path.expanduser(ssh.identity_file)]
    fabric_config = config if isinstance(config, Config) else Config(overrides={"run": {"in_stream": False}})
    gateway = None
    if ssh.jump:
        gateway = _jump(ssh.jump, fabric_config, ssh, kwargs)
    conn = Connection(
        target,
        user=ssh.user,
        port=ssh.port,
        config=fabric_config,
        gateway=gateway,
        connect_timeout=ssh.connect_timeout,
        connect_kwargs=kwargs,
    )
    # Every hop is checked: the jump host given here and any ProxyJump hops that
    # fabric builds from ~/.ssh/config (which it would otherwise let accept any key).
    hop = conn
    while isinstance(hop, Connection):
        _apply_host_key_policy(hop, ssh.known_hosts, accept_unknown or ssh.accept_unknown_host_keys)
        hop = hop.gateway
    # Shared only with hosts whose hops are checked the same way and use the same key.
    policy = (ssh.known_hosts, accept_unknown or ssh.accept_unknown_host_keys, ssh.identity_file)
    shared = gateways.share(conn, policy) if gateways is not None else None
    if shared is not None:
        jump = conn.gateway
        try:
            gateways.open(shared)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            where = f"{jump.user}@{jump.host}:{jump.port}"
            why = connect_failure(exc, jump.host, dataclasses.replace(ssh, user=jump.user, port=jump.port))
            raise U7sError(f"{spec.name}: jump host {where}: {why}") from None
    try:
        conn.open()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise U7sError(f"{spec.name}: {connect_failure(exc, target, ssh)}") from None
    if not conn.forward_agent:  # fabric sets up agent forwarding on each channel it opens itself
        sessions.attach(conn, spec.name)  # each command's channel is opened ahead: one round trip a command, not two
    return conn


def connect_failure(exc: BaseException, target: str, ssh) -> str:
    """One line naming why SSH to `target` failed, for the failures a user can fix."""
    import paramiko

    port = f":{ssh.port}" if ssh.port else ""
    text = " ".join(str(exc).split())[:200]
    if isinstance(exc, paramiko.BadHostKeyException):
        return (f"the host key of {target} does not match known_hosts; "
                "if the host was reinstalled, remove its old key (ssh-keygen -R)")
    if isinstance(exc, paramiko.AuthenticationException):
        return (f"authentication to {target} as {ssh.user or 'the default user'} failed ({text}); "
                "check ssh.user and ssh.identity_file")
    if isinstance(exc, paramiko.SSHException):
        unknown = re.search(r"Server '([^']*)' not found in known_hosts", str(exc))
        if unknown:  # the server named is the hop that was refused, which may be a jump host
            return (f"unknown host key for {unknown.group(1)}; add it to known_hosts "
                    "(ssh-keyscan) or allow it with --accept-unknown-host-keys")
        if "protocol banner" in str(exc):
            return f"{target}{port} answered, but is not an SSH server; check ssh.port"
        if "No existing session" in str(exc):  # paramiko gave up waiting for the handshake before its banner check
            return (f"{target}{port} accepted the connection but no SSH session started within "
                    f"{ssh.connect_timeout}s; is it an SSH server (check ssh.port)?")
        return f"SSH to {target} failed: {text}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {target} ({exc.strerror}); check the address or ssh.alias"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no answer from {target}{port} within {ssh.connect_timeout}s; check the address and firewalls"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError) or isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {target}{port}; is sshd running there, and is ssh.port right?"
    if isinstance(exc, EOFError):
        return f"{target}{port} closed the connection during the SSH handshake"
    return f"cannot reach {target} over SSH: {exc.strerror or text}" if isinstance(exc, OSError) \
        else f"cannot reach {target} over SSH: {text}"


def _jump(jump: str, config, ssh, connect_kwargs: dict):
    """The jump host (`[user@]host[:port]` or an ssh_config alias), with the same key."""
    from fabric import Connection

    return Connection(jump, config=config, connect_timeout=ssh.connect_timeout, connect_kwargs=dict(connect_kwargs))


def _apply_host_key_policy(conn, known_hosts: str | None, accept_unknown: bool) -> None:
    import paramiko

    client = conn.client
    path = os.path.expanduser(known_hosts or "~/.ssh/known_hosts")
    if os.path.exists(path):
        client.load_host_keys(path)
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy() if accept_unknown else paramiko.RejectPolicy())


class RemoteHost(ContextHost):
    """A host reached over SSH: commands through the Connection, files by one command each (u7s/run/files.py)."""

    def __init__(self, connection, name: str):
        super().__init__(connection, name)

    def _run(self, command: str, *, stdin: str | None, timeout: float | None) -> Result:
        try:
            return super()._run(command, stdin=stdin, timeout=timeout)
        except (OSError, EOFError) as exc:
            raise U7sError(f"{self.name}: lost the SSH connection: {exc}") from None
        except Exception as exc:
            import paramiko

            if isinstance(exc, paramiko.SSHException):
                raise U7sError(f"{self.name}: lost the SSH connection: {exc}") from None
            raise

    def passthrough(self, argv, tty: bool = False) -> int:
        """Run argv on the host attached to this terminal (shell, logs under fab -H); its exit status."""
        import shlex

        if self.echo:
            self.show(argv)
        r = self.context.run(shlex.join(str(a) for a in argv), pty=tty, warn=True, hide=False, echo=False, dry=False)
        return r.exited

    def run_streaming(self, argv, source, sent=None) -> Result:
        """The command on its own SSH channel; the source goes in with sendall, chunk by chunk."""
        import shlex

        from .hosts import pump

        channel = self.context.create_session()
        try:
            channel.exec_command(shlex.join(str(a) for a in argv))
            stdout, stderr = channel.makefile("rb"), channel.makefile_stderr("rb")
            return pump(source, channel.sendall, channel.shutdown_write, stdout.read, stderr.read,
                        channel.recv_exit_status, sent)
        except (OSError, EOFError) as exc:
            raise U7sError(f"{self.name}: lost the SSH connection: {exc}") from None
        finally:
            channel.close()

    def read_text(self, path: str) -> str | None:
        return files.read_text(self, path)

    def write_file(self, path: str, data: str | bytes, mode: int = 0o644) -> bool:
        return files.write_file(self, path, data, mode)

    def remove(self, path: str) -> bool:
        return files.remove(self, path)

    def makedirs(self, path: str, mode: int = 0o700) -> None:
        files.makedirs(self, path, mode)

    def close(self) -> None:
        self.context.close()
