"""A host's HOST_IP changed after its node registered: the syncs move its label, ExternalIP, flannel's
overwrite, and restart flannel there; nodes whose address did not change are not touched.

The kubelet applies --node-labels only when it registers its Node, so the label keeps the old address
until u7s sets it. Against a scripted API (below): kubectl reads and changes a few Node objects;
deleting a flannel pod makes a new one (as its DaemonSet does) that writes the overwrite it reads at
start as its public-ip (as flanneld does) one `get nodes` later.
"""

import io
import itertools
import json
import shlex
from types import SimpleNamespace

import pytest

from u7s.errors import WaitTimeout
from u7s.node import externalip, flannel
from u7s.node.container import Node
from u7s.run.hosts import Result
from u7s.steps import lifecycle, workflows
from u7s.steps.outcome import ALREADY
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import FakeHost, make_settings

OLD = {"u7s-a": "192.0.2.10", "u7s-b": "192.0.2.20", "u7s-c": "192.0.2.30"}
MOVED = {**OLD, "u7s-b": "192.0.2.120"}


def node_obj(name, ip):
    """A node in sync at ip: label, ExternalIP, overwrite, and flannel using it."""
    return {"metadata": {"name": name, "labels": {externalip.HOST_IP_LABEL: ip},
                         "annotations": {externalip.PUBLIC_IP_ANNOTATION: ip, flannel.PUBLIC_IP_IN_USE: ip}},
            "spec": {}, "status": {"addresses": [{"type": "ExternalIP", "address": ip}],
                                   "conditions": [{"type": "Ready", "status": "True"}]}}


class Api(FakeHost):
    """kubectl in the node against Node and flannel Pod objects (the rest of the node answers as FakeHost)."""

    def __init__(self, ips, pod_starts=True):
        super().__init__()
        self.nodes = {name: node_obj(name, ip) for name, ip in ips.items()}
        self.uids = itertools.count(1)
        self.pods = {name: next(self.uids) for name in ips}  # node -> its flannel pod's uid
        self.starting: list[str] = []  # nodes whose new flannel pod starts at the next `get nodes`
        self.pod_starts = pod_starts
        self.on("docker", "inspect", stdout='{"Status":"running","Running":true}')

    def changes(self):
        """The kubectl commands that changed something (every one but `get`)."""
        return [argv[argv.index("kubectl") + 1:] for argv in self.calls
                if "kubectl" in argv and argv[argv.index("kubectl") + 1] != "get"]

    def _pods(self):
        return [{"metadata": {"name": f"kube-flannel-ds-{uid}", "uid": str(uid), "labels": {"app": "flannel"}},
                 "spec": {"nodeName": name}} for name, uid in self.pods.items()]

    def _flannel_starts(self):
        """The new flannel pods start: each writes the overwrite it reads at start as its public-ip."""
        for name in self.starting:
            meta = self.nodes[name]["metadata"]
            meta["annotations"][flannel.PUBLIC_IP_IN_USE] = meta["annotations"][externalip.PUBLIC_IP_ANNOTATION]
        self.starting = []

    def _run(self, command, *, stdin, timeout):
        argv = shlex.split(command)
        if "kubectl" not in argv:
            return super()._run(command, stdin=stdin, timeout=timeout)
        self.calls.append(argv)
        verb, *args = argv[argv.index("kubectl") + 1:]
        if verb == "get" and args[0] == "nodes":
            self._flannel_starts()
            return Result(0, json.dumps({"items": list(self.nodes.values())}), "")
        if verb == "get" and args[0] == "nodes,pods":  # the wait for Ready with flannel running (node/podnet.py)
            self._flannel_starts()
            return Result(0, json.dumps({"items": [{"kind": "Node", **n} for n in self.nodes.values()] + [
                {"kind": "Pod", **pod, "status": {"phase": "Running", "containerStatuses": [
                    {"name": "kube-flannel", "ready": True, "state": {"running": {}}}]}}
                for pod in self._pods()]}), "")
        if verb == "get" and args[0] == "pods":
            return Result(0, json.dumps({"items": self._pods()}), "")
        if verb in ("label", "annotate"):
            key, _, value = args[3].partition("=")
            self.nodes[args[1]]["metadata"]["labels" if verb == "label" else "annotations"][key] = value
        elif verb == "patch":
            self.nodes[args[1]]["status"].update(json.loads(args[-1])["status"])
        elif verb == "delete":
            for name, uid in list(self.pods.items()):
                if f"kube-flannel-ds-{uid}" in args:
                    self.pods[name] = next(self.uids)
                    if self.pod_starts:
                        self.starting.append(name)
        else:
            raise AssertionError(f"unexpected kubectl {argv}")
        return Result(0, "", "")


