"""The host a single-host task acts on: this machine, or under `fab -H HOST` the task's Connection.

fab hands each task a fabric Connection per `-H` host. Commands through it already run
there; u7s's file operations must too, so the task gets a RemoteHost over that
Connection (files over SFTP on the host, never on the controller). The Connection is
opened here with u7s's host-key policy (known_hosts checked; unknown keys refused unless
`u7s.accept_unknown_host_keys` is true in the config) and a connect timeout, and a
failure to connect is one line naming the host and the cause.
"""

from __future__ import annotations

import dataclasses

DEFAULT_CONNECT_TIMEOUT = 10
# connect_failure speaks of the inventory's keys and u7s's flags; under fab the same fixes have other names.
FAB_WORDS = (
    ("--accept-unknown-host-keys", "`u7s: {accept_unknown_host_keys: true}` in fabric.yaml"),
    ("check ssh.user and ssh.identity_file", "check the user (-H USER@HOST) and the key (-i FILE)"),
    ("check ssh.port", "check the port (-H HOST:PORT)"),
    ("is ssh.port right?", "is the port right (-H HOST:PORT)?"),
    ("check the address or ssh.alias", "check the host name"),
)


def is_connection(c) -> bool:
    """Whether `c` is a fabric Connection (without importing fabric when it is not loaded)."""
    import sys

    fabric = sys.modules.get("fabric")
    return fabric is not None and isinstance(c, fabric.Connection)


def host_of(c):
    """(Host, remote): a LocalHost for an invoke Context, an opened RemoteHost for a fabric Connection."""
    from u7s.run.hosts import LocalHost

    if not is_connection(c):
        return LocalHost(c), False
    return remote_host(c), True


@dataclasses.dataclass
class _Ssh:  # what connect_failure needs to know of the connection
    user: str | None
    port: int | None
    connect_timeout: int


def remote_host(conn):
    """The task's Connection, opened with u7s's host-key policy, as a RemoteHost named after its host."""
    import paramiko

    from u7s.errors import U7sError
    from u7s.run.remote import RemoteHost, _apply_host_key_policy, connect_failure

    accept = (conn.config.get("u7s") or {}).get("accept_unknown_host_keys") is True
    if conn.connect_timeout is None and "timeout" not in (conn.connect_kwargs or {}):
        conn.connect_timeout = DEFAULT_CONNECT_TIMEOUT  # fabric waits forever by default
    timeout = conn.connect_timeout or conn.connect_kwargs.get("timeout") or DEFAULT_CONNECT_TIMEOUT
    conn.connect_kwargs.setdefault("banner_timeout", timeout)
    if not conn.is_connected:
        hop = conn
        while hop is not None and hasattr(hop, "client"):
            _apply_host_key_policy(hop, None, accept)
            hop = hop.gateway if not isinstance(hop.gateway, str) else None
        try:
            conn.open()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            why = connect_failure(exc, conn.host, _Ssh(conn.user, conn.port, timeout))
            for inventory_words, fab_words in FAB_WORDS:
                why = why.replace(inventory_words, fab_words)
            raise U7sError(f"{label(conn)}: {why}") from None
    return RemoteHost(conn, label(conn))


def label(conn) -> str:
    """How messages name a -H host: `h1`, or `h1:2222` off the standard port."""
    return conn.host if conn.port == 22 else f"{conn.host}:{conn.port}"
