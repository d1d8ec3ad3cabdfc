"""Round trips of an idle `create` and of a network check, per host, through the real step code (issue 24).

A RecordingHost (tests/unit/u7s_recording.py) stands for each of three hosts and answers as
an idle cluster's hosts do (node up with the files it would get, initialised, joined, flannel
deployed, storage applied, every node Ready). Each remote operation it records is at least one
round trip over SSH: a change that adds one fails here. The lab holds the whole task, SSH
connection and settings included, to the same counts (tests/integration/test_cluster.py).
"""

from __future__ import annotations

import io
import json

import pytest

from tests.unit.checks.test_preflight import healthy_host
from tests.unit.u7s_fakes import FakeFacts, fixture, make_settings
from tests.unit.u7s_recording import RecordingHost
from u7s import session
from u7s.config.inventory import parse
from u7s.netcheck import check as netcheck
from u7s.node import externalip, flannel, joinstate, kube, localpath, podnet
from u7s.node.container import UP_STAMP
from u7s.render import engine, workdir
from u7s.run import hostlock, lock
from u7s.run.result import Result
from u7s.steps import lifecycle, workflows
from u7s.steps.kubeconfig import write_kubeconfig
from u7s.steps.step import execute
from u7s.ui.report import Reporter

# Remote operations per host after the connection and the settings' two batches (u7s/session.py).
IDLE_CREATE = {"control-plane": {"lock": 1, "batch": 1}, "worker": {"lock": 1, "batch": 1}}
CHECK_NETWORK = {"batch": 1, "run": 2}  # prepare with the host's facts; probe; clean up

INVENTORY = parse({"cluster": {"name": "rt"}, "hosts": [
    {"name": "h1", "address": "192.0.2.11", "role": "control-plane"},
    {"name": "h2", "address": "192.0.2.12"},
    {"name": "h3", "address": "192.0.2.13"},
]})
STARTED = "2026-12-06T03:00:00Z"
ADMIN = ("apiVersion: v1\nkind: Config\nclusters:\n- name: kubernetes\n  cluster:\n    server: https://127.0.0.1:6443\n"
         "contexts:\n- name: admin@kubernetes\n  context: {cluster: kubernetes, user: admin}\n"
         "current-context: admin@kubernetes\nusers:\n- name: admin\n  user: {token: t}\n")


def settings_of(spec):
    return make_settings(FakeFacts(hostname=spec.name, host_ip=spec.address), NODE_IMAGE="example/node:1")


def node_objects(members):
    """An idle cluster's Nodes (Ready, synced to their hosts) and one running flannel pod on each."""
    nodes, pods = [], []
    for m in members:
        name, ip = m.settings.node_name, m.settings.host_ip
        nodes.append({"kind": "Node", "metadata": {
            "name": name, "labels": {externalip.HOST_IP_LABEL: ip},
            "annotations": {externalip.PUBLIC_IP_ANNOTATION: ip, flannel.PUBLIC_IP_IN_USE: ip}},
            "spec": {}, "status": {"addresses": [{"type": "ExternalIP", "address": ip}],
                                   "conditions": [{"type": "Ready", "status": "True"}]}})
        pods.append({"kind": "Pod", "metadata": {"name": f"kube-flannel-{name}", "labels": {"app": "flannel"}},
                     "spec": {"nodeName": name, "containers": [{"image": "flannel"}]},
                     "status": {"phase": "Running", "containerStatuses": [{"ready": True, "state": {"running": {}}}]}})
    return nodes, pods


def idle_host(m, everyone):
    """A host of an idle cluster: preflight passes, the node runs with today's files, the rest is done."""
    s = m.settings
    host = RecordingHost(m.name)
    healthy = healthy_host(s)
    host.rules, host.files = list(healthy.rules), dict(healthy.files)
    wanted = workdir.files(s)
    for rel, (data, mode) in wanted.items():
        host.files[s.path(rel)] = data.decode()
        host.written[s.path(rel)] = (data, mode)
    host.files[s.path(localpath.MANIFEST)] = localpath.manifest(s.cluster or s.project)
    host.files[s.path(UP_STAMP)] = f"{workdir.digest(wanted)} {STARTED}\n"
    host.dirs = {s.storage_dir}
    host.on(*engine.inspect_state(s), stdout=json.dumps({"Status": "running", "Running": True, "StartedAt": STARTED}))

    def inside(argv, env=True, **answer):
        host.on(*engine.node_exec(s, list(argv), env=env, stdin=False), **answer)

    for argv in joinstate.probes(s.node_name):
        inside(argv, env=False, stdout=f"node/{s.node_name}\n")
    nodes, pods = node_objects(everyone)
    inside(["test", "-e", kube.ADMIN_CONF], env=False)
    inside(kube.readyz(), stdout="ok")
    inside(["kubectl", *kube.GET_NODES], stdout=json.dumps({"items": nodes}))
    inside(flannel.STATUS, stdout=json.dumps({"info": {"status": "deployed"}}))
    inside(["kubectl", *localpath.DRY_RUN], stdout="storageclass.storage.k8s.io/local-path unchanged (server dry run)\n")
    inside(["kubectl", *podnet.nodes_and_pods(s)], stdout=json.dumps({"items": nodes + pods}))
    inside(["cat", kube.ADMIN_CONF], env=False, stdout=ADMIN)
    host.ops.clear()
    return host


