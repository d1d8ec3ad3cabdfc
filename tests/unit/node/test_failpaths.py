"""kubeadm's failure output, a short API outage, and what a failed or stale join leaves: pure parts.

The kubeadm outputs are the real tool's words (cmd/kubeadm/app/preflight/checks.go, discovery/token/token.go,
phases/upgrade/policy.go); the kubectl errors are client-go's.
"""

import shlex

import pytest

from u7s.node import apiretry, joinstate, kube
from u7s.run.hosts import Result
from tests.unit.u7s_fakes import Clock

HINT = "To see the stack trace of this error execute with --v=5 or higher\n"
REJOIN = ("error execution phase preflight: [preflight] Some fatal errors occurred:\n"
          "\t[ERROR FileAvailable--etc-kubernetes-kubelet.conf]: /etc/kubernetes/kubelet.conf already exists\n"
          "\t[ERROR FileAvailable--etc-kubernetes-pki-ca.crt]: /etc/kubernetes/pki/ca.crt already exists\n"
          "[preflight] If you know what you are doing, you can make a check non-fatal with "
          "`--ignore-preflight-errors=...`\n" + HINT)


def test_kubeadm_error_quotes_the_phase_and_every_preflight_error():
    assert kube.kubeadm_error(Result(1, "[preflight] Running pre-flight checks\n", REJOIN)) == (
        "error execution phase preflight: [preflight] Some fatal errors occurred: "
        "[ERROR FileAvailable--etc-kubernetes-kubelet.conf]: /etc/kubernetes/kubelet.conf already exists "
        "[ERROR FileAvailable--etc-kubernetes-pki-ca.crt]: /etc/kubernetes/pki/ca.crt already exists")


def test_kubeadm_error_of_discovery_and_of_the_upgrade_policy():
    token = ('error execution phase preflight: couldn\'t validate the identity of the API Server: could not find a '
             'JWS signature in the cluster-info ConfigMap for token ID "abcdef"\n' + HINT)
    assert kube.kubeadm_error(Result(1, "", token)) == token.splitlines()[0]
    policy = ("[upgrade/version] FATAL: the --version argument is invalid due to these fatal errors:\n\n"
              '\t- Specified version to upgrade to "v1.37.0" is too high; kubeadm can upgrade only 1 minor version '
              "at a time\n\nPlease fix the misalignments highlighted above and try upgrading again\n" + HINT)
    assert kube.kubeadm_error(Result(1, "", policy)) == (
        "[upgrade/version] FATAL: the --version argument is invalid due to these fatal errors: "
        '- Specified version to upgrade to "v1.37.0" is too high; kubeadm can upgrade only 1 minor version at a time')


def test_kubeadm_error_never_ends_on_the_stack_trace_hint():
    assert kube.kubeadm_error(Result(1, "", "something broke\n" + HINT)) == "something broke"
    assert kube.kubeadm_error(Result(1, "", HINT)) == "exit 1"


def test_a_kubeadm_failure_names_host_and_kubeadm_error():
    import io

    from u7s.errors import U7sError
    from u7s.node.container import Node
    from u7s.ui.report import Reporter
    from tests.unit.u7s_fakes import FakeHost, make_settings

    host = FakeHost()
    host.on("docker", "exec", contains="kubeadm", exited=1, stderr=REJOIN)
    node = Node(host, make_settings(), Reporter(stream=io.StringIO()))
    with pytest.raises(U7sError, match=r": kubeadm reset --force failed: error execution phase preflight: .*\[ERROR "):
        kube.kubeadm_reset(node)


REFUSED = "The connection to the server 10.213.0.11:6443 was refused - did you specify the right host or port?\n"
UNAVAILABLE = "Error from server (ServiceUnavailable): the server is currently unable to handle the request\n"


@pytest.mark.parametrize("stderr, transient", [
    (REFUSED, True),
    (UNAVAILABLE, True),
    ('Error from server (InternalError): an error on the server ("") has prevented the request from succeeding\n',
     True),
    ("Unable to connect to the server: net/http: TLS handshake timeout\n", True),
    ('Error from server (NotFound): nodes "u7s-h9" not found\n', False),
    ("Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown "
     "authority\n", False),
    ('Error from server (Forbidden): nodes is forbidden: User "x" cannot list resource "nodes"\n', False),
    ("error: unable to parse \"{\": yaml: line 1: did not find expected node content\n", False),
])
def test_is_transient(stderr, transient):
    assert apiretry.is_transient(stderr) is transient


def answers(*results):
    calls = []

    def attempt():
        calls.append(1)
        return results[min(len(calls), len(results)) - 1]
    return attempt, calls


def test_an_outage_of_a_few_seconds_is_ridden_out():
    clock = Clock()
    attempt, calls = answers(Result(1, "", REFUSED), Result(1, "", UNAVAILABLE), Result(0, "ok\n", ""))
    r = apiretry.retrying(attempt, what="kubectl get nodes", where="h1", timeout=60, clock=clock, sleep=clock.sleep)
    assert r.ok and len(calls) == 3 and clock.now < 5


