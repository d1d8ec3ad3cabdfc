"""SSH connection failures a user can fix become one line naming the cause, with real sockets where possible."""

from __future__ import annotations

import socket

import paramiko
import pytest

from u7s.errors import U7sError
from u7s.config.inventory import HostSpec, Ssh
from u7s.run.remote import connect, connect_failure


def spec(address, port, timeout=2):
    return HostSpec("h1", address, "worker", False, Ssh(user="alice", port=port, connect_timeout=timeout))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_one_line(capfd):
    with pytest.raises(U7sError) as caught:
        connect(spec("127.0.0.1", free_port()), None)
    assert str(caught.value).startswith("h1: connection refused by 127.0.0.1:")
    assert "Traceback" not in capfd.readouterr().err


def test_a_port_that_is_not_ssh_is_named_as_such_without_paramikos_traceback(capfd):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    try:
        import threading

        def serve():
            conn, _ = server.accept()
            conn.sendall(b"220 smtp ready\r\n")
            conn.close()

        threading.Thread(target=serve, daemon=True).start()
        with pytest.raises(U7sError, match=rf"h1: 127.0.0.1:{port} answered, but is not an SSH server"):
            connect(spec("127.0.0.1", port), None)
    finally:
        server.close()
    assert "Traceback" not in capfd.readouterr().err


def test_a_handshake_that_never_starts_is_named_in_one_line():
    assert connect_failure(paramiko.SSHException("No existing session"), "bastion", Ssh(port=2222, connect_timeout=3)) \
        == "bastion:2222 accepted the connection but no SSH session started within 3s; is it an SSH server " \
           "(check ssh.port)?"


def test_a_silent_port_times_out_after_connect_timeout_not_paramikos_fifteen_seconds():
    import time

    server = socket.create_server(("127.0.0.1", 0))  # accepts (backlog) but never speaks
    try:
        start = time.monotonic()
        with pytest.raises(U7sError, match="h1: "):
            connect(spec("127.0.0.1", server.getsockname()[1], timeout=1), None)
        assert time.monotonic() - start < 10  # paramiko alone would wait 15 s
    finally:
        server.close()


@pytest.mark.parametrize("exc, expected", [
    (socket.gaierror(-2, "Name or service not known"), "cannot resolve h.example (Name or service not known)"),
    (socket.timeout("timed out"), "no answer from h.example:22 within 10s"),
    (paramiko.AuthenticationException("Authentication failed."), "authentication to h.example as alice failed"),
    (EOFError(), "closed the connection during the SSH handshake"),
    (OSError(113, "No route to host"), "cannot reach h.example over SSH: No route to host"),
])
def test_each_cause_has_its_own_words(exc, expected):
    ssh = Ssh(user="alice", port=22, connect_timeout=10)
    line = connect_failure(exc, "h.example", ssh)
    assert expected in line and "\n" not in line


class Bastion:
    """A jump host that accepts connections and does not speak SSH; counts the connections."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted = []
        import threading

        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.accepted.append(conn)
            conn.sendall(b"220 smtp ready\r\n")
            conn.close()


def test_hosts_behind_one_jump_host_open_one_connection_to_it_and_share_its_failure():
    # A bastion's sshd drops connections beyond MaxStartups (10 unauthenticated by default): a fleet behind it
    # must not open one connection to it per host. When it cannot be reached, each host says so at once.
    from concurrent.futures import ThreadPoolExecutor

    from u7s.run.remote import Gateways

    bastion = Bastion()
    gateways = Gateways()
    specs = [HostSpec(f"h{i}", f"10.0.0.{i}", "worker", False,
                      Ssh(user="alice", port=22, connect_timeout=1, jump=f"bob@127.0.0.1:{bastion.port}"))
             for i in range(1, 6)]

    def attempt(s):
        try:
            connect(s, None, gateways=gateways)
        except U7sError as exc:
            return str(exc)

    try:
        with ThreadPoolExecutor(5) as pool:
            errors = list(pool.map(attempt, specs))
    finally:
        bastion.server.close()
    assert len(bastion.accepted) == 1
    for s, error in zip(specs, errors):
        assert error == (f"{s.name}: jump host bob@127.0.0.1:{bastion.port}: 127.0.0.1:{bastion.port} answered, "
                         "but is not an SSH server; check ssh.port"), error


def test_hosts_share_a_jump_connection_only_when_hops_and_checks_are_the_same():
    from fabric import Connection

    from u7s.run.remote import Gateways, hops

    def via(*chain, target="10.0.0.9"):
        gateway = None
        for hop in reversed(chain):
            gateway = Connection(hop, gateway=gateway)
        return Connection(target, user="alice", gateway=gateway)

    gateways = Gateways()
    a, b, c, d = via("bob@bastion"), via("bob@bastion", target="10.0.0.8"), via("carol@bastion"), \
        via("bob@bastion:2222", "bob@outer")
    keys = [gateways.share(conn, ("kh", False, None)) for conn in (a, b, c, d)]
    assert a.gateway is b.gateway and keys[0] == keys[1]
    assert c.gateway is not a.gateway and d.gateway is not a.gateway
    assert hops(d.gateway) == [("bob", "bastion", 2222), ("bob", "outer", 22)]
    other_policy = via("bob@bastion")
    gateways.share(other_policy, ("other_known_hosts", False, None))
    assert other_policy.gateway is not a.gateway
    assert gateways.share(Connection("10.0.0.7"), ("kh", False, None)) is None  # no jump host: nothing shared
