"""Join tokens outlive their joins (issue 18): a fresh bootstrap token per join, deleted when it is over.

The control plane is a fake that makes and deletes tokens as kubeadm does and keeps a clock of its own;
the workers' joins are fakes that take a long time on that clock and check the token they were given.
"""

from __future__ import annotations

import io
import itertools
import re
import shlex
import threading

import pytest

from u7s import session
from u7s.config.inventory import parse
from u7s.errors import U7sError
from u7s.node import container, joinstate, kube
from u7s.run.hosts import Result
from u7s.steps import step, workflows
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import FakeFacts, FakeHost, make_settings

HASH = "sha256:" + "3f" * 32
MINUTE = 60.0


def seconds(ttl: str) -> float:
    """Pure: a Go duration of whole minutes or hours (what u7s passes as --ttl) in seconds."""
    return sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in re.findall(r"(\d+)([hms])", ttl))


class ControlPlane(FakeHost):
    """kubeadm token create/delete in the control-plane node, with expiries on this host's clock."""

    name = "cp"

    def __init__(self):
        super().__init__()
        self.now = 0.0
        self.live: dict[str, tuple[str, float]] = {}  # token ID -> (secret, expires at)
        self.argvs: list[list[str]] = []  # the kubeadm command lines, in order
        self.most_live = 0
        self.delete_answer: Result | None = None
        self._ids = (f"tok{n:03d}" for n in itertools.count())
        self._lock = threading.Lock()

    def _run(self, command, *, stdin, timeout):
        argv = shlex.split(command)
        self.calls.append(argv)
        kubeadm = argv[argv.index("kubeadm"):]
        with self._lock:
            self.argvs.append(kubeadm)
            if kubeadm[1:3] == ["token", "create"]:
                opts = dict(zip(kubeadm[4::2], kubeadm[5::2]))  # after --print-join-command
                token_id, secret = next(self._ids), "0123456789abcdef"
                self.live[token_id] = (secret, self.now + seconds(opts.get("--ttl", "24h")))
                self.most_live = max(self.most_live, len(self.live))
                return Result(0, f"kubeadm join u7s-cp:6443 --token {token_id}.{secret} "
                                 f"--discovery-token-ca-cert-hash {HASH} \n", "")
            if kubeadm[1:3] == ["token", "delete"]:
                if self.delete_answer is not None:
                    return self.delete_answer
                self.live.pop(kubeadm[3], None)
                return Result(0, f'bootstrap token "{kubeadm[3]}" deleted\n', "")
        raise AssertionError(f"control plane: no rule for {argv}")

    def valid(self, token: str) -> bool:
        token_id, _, secret = token.partition(".")
        with self._lock:
            known, expires = self.live.get(token_id, ("", 0.0))
            return known == secret and expires > self.now


def make_run(workers: int, concurrency: int, join_minutes: float, monkeypatch, meet=None):
    """A run over a fake control plane and `workers` fake workers whose joins take `join_minutes` each.

    With `meet` (a barrier), the joins wait for each other there, so that their tokens exist at once.
    """
    names = [f"w{i}" for i in range(1, workers + 1)]
    inventory = parse({"cluster": {"join_concurrency": concurrency}, "hosts": [
        {"name": "cp", "address": "192.0.2.1", "role": "control-plane"},
        *({"name": n, "address": f"192.0.2.{i + 2}"} for i, n in enumerate(names))]})
    stream = io.StringIO()
    cp = ControlPlane()
    members = []
    for spec in inventory.hosts:
        host = cp if spec.name == "cp" else FakeHost()
        host.name = spec.name
        settings = make_settings(FakeFacts(hostname=spec.name, host_ip=spec.address))
        members.append(session.Member(spec, Reporter(spec.name, stream=stream), host=host, settings=settings))
    run = session.Run(inventory, members, Reporter(stream=stream))
    used: dict[str, str] = {}

    def join(node, script):
        """kubeadm join takes its time; the token must be valid when discovery and the TLS bootstrap use it."""
        token = re.search(r"--token ([a-z0-9]{6}\.[a-z0-9]{16})", script).group(1)
        assert cp.valid(token), f"{node.host.name} was given an expired or deleted token"
        if meet is not None:
            meet.wait(timeout=10)
        with cp._lock:
            cp.now += join_minutes * MINUTE / 2
        assert cp.valid(token), f"{node.host.name}'s token expired in the middle of its join"
        with cp._lock:
            cp.now += join_minutes * MINUTE / 2  # then its kubelet registers (the token is no longer used)
        used[node.host.name] = token
        return "joined"

    monkeypatch.setattr(container.Node, "require_running", lambda self: None)
    monkeypatch.setattr(joinstate, "read", lambda node: (joinstate.FRESH, ""))
    monkeypatch.setattr(workflows.lifecycle, "join_with", join)
    return run, cp, used, stream


