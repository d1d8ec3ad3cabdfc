"""SSH session channels opened one ahead, so that a remote command waits for one round trip, not two.

A command over SSH needs a session channel: the client asks for one and waits for the
server's confirmation (a round trip), then sends the command and waits for its answer
(another). Opening a channel does not depend on the command, so each connection keeps one
channel opened ahead: a command takes it and the next one is asked for at once, in the
background, while the command runs. Over a slow link that halves the round trips of every
remote operation after the first (docs/scaling.md).

At most one channel waits unused per connection; closing the connection closes it. When the server refuses one more session
(sshd's MaxSessions), opening ahead stops for that connection and each command opens its own.
A run that changes the cluster needs two sessions at a time on each host (the host's lock
holds one while commands use another); a server that allows only one says so in one line.
Read-only tasks need one at a time, even where sshd allows no more (MaxSessions 1).
"""

from __future__ import annotations

import threading

from u7s.errors import U7sError


REFUSED_FOR = 2.0  # seconds a refused session is asked for again before the run gives up on the host


def refused(name: str) -> str:
    return (f"{name}: sshd refused a second session on the SSH connection (MaxSessions in its sshd_config?); "
            "u7s holds the host's lock in one session while it runs commands in another: set MaxSessions "
            "to 2 or more in that host's sshd_config (the default is 10)")


class AheadSessions:
    """`take()` gives an open session channel of `transport`; a spare one is kept opening behind it."""

    def __init__(self, transport, name: str = "host"):
        self._transport, self._name = transport, name
        self._lock = threading.Lock()
        self._spare = None  # the next channel, being opened on a thread of its own (_Opening)
        self._enabled = True

    def take(self):
        """The channel opened ahead when it is ready and usable, else one opened now; then the next is asked for."""
        with self._lock:
            spare, self._spare = self._spare, None
        channel = spare.wait() if spare is not None else None
        if channel is None:
            channel = self._open_now()
        self.ask_ahead()
        return channel

    def _open_now(self):
        """A channel opened now. sshd frees a closed session's slot a moment after the close arrives, so a
        server at its MaxSessions may refuse the channel that follows a command's: asked again until it is
        given; a lost connection raises as it would without sessions ahead."""
        import paramiko

        from u7s.errors import WaitTimeout
        from u7s.run.poll import wait_for

        opened = []

        def attempt() -> tuple[bool, str]:
            try:
                opened.append(self._transport.open_session())
            except paramiko.ChannelException as exc:
                return False, f"refused: {exc.text}"
            return True, "opened"

        try:
            wait_for(attempt, what="an SSH session", timeout=REFUSED_FOR, interval=0.01, max_interval=0.25)
        except WaitTimeout:
            raise U7sError(refused(self._name)) from None
        return opened[0]

    def ask_ahead(self) -> None:
        """Start opening the next channel (unless one is on its way, or the server refused one)."""
        with self._lock:
            if self._enabled and self._spare is None and self._transport.is_active():
                self._spare = _Opening(self._transport, self._refused)

    def _refused(self) -> None:
        with self._lock:
            self._enabled = False


class _Opening:
    """One channel being opened on a thread of its own (paramiko waits for the server's answer)."""

    def __init__(self, transport, refused):
        self.channel = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._open, args=(transport, refused), daemon=True,
                                        name="u7s-ssh-session-ahead")
        self._thread.start()

    def _open(self, transport, refused) -> None:
        import paramiko

        try:
            self.channel = transport.open_session()
        except paramiko.ChannelException:
            refused()  # the server allows no more sessions on this connection: stop asking ahead
        except Exception:  # noqa: BLE001 (a connection lost shows in the next command, with its own error)
            pass
        finally:
            self._done.set()

    def wait(self):
        """The opened channel, or None when it could not be opened or was closed meanwhile."""
        self._done.wait()
        channel = self.channel
        return channel if channel is not None and channel.active and not channel.closed else None


def attach(conn, name: str) -> AheadSessions:
    """Make an opened fabric Connection's commands use channels opened ahead; start opening the first."""
    ahead = AheadSessions(conn.client.get_transport(), name)
    conn.create_session = ahead.take  # fabric's Remote runner asks its Connection for each command's channel
    ahead.ask_ahead()
    return ahead
