"""upgrade's order against a fake cluster: no kubelet is ever newer than the API server, and a run cut
short at any step is finished by the next run (each step finds from the cluster what is done)."""

from __future__ import annotations

import pytest

from u7s.errors import U7sError
from u7s.node.container import Node
from u7s.run.hosts import Result
from u7s.steps import newkubeadm, upgrade
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import FakeHost, make_settings, run_of

OLD, NEW = "v1.35.0", "v1.36.0"


class Cluster:
    """What the upgrade can see and change: the API server's version, each node's kubelet, the kubeadm placed in
    each running node container, cordons; `events` in order, `skew` for every kubelet that moved past the API."""

    def __init__(self, names, stop_after=None):
        self.api, self.kubelets = OLD, {n: OLD for n in names}
        self.placed, self.cordoned, self.events, self.skew = set(), set(), [], []
        self.stop_after = stop_after  # (event, node): the run is cut short right after it

    def did(self, event, name):
        self.events.append((event, name))
        if self.stop_after == (event, name):
            self.stop_after = None
            raise U7sError("connection lost")

    def install(self, monkeypatch):
        monkeypatch.setattr(upgrade, "check", lambda c, nodes: (OLD, NEW))
        monkeypatch.setattr(upgrade.kube, "wait_api", lambda node: None)
        monkeypatch.setattr(upgrade, "cluster_version", lambda c: self.api)
        monkeypatch.setattr(upgrade, "kubelet_versions", lambda c: dict(self.kubelets))
        monkeypatch.setattr(newkubeadm, "place", self.place)
        monkeypatch.setattr(newkubeadm, "run", self.upgrade_node)
        monkeypatch.setattr(upgrade, "apply_when_healthy", self.apply)
        monkeypatch.setattr(upgrade, "_recreate", self.recreate)
        monkeypatch.setattr(upgrade, "_wait_upgraded", self.wait)
        monkeypatch.setattr(upgrade.kube, "kubectl", self.kubectl)

    def place(self, node, image, version):
        assert (image, version) == ("localhost/u7s-node:next", NEW)
        self.placed.add(node.s.node_name)
        self.did("place", node.s.node_name)
        return "copied"

    def apply(self, c, target, kubeadm="kubeadm"):
        self.applied_with = kubeadm if c.s.node_name in self.placed else f"{kubeadm} (not placed)"
        self.api = target
        self.did("apply", c.s.node_name)
        return 1

    def upgrade_node(self, w, version, *args):
        assert args == ("upgrade", "node") and w.s.node_name in self.placed
        self.did("upgrade node", w.s.node_name)
        return ""

    def recreate(self, node):
        name = node.s.node_name
        if self.kubelets[name] == NEW:  # as Node.up: a container already made from these files is left alone
            return "unchanged"
        self.kubelets[name], self.placed = NEW, self.placed - {name}  # the new container has its own kubeadm only
        if upgrade.parse_version(NEW) > upgrade.parse_version(self.api):
            self.skew.append(name)
        self.did("new container", name)
        return "restarted"

    def wait(self, c, name, target):
        assert self.kubelets[name] == target
        self.did("ready", name)
        return "Ready"

    def kubectl(self, c, *args, check=True):
        verb, name = args[0], args[1]
        (self.cordoned.add if verb == "drain" else self.cordoned.discard)(name)
        self.did(verb, name)
        return Result(0, "", "")


def _nodes():
    def node(host):
        h = FakeHost()
        h.name = host
        h.on("docker", "exec", stdout="")  # anything else run in a node answers nothing
        return Node(h, make_settings(HOSTNAME=host, NODE_IMAGE="localhost/u7s-node:next"), Reporter(host))
    return node("cp"), {"w1": node("w1"), "w2": node("w2")}


NAMES = ["u7s-cp", "u7s-w1", "u7s-w2"]
IN_ORDER = [("place", "u7s-cp"), ("apply", "u7s-cp"), ("new container", "u7s-cp"), ("ready", "u7s-cp")] + [
    step for w in ("u7s-w1", "u7s-w2") for step in (("drain", w), ("place", w), ("upgrade node", w),
                                                     ("new container", w), ("ready", w), ("uncordon", w))]


def test_the_new_kubeadm_runs_in_the_old_container_before_each_kubelet_moves(monkeypatch):
    cluster = Cluster(NAMES)
    cluster.install(monkeypatch)
    cp, workers = _nodes()
    upgrade.run_upgrade(run_of(cp, workers))
    assert cluster.skew == [], f"a kubelet was newer than the API server: {cluster.skew}"
    assert cluster.events == IN_ORDER
    assert cluster.applied_with == newkubeadm.path_in_node(NEW)
    assert cluster.api == NEW and set(cluster.kubelets.values()) == {NEW}
    assert cluster.cordoned == set()