def test_a_long_run_one_at_a_time_never_joins_with_an_expired_token(monkeypatch):
    # 8 joins of 15 minutes one after another: two hours, far longer than any one token lives.
    run, cp, used, _ = make_run(workers=8, concurrency=1, join_minutes=15, monkeypatch=monkeypatch)
    step.execute(run, [workflows.JOIN])
    assert sorted(used) == [f"w{i}" for i in range(1, 9)]
    assert len(set(used.values())) == 8  # a token per join
    creates = [a for a in cp.argvs if a[1:3] == ["token", "create"]]
    deletes = [a for a in cp.argvs if a[1:3] == ["token", "delete"]]
    assert len(creates) == len(deletes) == 8
    # Each token is made right before its join and deleted once it is over: create, delete, create, ...
    assert [a[2] for a in cp.argvs] == ["create", "delete"] * 8
    assert all(seconds(c[c.index("--ttl") + 1]) > 15 * MINUTE for c in creates)
    assert all(c[c.index("--description") + 1] for c in creates)  # `kubeadm token list` tells them apart
    assert cp.live == {}  # no bootstrap token u7s made is left behind
    assert {d[3] for d in deletes} == {t.split(".")[0] for t in used.values()}  # by ID: the secret stays out
    assert not any(t.split(".")[1] in " ".join(a) for a in cp.argvs for t in used.values())


def test_parallel_joins_each_hold_their_own_token_and_none_outlives_the_run(monkeypatch):
    # Three joins at a time, each group meeting while all three hold their tokens.
    run, cp, used, _ = make_run(workers=6, concurrency=3, join_minutes=1, monkeypatch=monkeypatch,
                                meet=threading.Barrier(3))
    step.execute(run, [workflows.JOIN])
    assert len(used) == 6 and len(set(used.values())) == 6
    assert cp.most_live == 3  # at most join_concurrency u7s tokens exist at a time
    assert cp.live == {}


def test_a_failed_join_deletes_its_token_too(monkeypatch):
    run, cp, used, _ = make_run(workers=2, concurrency=1, join_minutes=1, monkeypatch=monkeypatch)

    def failing(node, script):
        raise U7sError(f"{node.host.name}: kubeadm join failed: error execution phase kubelet-start: ...")

    monkeypatch.setattr(workflows.lifecycle, "join_with", failing)
    with pytest.raises(U7sError, match="failed on 2 host"):
        step.execute(run, [workflows.JOIN])
    assert [a[2] for a in cp.argvs] == ["create", "delete"] * 2
    assert cp.live == {}


@pytest.mark.parametrize("answer, warned", [
    # kube-controller-manager's token cleaner removed it once it expired: nothing to say
    (Result(1, "", 'failed to delete bootstrap token "tok000": secrets "bootstrap-token-tok000" not found\n'
                   "To see the stack trace of this error execute with --v=5 or higher\n"), None),
    (Result(1, "", 'failed to delete bootstrap token "tok000": Delete "https://u7s-cp:6443/api/v1/namespaces/'
                   'kube-system/secrets/bootstrap-token-tok000": dial tcp: connect: connection refused\n'
                   "To see the stack trace of this error execute with --v=5 or higher\n"),
     "kubeadm token delete tok000 failed: failed to delete bootstrap token \"tok000\": Delete"),
])
def test_a_token_that_cannot_be_deleted_leaves_the_join_done(monkeypatch, answer, warned):
    run, cp, used, stream = make_run(workers=1, concurrency=1, join_minutes=1, monkeypatch=monkeypatch)
    cp.delete_answer = answer
    step.execute(run, [workflows.JOIN])  # no error: the worker joined
    assert run.outcomes["join"]["w1"].startswith("joined u7s-cp via 192.0.2.1")
    text = stream.getvalue()
    if warned is None:
        assert "token" not in text
    else:
        assert warned in text and "(the token expires by itself within " in text
    assert "0123456789abcdef" not in text


def test_token_id_is_the_public_half_and_delete_quotes_kubeadm():
    argv = ["kubeadm", "join", "u7s-cp:6443", "--token=abcdef.0123456789abcdef", "--discovery-token-ca-cert-hash",
            HASH]
    assert kube.token_id(argv) == "abcdef"
    host = FakeHost()
    node = container.Node(host, make_settings(), Reporter(stream=io.StringIO()))
    host.on("docker", "exec", contains="delete", stdout='bootstrap token "abcdef" deleted\n')
    assert kube.delete_token(node, "abcdef") is True
    assert host.calls[-1][-4:] == ["kubeadm", "token", "delete", "abcdef"]
    host.on("docker", "exec", contains="delete", exited=1,
            stderr='failed to delete bootstrap token "abcdef": secrets "bootstrap-token-abcdef" not found\n')
    assert kube.delete_token(node, "abcdef") is False
