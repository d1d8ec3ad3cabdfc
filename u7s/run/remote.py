"""Remote hosts over SSH (fabric), with host keys checked and files moved over SFTP.

fabric accepts any host key by default; u7s loads known_hosts and refuses keys
it does not know, unless the inventory opts in (ssh.accept_unknown_host_keys)
or the task is given --accept-unknown-host-keys.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import posixpath
import re
import secrets
import socket
import stat
import threading

from u7s.errors import U7sError
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
    """A host reached over SSH: commands through the Connection, files through SFTP."""

    def __init__(self, connection, name: str):
        super().__init__(connection, name)
        self._sftp = None

    @property
    def sftp(self):
        if self._sftp is None:
            self._sftp = self.context.sftp()
        return self._sftp

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

        channel = self.context.client.get_transport().open_session()
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
        try:
            with self.sftp.open(path, "r") as handle:
                return handle.read().decode()
        except FileNotFoundError:
            return None

    def write_file(self, path: str, data: str | bytes, mode: int = 0o644) -> bool:
        raw = data.encode() if isinstance(data, str) else data
        try:
            if self.sftp.stat(path).st_mode & 0o777 == mode:
                with self.sftp.open(path, "r") as handle:
                    if handle.read() == raw:
                        return False
        except FileNotFoundError:
            pass
        self.makedirs(posixpath.dirname(path))
        tmp = f"{path}.u7s-{secrets.token_hex(4)}"
        # The mode is set while the file is still empty: a secret never sits readable.
        try:
            with self.sftp.open(tmp, "wb") as handle:
                self.sftp.chmod(tmp, mode)
                handle.write(raw)
            self.sftp.posix_rename(tmp, path)
        except BaseException:
            try:  # no half-written temporary file is left behind when a write fails or is cut short
                self.sftp.remove(tmp)
            except Exception:
                pass
            raise
        return True

    def remove(self, path: str) -> bool:
        try:
            self.sftp.remove(path)
            return True
        except FileNotFoundError:
            return False

    def makedirs(self, path: str, mode: int = 0o700) -> None:
        try:
            if stat.S_ISDIR(self.sftp.stat(path).st_mode):
                return
        except FileNotFoundError:
            pass
        self.run(["mkdir", "-p", "-m", f"{mode:o}", path])

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
        self.context.close()