def control_plane(api, **flags):
    return Node(api, make_settings(**flags), Reporter(stream=io.StringIO()))


def test_a_changed_host_ip_moves_label_address_overwrite_and_restarts_flannel_there_only():
    api = Api(OLD)
    said = lifecycle.sync_external_ip(control_plane(api), host_ips=MOVED)
    b = api.nodes["u7s-b"]
    assert b["metadata"]["labels"][externalip.HOST_IP_LABEL] == "192.0.2.120"
    assert b["status"]["addresses"] == [{"type": "ExternalIP", "address": "192.0.2.120"}]
    assert b["metadata"]["annotations"][externalip.PUBLIC_IP_ANNOTATION] == "192.0.2.120"
    assert b["metadata"]["annotations"][flannel.PUBLIC_IP_IN_USE] == "192.0.2.120"  # waited for
    assert api.pods == {"u7s-a": 1, "u7s-b": 4, "u7s-c": 3}  # a new pod on u7s-b only
    assert [c[:3] for c in api.changes()] == [["label", "node", "u7s-b"], ["patch", "node", "u7s-b"],
                                              ["annotate", "node", "u7s-b"], ["delete", "pod", "--namespace"]]
    assert said == ("external IPs synced: u7s-b (label usernetes/host-ip 192.0.2.20 -> 192.0.2.120, "
                    "ExternalIP 192.0.2.120, annotation flannel.alpha.coreos.com/public-ip-overwrite); "
                    "flannel restarted on u7s-b (now at 192.0.2.120)")


def test_an_unchanged_cluster_is_read_and_nothing_is_changed():
    api = Api(OLD)
    said = lifecycle.sync_external_ip(control_plane(api), host_ips=OLD)
    assert said == "external IPs in sync on 3 node(s)" and api.changes() == []
    assert said.status == ALREADY


def test_one_host_alone_follows_its_own_host_ip_and_leaves_the_other_nodes_labels():
    api = Api({"u7s-host1": "192.0.2.1", "u7s-b": "192.0.2.20"})
    said = lifecycle.sync_external_ip(control_plane(api))  # settings: u7s-host1 at 192.0.2.10
    assert api.nodes["u7s-host1"]["metadata"]["labels"][externalip.HOST_IP_LABEL] == "192.0.2.10"
    assert {c[2] for c in api.changes() if c[1] == "node"} == {"u7s-host1"}
    assert said.endswith("flannel restarted on u7s-host1 (now at 192.0.2.10)")


def test_a_moved_control_plane_of_several_hosts_is_synced_with_a_warning_that_its_workers_still_use_the_old_one():
    api = Api({"u7s-host1": "192.0.2.1", "u7s-b": "192.0.2.20"})
    stream = io.StringIO()
    node = Node(api, make_settings(), Reporter(stream=stream))
    lifecycle.sync_external_ip(node, host_ips={"u7s-host1": "192.0.2.10", "u7s-b": "192.0.2.20"})
    assert "the control plane's HOST_IP changed (192.0.2.1 -> 192.0.2.10): its API server certificate and " \
           "the workers' join configuration still name 192.0.2.1" in stream.getvalue()
    alone = io.StringIO()
    lifecycle.sync_external_ip(Node(Api({"u7s-host1": "192.0.2.1"}), make_settings(), Reporter(stream=alone)))
    assert "control plane" not in alone.getvalue()