def test_a_persistent_outage_is_reported_with_the_last_error_and_other_errors_at_once():
    clock = Clock()
    attempt, calls = answers(Result(1, "", REFUSED), Result(1, "", UNAVAILABLE))
    with pytest.raises(apiretry.ApiUnavailable, match=r"h1: the API server did not answer for 60s \(kubectl get "
                       r"nodes\); last error: Error from server \(ServiceUnavailable\)"):
        apiretry.retrying(attempt, what="kubectl get nodes", where="h1", timeout=60, clock=clock, sleep=clock.sleep)
    assert 60 <= clock.now < 64
    attempt, calls = answers(Result(1, "", 'Error from server (NotFound): nodes "x" not found\n'))
    assert not apiretry.retrying(attempt, what="kubectl", where="h1", timeout=60, clock=clock, sleep=clock.sleep).ok
    assert len(calls) == 1


@pytest.mark.parametrize("conf, ca, read, state", [
    (False, False, Result(1, "", ""), joinstate.FRESH),
    (False, True, Result(1, "", ""), joinstate.STALE),  # failed after writing ca.crt
    (True, True, Result(0, "node/u7s-h2\n", ""), joinstate.JOINED),
    (True, True, Result(1, "", 'Error from server (NotFound): nodes "u7s-h2" not found\n'), joinstate.STALE),
    (True, True, Result(1, "", "Unable to connect to the server: tls: failed to verify certificate: x509: "
                               "certificate signed by unknown authority\n"), joinstate.STALE),
    (True, True, Result(1, "", REFUSED), joinstate.JOINED),  # says nothing: no reset
])
def test_join_state(conf, ca, read, state):
    assert joinstate.classify(conf, ca, read, "u7s-h2")[0] == state



def _worker(kubelet_conf: bool, ca_crt: bool, node_read):
    """A worker's node that holds what a join left (or not) until `kubeadm reset` removes it; records the order."""
    import io

    from u7s.node.container import Node
    from u7s.ui.report import Reporter
    from tests.unit.u7s_fakes import FakeHost, make_settings

    class Worker(FakeHost):
        def __init__(self, files):
            super().__init__(files)
            self.order, self.left = [], {"conf": kubelet_conf, "ca": ca_crt}

        def _run(self, command, *, stdin, timeout):
            argv = shlex.split(command)
            self.calls.append(argv)
            if argv[:2] == ["docker", "inspect"]:
                return Result(0, '{"Status":"running","Running":true}', "")
            if "reset" in argv:
                self.order.append("reset")
                self.left = {"conf": False, "ca": False}
                return Result(0, "", "")
            if "bash" in argv:
                self.order.append("join")
                self.left = {"conf": True, "ca": True}
                return Result(0, "", "")
            if "test" in argv:
                return Result(0 if self.left["ca" if joinstate.CA_CRT in argv else "conf"] else 1, "", "")
            if "--request-timeout=10s" in argv:
                return node_read if not self.order else Result(0, "node/u7s-host1\n", "")
            if "kubectl" in argv:  # the wait for the Node's registration, with the kubelet's credentials
                return Result(0, "node/u7s-host1\n", "")
            raise AssertionError(f"no rule for {argv}")

    s = make_settings()
    host = Worker({s.path("join-command"): "#!/bin/bash\nkubeadm join ...\n"})
    return host, Node(host, s, Reporter(stream=io.StringIO()))


@pytest.mark.parametrize("conf, ca, read", [
    (False, True, Result(1, "", "")),
    (True, True, Result(1, "", 'Error from server (NotFound): nodes "u7s-host1" not found\n')),
    (True, True, Result(1, "", "Unable to connect to the server: tls: failed to verify certificate: x509: "
                               "certificate signed by unknown authority\n")),
])
def test_kubeadm_join_resets_what_a_failed_or_stale_join_left_then_joins(conf, ca, read):
    from u7s.steps import lifecycle

    host, node = _worker(conf, ca, read)
    assert lifecycle.kubeadm_join(node).startswith("joined; node u7s-")
    assert host.order == ["reset", "join"]


@pytest.mark.parametrize("conf, ca, read, order", [
    (True, True, Result(0, "node/u7s-host1\n", ""), []),  # joined: left alone
    (True, True, Result(1, "", REFUSED), []),  # the API says nothing: no reset
    (False, False, Result(1, "", ""), ["join"]),  # fresh
])
def test_kubeadm_join_leaves_a_joined_or_unknown_worker_alone(conf, ca, read, order):
    from u7s.steps import lifecycle

    host, node = _worker(conf, ca, read)
    lifecycle.kubeadm_join(node)
    assert host.order == order
