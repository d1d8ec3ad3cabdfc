"""Session channels opened ahead (u7s/run/sessions.py): a fake transport that records its opens."""

from __future__ import annotations

import threading

import paramiko
import pytest

from u7s.errors import U7sError
from u7s.run.sessions import AheadSessions


class Channel:
    def __init__(self, n):
        self.n, self.active, self.closed = n, True, False

    def close(self):
        self.closed, self.active = True, False


class Transport:
    """Opens numbered channels; refuses past `limit` open at once, as sshd's MaxSessions does."""

    def __init__(self, limit=10):
        self.limit, self.opened, self.lock = limit, [], threading.Lock()

    def is_active(self):
        return True

    def open_session(self):
        with self.lock:
            if sum(not c.closed for c in self.opened) >= self.limit:
                raise paramiko.ChannelException(1, "Administratively prohibited")
            self.opened.append(Channel(len(self.opened)))
            return self.opened[-1]


def test_each_command_takes_the_channel_opened_before_it_and_one_more_is_asked_for():
    t = Transport()
    ahead = AheadSessions(t)
    ahead.ask_ahead()
    first = ahead.take()
    assert first.n == 0
    first.close()
    second = ahead.take()
    assert second.n == 1
    assert ahead._spare.wait().n == 2  # the next one is on its way: at most one waits unused


def test_a_spare_the_server_closed_is_not_used():
    t = Transport()
    ahead = AheadSessions(t)
    ahead.ask_ahead()
    ahead._spare.wait().close()
    assert ahead.take().n == 1


def test_a_server_that_refuses_more_sessions_stops_the_asking_ahead():
    t = Transport(limit=1)
    ahead = AheadSessions(t)
    first = ahead.take()  # nothing ahead yet: opened now; the spare asked next is refused
    ahead._spare.wait()
    assert not ahead._enabled
    first.close()
    second = ahead.take()  # opened on its own, as without sessions ahead
    assert second.n == 1 and ahead._spare is None


def test_a_session_refused_while_the_last_one_is_still_being_freed_is_asked_for_again():
    t = Transport(limit=1)
    ahead = AheadSessions(t, "h2")
    first = ahead.take()
    ahead._spare.wait()  # refused: asking ahead stops
    freed = threading.Timer(0.05, first.close)  # sshd frees the slot a moment after the close
    freed.start()
    assert ahead.take().n == 1
    freed.join()


def test_a_server_allowing_one_session_only_is_named_with_the_fix(monkeypatch):
    monkeypatch.setattr("u7s.run.sessions.REFUSED_FOR", 0.1)
    t = Transport(limit=1)
    ahead = AheadSessions(t, "h2")
    held = ahead.take()  # the host's lock holds this one
    assert held.n == 0
    with pytest.raises(U7sError, match=r"^h2: sshd refused a second session .* set MaxSessions to 2 or more"):
        ahead.take()