def idle_run():
    stream = io.StringIO()
    members = [session.Member(spec, Reporter(spec.name, stream=stream)) for spec in INVENTORY.hosts]
    for m in members:
        m.settings = settings_of(m.spec)
        m.lease_on_host = {}
    hosts = {m.name: idle_host(m, members) for m in members}
    for m in members:
        m.host = hosts[m.name]
    return session.Run(INVENTORY, members, Reporter(stream=stream)), hosts, stream


def per_host(hosts, run):
    return {("control-plane" if m.spec.is_control_plane else "worker"): hosts[m.name].kinds() for m in run.members}


def test_an_idle_create_asks_each_host_once_after_taking_its_lock(tmp_path):
    run, hosts, stream = idle_run()
    try:
        hostlock.lock_all(run.members, "u7s cluster.create")
        execute(run, workflows.CREATE)
        write_kubeconfig(run, str(tmp_path / "kubeconfig"))
    finally:
        lock.release_all()
    said = stream.getvalue()
    assert workflows.nothing_done(run.outcomes), said
    assert "network check: not needed, no host joins" in said
    for m in run.members:
        print(m.name, hosts[m.name].ops)
    assert per_host(hosts, run) == IDLE_CREATE, {name: h.ops for name, h in hosts.items()}


def test_a_network_check_asks_each_host_three_times():
    run, hosts, _ = idle_run()
    for m in run.members:
        s, host = m.settings, hosts[m.name]
        program = engine.node_exec(s, ["bash", "-c", netcheck.program_text(), "u7s-netcheck"], env=False, stdin=False)
        host.on(*program, "prepare", stdout=fixture("netcheck-prepare.txt"))
        host.on(*program, "probe", stdout=fixture("netcheck-probe-ok.txt"))
        host.on(*program, "cleanup")
        host.on("sh", "-c", contains="path-mtu", stdout=fixture("netcheck-path-mtu.txt"))
    netcheck.on_hosts(run)
    assert {name: h.kinds() for name, h in hosts.items()} == {m.name: CHECK_NETWORK for m in run.members}, {
        name: h.ops for name, h in hosts.items()}


def fresh_node(name, ip):
    return {"metadata": {"name": name, "labels": {externalip.HOST_IP_LABEL: ip}}, "spec": {"taints": [
        {"key": externalip.UNINITIALIZED_TAINT, "value": "true", "effect": "NoSchedule"}]}, "status": {"addresses": []}}


def test_the_sync_after_joins_sends_every_nodes_changes_in_one_batch():
    run, hosts, _ = idle_run()
    cp = run.control_plane
    host = hosts[cp.name]
    externalip.sync_external_ip(cp.node, [fresh_node("u7s-h2", "192.0.2.12"), fresh_node("u7s-h3", "192.0.2.13")])
    assert host.ops == ["batch: 6 commands"]  # ExternalIP, annotation and taint of two nodes


def test_a_sync_call_the_api_failed_in_the_batch_is_made_again_on_its_own():
    run, hosts, _ = idle_run()
    cp = run.control_plane
    host = hosts[cp.name]
    seen = []

    def first_annotate(argv):  # the API refuses the batch's annotate, and answers the call made again
        seen.append(argv) if "annotate" in argv else None
        return "annotate" in argv and len(seen) == 1

    host.rules.insert(0, (first_annotate, Result(1, "", "The connection to the server 127.0.0.1:6443 was refused")))
    externalip.sync_external_ip(cp.node, [fresh_node("u7s-h2", "192.0.2.12")])
    assert host.ops[0] == "batch: 3 commands" and len(host.ops) == 2
    assert len(seen) == 2 and host.ops[1].startswith("run: docker exec")  # the annotate, on its own


def test_a_fresh_join_asks_the_worker_once_then_writes_runs_and_removes_its_script():
    run, hosts, _ = idle_run()
    w = run.workers[0]
    host = hosts[w.name]
    lifecycle.join_with(w.node, "#!/bin/bash\nkubeadm join ...\n")
    kinds = [op.split(":")[0] for op in host.ops]
    assert kinds == ["write_file", "run", "remove", "run"], host.ops  # script, kubeadm join, script, registered