@pytest.mark.parametrize("stop", IN_ORDER[:-1], ids=lambda e: f"{e[0]}@{e[1]}")
def test_a_run_cut_short_after_any_step_is_finished_by_the_next(monkeypatch, stop):
    cluster = Cluster(NAMES, stop_after=stop)
    cluster.install(monkeypatch)
    cp, workers = _nodes()
    with pytest.raises(U7sError, match="the steps before it are done; run again when fixed"):
        upgrade.run_upgrade(run_of(cp, workers))
    first = list(cluster.events)
    upgrade.run_upgrade(run_of(cp, workers))
    again = cluster.events[len(first):]
    assert cluster.skew == [] and cluster.api == NEW and set(cluster.kubelets.values()) == {NEW}
    assert cluster.cordoned == set()
    # A node whose kubelet moved is never drained, upgraded or made anew again; each one moves once.
    assert [e for e in first + again if e[0] == "new container"] == [("new container", n) for n in NAMES]
    moved_before = {name for event, name in first if event == "new container"}
    assert not [e for e in again if e[1] in moved_before and e[0] in ("drain", "place", "apply", "upgrade node")]


def test_a_kubelet_is_not_moved_while_the_api_server_is_older(monkeypatch):
    cluster = Cluster(NAMES)
    cluster.install(monkeypatch)
    cp, workers = _nodes()
    with pytest.raises(U7sError, match=r"the API server runs v1\.35\.0: u7s-w1's new kubelet \(v1\.36\.0\) would be "
                                       r"newer, which Kubernetes' version-skew policy forbids"):
        upgrade._move_kubelet(cp, workers["w1"], NEW)
    assert cluster.events == []


def _placing_host(answers_after_install=NEW):
    host = FakeHost()
    host.name = "w1"
    host.on("docker", "exec", stdout="")
    host.on("docker", "exec", contains="kubeadm-v1.36.0", stdout=answers_after_install + "\n")
    missing = [1]  # the first probe: no kubeadm-v1.36.0 in the node yet
    host.rules.insert(0, (lambda argv: "version" in argv and "/usr/local/lib/u7s/kubeadm-v1.36.0" in argv
                          and bool(missing) and bool(missing.pop()),
                          Result(126, "", "exec: /usr/local/lib/u7s/kubeadm-v1.36.0: not found\n")))
    host.on("docker", "run", "--rm", "--entrypoint", "readlink", stdout="/usr/local/lib/u7s-standins/kubeadm\n")
    host.on("docker", "rm", "-f")
    host.on("docker", "create")
    host.on("docker", "cp")
    return host


def test_place_copies_kubeadm_out_of_the_new_image_into_the_running_node():
    host = _placing_host()
    s = make_settings(HOSTNAME="w1", NODE_IMAGE="localhost/u7s-node:next")
    said = newkubeadm.place(Node(host, s, Reporter("w1")), "localhost/u7s-node:next", NEW)
    assert said == ("kubeadm v1.36.0 copied from localhost/u7s-node:next into u7s-w1 "
                    "(/usr/local/lib/u7s/kubeadm-v1.36.0)")
    staged = s.path("kubeadm-v1.36.0")
    engine = [argv[1:] for argv in host.calls if argv[1] in ("rm", "create", "cp")]
    assert engine == [["rm", "-f", "u7s-kubeadm-v1.36.0"],
                      ["create", "--name", "u7s-kubeadm-v1.36.0", "localhost/u7s-node:next"],
                      ["cp", "u7s-kubeadm-v1.36.0:/usr/local/lib/u7s-standins/kubeadm", staged],
                      ["rm", "-f", "u7s-kubeadm-v1.36.0"]]
    assert ["install", "-D", "-m", "0755", "/usernetes/kubeadm-v1.36.0", "/usr/local/lib/u7s/kubeadm-v1.36.0"] in \
        [argv[argv.index("u7s-node") + 1:] for argv in host.calls if argv[1] == "exec"]
    # Placed already (a run after an interrupted one): nothing is copied again.
    calls = len(host.calls)
    assert newkubeadm.place(Node(host, s, Reporter("w1")), "localhost/u7s-node:next", NEW).startswith(
        "kubeadm v1.36.0 already in u7s-w1")
    assert not [argv for argv in host.calls[calls:] if argv[1] in ("create", "cp")]


def test_a_copied_kubeadm_that_does_not_say_the_version_is_refused():
    host = _placing_host(answers_after_install=OLD)
    s = make_settings(HOSTNAME="w1", NODE_IMAGE="localhost/u7s-node:next")
    with pytest.raises(U7sError, match=r"^w1: localhost/u7s-node:next's kubeadm, copied to "
                                       r"/usr/local/lib/u7s/kubeadm-v1.36.0 in u7s-w1, does not say v1.36.0"):
        newkubeadm.place(Node(host, s, Reporter("w1")), "localhost/u7s-node:next", NEW)