def test_a_flannel_that_never_starts_again_times_out_naming_the_node_and_the_address_it_still_uses():
    api = Api(OLD, pod_starts=False)
    with pytest.raises(WaitTimeout, match=r"waiting for flannel on u7s-b to use its host's address .*"
                                          r"last seen: u7s-b uses 192\.0\.2\.20\)"):
        lifecycle.sync_external_ip(control_plane(api, U7S_TIMEOUT=1), host_ips=MOVED)


def test_wait_ready_restarts_flannel_where_the_address_changed_and_waits_for_it():
    api = Api(OLD)
    said = lifecycle.wait_ready(control_plane(api, U7S_TIMEOUT=5), list(OLD), MOVED)
    assert said == "every node became Ready (u7s-a, u7s-b, u7s-c)"
    assert api.nodes["u7s-b"]["metadata"]["annotations"][flannel.PUBLIC_IP_IN_USE] == "192.0.2.120"
    assert api.pods["u7s-b"] == 4 and api.pods["u7s-a"] == 1


def test_the_runs_host_ips_are_every_resolved_hosts_and_one_host_alone_has_its_own():
    def member(name, ip):
        return SimpleNamespace(settings=SimpleNamespace(node_name=name, host_ip=ip) if ip else None)

    run = SimpleNamespace(members=[member("u7s-a", "192.0.2.10"), member("u7s-b", "192.0.2.120"), member("x", None)])
    assert workflows.host_ips(run) == {"u7s-a": "192.0.2.10", "u7s-b": "192.0.2.120"}
    # One host on its own is a run of one: its own address, as the lifecycle's default (lifecycle._own).
    alone = SimpleNamespace(members=[member("u7s-a", "192.0.2.10")])
    node = SimpleNamespace(s=SimpleNamespace(node_name="u7s-a", host_ip="192.0.2.10"))
    assert workflows.host_ips(alone) == lifecycle._own(node, None) == {"u7s-a": "192.0.2.10"}


# -- the pure decisions ---------------------------------------------------------------------
def test_plan_sets_the_label_then_address_and_overwrite_where_the_host_ip_changed():
    nodes = [node_obj(name, ip) for name, ip in OLD.items()]
    plans = {p.node: p for p in externalip.plan_external_ips(nodes, MOVED)}
    assert plans["u7s-b"].changes == [
        "label usernetes/host-ip 192.0.2.20 -> 192.0.2.120", "ExternalIP 192.0.2.120",
        "annotation flannel.alpha.coreos.com/public-ip-overwrite"]
    assert plans["u7s-a"].changes == [] and plans["u7s-c"].changes == []


def test_plan_keeps_the_label_of_a_node_no_host_names_and_labels_one_that_had_none():
    unlabelled = {"metadata": {"name": "u7s-d"}, "status": {}}
    plans = {p.node: p for p in externalip.plan_external_ips([node_obj("u7s-x", "192.0.2.99"), unlabelled],
                                                              {"u7s-d": "192.0.2.40"})}
    assert plans["u7s-x"].changes == [] and plans["u7s-x"].host_ip == "192.0.2.99"
    assert plans["u7s-d"].changes[0] == "label usernetes/host-ip (none) -> 192.0.2.40"


def test_wrong_public_ip_compares_with_the_new_host_ip_not_the_old_label():
    nodes = [node_obj(name, ip) for name, ip in OLD.items()]
    assert flannel.wrong_public_ip(nodes, MOVED) == {"u7s-b": "192.0.2.20"}
    assert flannel.wrong_public_ip(nodes) == {}


def test_public_ip_pending_names_each_node_not_yet_at_its_address():
    nodes = [node_obj("u7s-a", "192.0.2.10"), {"metadata": {"name": "u7s-b"}}]
    assert flannel.public_ip_pending(nodes, {"u7s-a": "192.0.2.10"}) == {}
    assert flannel.public_ip_pending(nodes, {"u7s-a": "192.0.2.11", "u7s-b": "192.0.2.20", "u7s-z": "192.0.2.9"}) \
        == {"u7s-a": "192.0.2.10", "u7s-b": "no public-ip yet", "u7s-z": "not registered"}
