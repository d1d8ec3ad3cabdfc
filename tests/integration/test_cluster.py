"""Multi-host u7s on the three-host lab: real SSH from the controller, real rootless engines.

kubectl inside the nodes (and on the controller) is the real one; kubeadm, helm,
the kubelet and the API server are the lab image's TEST STAND-INS, which record
what u7s asked of them and check it against the reference's facts. The join
crosses hosts for real: the worker's stand-in kubeadm resolves the control plane's
name through /etc/hosts.u7s and talks TLS to the control plane host's published
API port, as its kubelet does afterwards.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import yaml
from u7s_cli import NETWORK, NODE, REPO, VOLUMES, WORKDIR, counted, inventory, status_rows, u7s, wipe_hosts, within

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]


def calls(host, container=NODE):
    text = host.docker(["exec", container, "cat", "/var/lib/u7s-standin/calls.jsonl"], check=False).stdout
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def audit(host, container=NODE):
    """The API stand-in's audit log: one {user, verb, uri, code, agent} per request, in order."""
    text = host.docker(["exec", container, "cat", "/var/lib/u7s-standin/audit.jsonl"], check=False).stdout
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def set_switch(host, name, value=""):
    """Turn a stand-in switch on from the host side: the node reads /usernetes/.u7s-standin/NAME."""
    workdir = f"{WORKDIR}/{host.name}"
    host.ssh(["sh", "-c", 'mkdir -p "$1/.u7s-standin" && printf "%s\\n" "$2" >"$1/.u7s-standin/$3"',
              "sh", workdir, value, name])


def wait_all_ready(host, count, podman=False, timeout=60):
    """Poll until COUNT nodes are Ready (cluster.create itself waits for that only after issue 9)."""
    deadline = time.monotonic() + timeout
    argv = ["exec", NODE, "kubectl", "get", "nodes", "--no-headers"]
    while True:
        out = (host.ssh(["podman", *argv], check=False) if podman else host.docker(argv, check=False)).stdout
        if sum(1 for line in out.splitlines() if line.split()[1:2] == ["Ready"]) == count:
            return
        assert time.monotonic() < deadline, f"not every node became Ready:\n{out}"
        time.sleep(1)


def controller_kubectl():
    from tests.lab.kubectl import controller_kubectl as find
    return find()


# Remote operations (each one round trip or more) an idle cluster.create waits for on a host; a change that adds
# one fails here (tests/lab/roundtrips.py counts them, bench/latency.py times them). Issue 24 brought them from
# 18 (control plane) and 8 (workers) down to 4 on every host: the settings' two batches, the lock (one channel
# that also names the holder), and one batch with everything the steps read (u7s/node/look.py).
IDLE_CREATE_OPS = {"control-plane": 4, "worker": 4}


@pytest.fixture
def cluster_inventory(lab, tmp_path):
    path = inventory(lab, tmp_path)
    wipe_hosts(lab)
    yield path
    wipe_hosts(lab)


def test_create_brings_up_a_joined_cluster_and_a_second_run_changes_nothing(lab, cluster_inventory, tmp_path):
    cp, *workers = lab.hosts
    for w in workers:
        # Kubelets that register at once: late ones are test_workers_whose_kubelet_registers_late_...'s subject.
        set_switch(w, "kubelet-register-delay", "0")
    r = u7s("cluster.create", "--inventory", str(cluster_inventory), cwd=tmp_path)
    kubeconfig = Path(r.stdout.strip().splitlines()[-1])
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    assert f"server: https://{cp.address}:6443" in kubeconfig.read_text()

    # Order on the control plane: init, then the join token, then (after the joins) sync, then flannel.
    cp_calls = calls(cp)
    kinds = [(c["prog"], c["argv"][0]) for c in cp_calls if c["rc"] == 0]
    assert kinds.index(("kubeadm", "init")) < kinds.index(("kubeadm", "token")) < kinds.index(("helm", "upgrade"))
    # A token per join, each deleted when its join is over (test_joins_one_at_a_time_... shows why).
    made = [c for c in cp_calls if c["argv"][:2] == ["token", "create"]]
    deleted = [c for c in cp_calls if c["argv"][:2] == ["token", "delete"] and c["rc"] == 0]
    assert len(made) == len(deleted) == len(workers) and all("--ttl" in c["argv"] for c in made)
    assert not any(c["argv"][c["argv"].index("--token") + 1] != "<redacted>"
                   for h in lab.hosts for c in calls(h) if "--token" in c["argv"])
    requests = [(a["verb"], a["uri"].split("?")[0], a["agent"].split("/")[0]) for a in audit(cp)]
    token_at = requests.index(("POST", "/api/v1/namespaces/kube-system/secrets", "kubeadm"))
    synced_at = max(i for i, (verb, uri, agent) in enumerate(requests)
                    if verb == "PATCH" and uri.endswith(f"/nodes/u7s-{workers[-1].name}/status") and agent == "kubectl")
    release_at = requests.index(("POST", "/api/v1/namespaces/kube-flannel/secrets", "Helm"))
    assert token_at < synced_at < release_at

    for w in workers:
        joins = [c for c in calls(w) if c["prog"] == "kubeadm" and c["argv"][0] == "join"]
        assert len(joins) == 1 and joins[0]["rc"] == 0
        assert joins[0]["argv"][1] == f"u7s-{cp.name}:6443"
        hosts_u7s = w.docker(["exec", NODE, "cat", "/etc/hosts.u7s"]).stdout.split()
        assert hosts_u7s == [cp.address, f"u7s-{cp.name}"]
        # the join script was removed after use
        workdir = f"{WORKDIR}/{w.name}"
        assert w.ssh(["test", "-f", f"{workdir}/docker-compose.yaml"]).returncode == 0
        assert w.ssh(["test", "-e", f"{workdir}/join-command"], check=False).returncode != 0

    nodes = json.loads(cp.docker(["exec", NODE, "kubectl", "get", "nodes", "-o", "json"]).stdout)["items"]
    by_name = {n["metadata"]["name"]: n for n in nodes}
    assert set(by_name) == {f"u7s-{h.name}" for h in lab.hosts}
    for h in lab.hosts:
        n = by_name[f"u7s-{h.name}"]
        assert n["status"]["addresses"] == [{"type": "ExternalIP", "address": h.address}]
        assert n["metadata"]["annotations"]["flannel.alpha.coreos.com/public-ip-overwrite"] == h.address

    subnets = {h.docker(["network", "inspect", NETWORK, "--format", "{{(index .IPAM.Config 0).Subnet}}"]).stdout.strip()
               for h in lab.hosts}
    assert len(subnets) == 3

    started = {h.name: h.docker(["inspect", "--format", "{{.State.StartedAt}}", NODE]).stdout for h in lab.hosts}
    seen = {h.name: len(calls(h)) for h in lab.hosts}
    again, ops = counted("cluster.create", "--inventory", str(cluster_inventory), cwd=tmp_path)
    print("round trips of an idle create:", json.dumps(ops))
    within(ops, lambda h: IDLE_CREATE_OPS["control-plane" if h == cp.name else "worker"], "idle cluster.create")
    assert "already up" in again.stderr and "already initialised" in again.stderr
    assert again.stderr.count("already joined") == 2 and "flannel already installed" in again.stderr
    assert len([c for c in calls(cp) if c["argv"][:1] == ["init"]]) == 1
    # A run with nothing to do says so, and neither restarts a node nor changes anything.
    assert "network check: not needed, no host joins" in again.stderr
    assert any(line.endswith("nothing to do: every node was already up, initialised, joined and Ready")
               for line in again.stderr.strip().splitlines()[-2:]), again.stderr
    assert again.stderr.count("; nothing changed") == 3  # each node "already up (...); nothing changed"
    assert {h.name: h.docker(["inspect", "--format", "{{.State.StartedAt}}", NODE]).stdout
            for h in lab.hosts} == started
    for h in lab.hosts:  # helm and kubeadm were only asked what is there
        since = [c for c in calls(h)[seen[h.name]:] if c["prog"] in ("kubeadm", "helm")]
        assert [c["argv"][:1] for c in since if c["argv"][:1] not in (["status"], ["version"])] == [], since

    status = json.loads(u7s("cluster.status", "--json", "--inventory", str(cluster_inventory)).stdout)
    assert [(s["host"], s["reachable"], s["rootless"], s["node"], s["ready"]) for s in status] == [
        (h.name, True, True, "running", True) for h in lab.hosts
    ]

    u7s("cluster.down-v", "--yes", "--inventory", str(cluster_inventory), cwd=tmp_path)
    for h in lab.hosts:  # the node container and its volumes are gone from every host
        assert h.docker(["ps", "-aq"]).stdout.strip() == "", h.name
        assert not VOLUMES & set(h.docker(["volume", "ls", "-q"]).stdout.split()), h.name


def test_dry_run_changes_nothing(lab, cluster_inventory, tmp_path):
    r = u7s("cluster.create", "--dry-run", "--inventory", str(cluster_inventory), cwd=tmp_path)
    assert "would run" in r.stderr and "would upload a join script" in r.stderr
    for h in lab.hosts:
        assert h.docker(["ps", "-aq"]).stdout.strip() == ""
    assert not (tmp_path / "kubeconfig").exists()


def test_check_preflight_checks_every_host_over_one_ssh_login_each(lab, cluster_inventory):
    logins = {h.name: accepted_logins(h) for h in lab.hosts}
    checks = json.loads(u7s("cluster.check-preflight", "--json", "--inventory", str(cluster_inventory)).stdout)
    found = {(c["host"], c["name"]): c for c in checks}
    for h in lab.hosts:
        assert found[(h.name, "engine")]["status"] == "ok", checks
        assert found[(h.name, "compose")]["detail"].startswith("Docker Compose 2."), checks  # tool and version
        assert accepted_logins(h) - logins[h.name] == 1  # facts, preflight and files share one connection


def test_a_lost_worker_fails_alone_and_a_rerun_converges(lab, cluster_inventory, tmp_path):
    cp, w1, w2 = lab.hosts
    lab.stop_sshd(w2)
    try:
        r = u7s("cluster.create", "--inventory", str(cluster_inventory), cwd=tmp_path, check=False)
    finally:
        lab.start_sshd(w2)
    assert r.returncode != 0
    assert w2.name in r.stderr and "failed on 1 host" in r.stderr
    assert [c["argv"][0] for c in calls(w1) if c["prog"] == "kubeadm"] == ["join"]
    assert w2.docker(["ps", "-aq"]).stdout.strip() == ""

    again = u7s("cluster.create", "--inventory", str(cluster_inventory), cwd=tmp_path)
    assert "already joined" in again.stderr
    assert [c["argv"][0] for c in calls(w2) if c["prog"] == "kubeadm"] == ["join"]


def test_unknown_host_keys_are_refused_unless_accepted(lab, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    path = inventory(lab, tmp_path, known_hosts=str(empty))
    r = u7s("cluster.status", "--json", "--inventory", str(path), check=False)
    assert r.returncode != 0 and "unknown host key" in r.stderr
    ok = status_rows(path, "--accept-unknown-host-keys")
    assert [s["reachable"] for s in ok] == [True, True, True]


def test_another_invoke_project_reaches_the_cluster_tasks(lab, tmp_path):
    path = inventory(lab, tmp_path)
    (tmp_path / "tasks.py").write_text(textwrap.dedent("""
        from invoke import Collection, task
        import u7s.tasks

        @task
        def hello(c):
            print("hello from the parent project")

        ns = Collection(hello)
        ns.add_collection(Collection.from_module(u7s.tasks), name="u7s")
    """))
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "invoke", "u7s.cluster.status", "--json", "--inventory", str(path)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    # No node runs: status exits 1 for that alone, naming each host's absent node.
    assert r.returncode == 0 or "u7s: not every node is up and Ready: " in r.stderr, r.stderr
    assert [s["host"] for s in json.loads(r.stdout)] == [h.name for h in lab.hosts]


def accepted_logins(host) -> int:
    """How many SSH logins the host's sshd has accepted so far (its log)."""
    from tests.lab.layout import host_dir

    return (host_dir(host.name) / "sshd.log").read_text().count("Accepted publickey")


def test_hosts_reachable_only_through_a_jump_host(lab, tmp_path):
    cp, *workers = lab.hosts
    path = inventory(lab, tmp_path)
    data = yaml.safe_load(path.read_text())
    for host in data["hosts"][1:]:
        host["ssh"]["jump"] = f"{cp.ssh_user}@{cp.address}:{cp.ssh_port}"
    jumped = tmp_path / "jump.yaml"
    jumped.write_text(yaml.safe_dump(data))
    # The controller (the bridge address) may no longer reach the workers' SSH directly.
    rule = ["INPUT", "-p", "tcp", "--dport", "22", "-s", lab.bridge_address, "-j", "REJECT"]
    for w in workers:
        w.in_netns(["iptables", "-I", *rule])
    try:
        direct = u7s("cluster.status", "--json", "--inventory", str(path), check=False)
        assert direct.returncode != 0 and all(w.name in direct.stderr for w in workers)
        logins = accepted_logins(cp)
        via = status_rows(jumped)
        assert [s["reachable"] for s in via] == [True, True, True]
        # The control plane's own connection and one to it as the jump host, shared by both workers:
        # a bastion's MaxStartups (10 by default) would refuse a fleet that opened one per host.
        assert accepted_logins(cp) - logins == 2
    finally:
        for w in workers:
            w.in_netns(["iptables", "-D", *rule])


def test_hosts_named_by_ssh_config_aliases_and_every_proxyjump_hop_is_checked(lab, tmp_path):
    cp, *workers = lab.hosts
    # The controller's ~/.ssh/config (u7s runs with HOME=tmp_path) names every host;
    # the workers are reached only through the control plane, by ProxyJump.
    ssh_dir = tmp_path / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    entries = []
    for h in lab.hosts:
        entries.append(f"Host lab-{h.name}\n    HostName {h.address}\n    User {h.ssh_user}\n"
                       f"    Port {h.ssh_port}\n    IdentityFile {h.key}\n")
        if h is not cp:
            entries.append(f"    ProxyJump lab-{cp.name}\n")
    (ssh_dir / "config").write_text("".join(entries))

    def aliased(name, known_hosts):
        data = {
            "cluster": {"name": "lab"},
            "settings": {"NODE_IMAGE": lab.node_image},
            "ssh": {"known_hosts": str(known_hosts), "connect_timeout": 5},
            "hosts": [{"name": h.name, "role": "control-plane" if h is cp else "worker",
                       "ssh": {"alias": f"lab-{h.name}"}} for h in lab.hosts],
        }
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data))
        return path

    rule = ["INPUT", "-p", "tcp", "--dport", "22", "-s", lab.bridge_address, "-j", "REJECT"]
    for w in workers:
        w.in_netns(["iptables", "-I", *rule])
    try:
        logins = accepted_logins(cp)
        status = status_rows(aliased("alias.yaml", cp.known_hosts), cwd=tmp_path)
        assert [(s["host"], s["reachable"], s["rootless"]) for s in status] == [
            (h.name, True, True) for h in lab.hosts]
        assert accepted_logins(cp) - logins == 2  # its own, and one ProxyJump hop for both workers

        # Without the jump host's key, its own connection and both hops through it are refused.
        partial = tmp_path / "known_hosts"
        lines = Path(cp.known_hosts).read_text().splitlines()
        partial.write_text("".join(f"{line}\n" for line in lines if not line.startswith(f"{cp.address},")))
        refused = u7s("cluster.status", "--json", "--inventory", str(aliased("refused.yaml", partial)),
                      cwd=tmp_path, check=False)
        assert refused.returncode != 0
        for h in lab.hosts:
            lines = [line for line in refused.stderr.splitlines() if line.startswith(f"{h.name} ")]
            assert any(f"unknown host key for {cp.address};" in line for line in lines), refused.stderr
    finally:
        for w in workers:
            w.in_netns(["iptables", "-D", *rule])


def test_the_control_plane_host_runs_u7s_for_the_cluster_as_a_local_member(lab, cluster_inventory):
    cp, *workers = lab.hosts
    # Run as the control plane's user on that host: itself without SSH, the
    # workers by the names its ~/.ssh/config gives them.
    data = {
        "cluster": {"name": "lab"},
        "settings": {"NODE_IMAGE": lab.node_image},
        "hosts": [{"name": cp.name, "role": "control-plane", "local": True},
                  *({"name": w.name, "role": "worker", "ssh": {"alias": w.name}} for w in workers)],
    }
    cp.ssh(["cp", "/dev/stdin", "local.yaml"], input=yaml.safe_dump(data))
    r = cp.ssh(["u7s", "cluster.create", "--inventory", "local.yaml"], timeout=900)
    kubeconfig = r.stdout.strip().splitlines()[-1]
    assert cp.ssh(["stat", "-c", "%a", kubeconfig]).stdout.strip() == "600"
    for w in workers:
        joins = [c for c in calls(w) if c["prog"] == "kubeadm" and c["argv"][0] == "join"]
        assert len(joins) == 1 and joins[0]["rc"] == 0
    wait_all_ready(cp, len(lab.hosts))
    status = json.loads(cp.ssh(["u7s", "cluster.status", "--json", "--inventory", "local.yaml"]).stdout)
    assert [(s["host"], s["reachable"], s["rootless"], s["node"], s["ready"]) for s in status] == [
        (h.name, True, True, "running", True) for h in lab.hosts
    ]
    # The local member's files went to its own working directory, like any other member's.
    assert cp.ssh(["test", "-f", f"{WORKDIR}/{cp.name}/docker-compose.yaml"]).returncode == 0
    cp.ssh(["u7s", "cluster.down-v", "--yes", "--inventory", "local.yaml"])
    for h in lab.hosts:
        assert h.docker(["ps", "-aq"]).stdout.strip() == ""


def test_a_second_cluster_on_the_same_hosts_takes_other_subnets_from_the_same_pool(lab, cluster_inventory, tmp_path):
    ports = {"PORT_KUBE_APISERVER": 8080, "PORT_FLANNEL": 9072, "PORT_KUBELET": 20250, "PORT_ETCD": 9090}
    other = inventory(lab, tmp_path, name="other.yaml", U7S_PROJECT="u7s-b", **ports)
    data = yaml.safe_load(other.read_text())
    data["settings"].update(U7S_PROJECT="u7s-c", PORT_KUBE_APISERVER=8081, PORT_FLANNEL=9073,
                            PORT_KUBELET=20251, PORT_ETCD=9091)
    clash = tmp_path / "clash.yaml"

    def subnet(host, network):
        out = host.docker(["network", "inspect", network, "--format", "{{(index .IPAM.Config 0).Subnet}}"])
        return out.stdout.strip()

    u7s("cluster.up", "--inventory", str(cluster_inventory), cwd=tmp_path)
    try:
        u7s("cluster.up", "--inventory", str(other), cwd=tmp_path)
        for h in lab.hosts:
            a, b = subnet(h, NETWORK), subnet(h, "u7s-b")
            assert a != b and a.startswith("10.100.") and b.startswith("10.100."), (h.name, a, b)
        # A subnet given by hand that one of its hosts already uses is refused before anything runs.
        taken = subnet(lab.hosts[1], NETWORK)
        data["hosts"][1]["settings"] = {"NODE_SUBNET": taken}
        clash.write_text(yaml.safe_dump(data))
        r = u7s("cluster.up", "--inventory", str(clash), cwd=tmp_path, check=False)
        assert r.returncode == 1
        assert f"{lab.hosts[1].name}: NODE_SUBNET {taken} overlaps the engine network {NETWORK} ({taken})" in r.stderr
        assert all(h.docker(["ps", "-aq", "--filter", "name=u7s-c"]).stdout.strip() == "" for h in lab.hosts)
    finally:
        u7s("cluster.down-v", "--yes", "--inventory", str(other), cwd=tmp_path, check=False)


@pytest.fixture
def podman_control_plane(lab):
    """The first lab host's SSH sessions reach its rootless Podman (the lab runs it as a user service)."""
    from tests.lab import login

    host = lab.hosts[0]
    with login.podman_service_address(login.user_of(host)):
        yield host


@pytest.mark.extended  # a second engine in a cluster; Podman alone runs by default (test_podman.py)
def test_a_podman_control_plane_with_docker_workers(lab, cluster_inventory, podman_control_plane, tmp_path):
    cp, *workers = lab.hosts
    data = yaml.safe_load(cluster_inventory.read_text())
    data["hosts"][0]["settings"] = {"CONTAINER_ENGINE": "podman", "NODE_IMAGE": "localhost/u7s-lab-node:latest"}
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text(yaml.safe_dump(data))

    def podman(*argv):
        return cp.ssh(["podman", *argv]).stdout

    try:
        r = u7s("cluster.create", "--inventory", str(mixed), cwd=tmp_path)
        # The network check ran through Podman's published ports as well as Docker's.
        checked = re.search(r"network check: (\d+) of (\d+) probes passed", r.stderr)
        assert checked and checked.group(1) == checked.group(2) != "0", r.stderr
        assert podman("ps", "--format", "{{.Names}}").split() == [NODE]
        for w in workers:
            joins = [c for c in calls(w) if c["prog"] == "kubeadm" and c["argv"][0] == "join"]
            assert len(joins) == 1 and joins[0]["rc"] == 0
        wait_all_ready(cp, len(lab.hosts), podman=True)
        status = json.loads(u7s("cluster.status", "--json", "--inventory", str(mixed)).stdout)
        assert [(s["host"], s["engine"], s["rootless"], s["node"], s["ready"]) for s in status] == [
            (cp.name, "podman", True, "running", True),
            *((w.name, "docker", True, "running", True) for w in workers),
        ]
    finally:
        u7s("cluster.down-v", "--yes", "--inventory", str(mixed), cwd=tmp_path, check=False)
    assert podman("ps", "-a", "--format", "{{.Names}}").split() == []
    assert not VOLUMES & set(podman("volume", "ls", "--format", "{{.Name}}").split())


def test_kubeconfig_is_merged_real_kubectl_reaches_the_cluster_over_tls_and_it_survives_down_up(
        lab, cluster_inventory, tmp_path):
    u7s("cluster.create", "--skip-network-check", "--inventory", str(cluster_inventory), cwd=tmp_path)
    kube = tmp_path / ".kube"
    kube.mkdir()
    (kube / "config").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "mine",
        "clusters": [{"name": "mine", "cluster": {"server": "https://192.0.2.9:6443"}}],
        "users": [{"name": "mine", "user": {}}],
        "contexts": [{"name": "mine", "context": {"cluster": "mine", "user": "mine"}}],
    }))
    written = u7s("cluster.kubeconfig", "--merge", "lab", "--inventory", str(cluster_inventory), cwd=tmp_path)
    merged = yaml.safe_load((kube / "config").read_text())
    assert (kube / "config").stat().st_mode & 0o777 == 0o600
    assert [c["name"] for c in merged["contexts"]] == ["mine", "lab"]
    assert merged["current-context"] == "lab"  # switched to, as kind and k3d do (--no-switch-context keeps it)
    servers = {c["name"]: c["cluster"]["server"] for c in merged["clusters"]}
    assert servers == {"mine": "https://192.0.2.9:6443", "lab": f"https://{lab.hosts[0].address}:6443"}

    # The real kubectl, as the user would run it next: over TLS to HOST_IP:6443, verifying the API
    # certificate against the cluster CA (so HOST_IP must be among its SANs) and sending the admin
    # client certificate; with the written file, and with the merged context.
    kubectl = controller_kubectl()
    path = written.stdout.strip().splitlines()[-1]
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    names = {f"u7s-{h.name}" for h in lab.hosts}
    deadline = time.monotonic() + 60
    while True:  # the workers' kubelets register on their own time
        listed = subprocess.run([kubectl, "--kubeconfig", path, "get", "nodes", "-o", "name"], env=env,
                                capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        if {line.removeprefix("node/") for line in listed.stdout.split()} == names:
            break
        assert time.monotonic() < deadline, listed.stdout
        time.sleep(1)
    via_context = subprocess.run([kubectl, "--context", "lab", "get", "nodes", "-o", "name"], env=env,
                                 capture_output=True, text=True, timeout=60)
    assert via_context.returncode == 0 and {n.removeprefix("node/") for n in via_context.stdout.split()} == names
    # A CA that is not the cluster's is refused: the TLS verification is real.
    wrong = yaml.safe_load(Path(path).read_text())
    wrong["clusters"][0]["cluster"]["certificate-authority-data"] = _other_ca()
    (tmp_path / "wrong-ca").write_text(yaml.safe_dump(wrong))
    refused = subprocess.run([kubectl, "--kubeconfig", str(tmp_path / "wrong-ca"), "get", "nodes"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "certificate signed by unknown authority" in refused.stderr

    # The reference CI's survival check: every node stopped and started again, the cluster answers
    # with every node Ready (the API server and kubelet units come back with each node's systemd).
    u7s("cluster.down", "--inventory", str(cluster_inventory), cwd=tmp_path)
    restarted = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    u7s("cluster.up", "--inventory", str(cluster_inventory), cwd=tmp_path)
    deadline = time.monotonic() + 120
    while True:
        got = subprocess.run([kubectl, "--kubeconfig", path, "get", "nodes", "-o", "json"], env=env,
                             capture_output=True, text=True, timeout=60)
        items = json.loads(got.stdout)["items"] if got.returncode == 0 else []
        ready = {n["metadata"]["name"] for n in items  # Ready, and said so by a kubelet started again
                 if any(c["type"] == "Ready" and c["status"] == "True" and c["lastHeartbeatTime"] >= restarted
                        for c in n["status"]["conditions"])}
        if ready == names:
            break
        assert time.monotonic() < deadline, (got.stdout, got.stderr)
        time.sleep(2)


def _other_ca():
    """A CA certificate of no cluster, base64 as kubeconfigs carry it."""
    import base64
    sys.path.insert(0, str(REPO / "tests/lab/standins"))
    import u7s_standin_pki as pki
    return base64.b64encode(pki.make_ca()[0].encode()).decode()


@pytest.mark.extended  # 29 s; the sync of late nodes has unit tests (tests/unit/steps) and runs in every create
def test_workers_whose_kubelet_registers_late_still_get_their_external_ip(lab, cluster_inventory, tmp_path):
    cp, *workers = lab.hosts
    for w in workers:
        set_switch(w, "kubelet-register-delay", "6")
    r = u7s("cluster.create", "--skip-network-check", "--inventory", str(cluster_inventory), cwd=tmp_path)
    kubeconfig = r.stdout.strip().splitlines()[-1]
    listed = subprocess.run([controller_kubectl(), "--kubeconfig", kubeconfig, "get", "nodes", "-o", "json"],
                            env={"HOME": str(tmp_path)}, capture_output=True, text=True, timeout=60)
    by_name = {n["metadata"]["name"]: n for n in json.loads(listed.stdout)["items"]}
    assert set(by_name) == {f"u7s-{h.name}" for h in lab.hosts}  # every node registered when create returns
    for h in lab.hosts:
        n = by_name[f"u7s-{h.name}"]
        ready = next(c for c in n["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", (h.name, ready)
        assert n["status"]["addresses"] == [{"type": "ExternalIP", "address": h.address}]
        # flannel read the overwrite when its pod started, so it advertises the host's address
        assert n["metadata"]["annotations"]["flannel.alpha.coreos.com/public-ip"] == h.address


@pytest.mark.extended  # 43 s; a token per join and its deletion have unit tests (tests/unit/steps/test_join_tokens.py)
def test_joins_one_at_a_time_outlasting_their_tokens_each_get_a_live_one_and_none_is_left(
        lab, cluster_inventory, tmp_path):
    """A long run in short: every token lives 6 s, each join lasts longer (its kubelet registers after 8 s),
    one worker at a time. A token made once for the run would have expired before the second join."""
    cp, *workers = lab.hosts
    set_switch(cp, "token-ttl", "6")
    for w in workers:
        set_switch(w, "kubelet-register-delay", "8")
        set_switch(w, "kubeadm-discovery-timeout", "5")  # an expired token fails in seconds, not 5 minutes
    one_at_a_time = tmp_path / "serial.yaml"
    inv = yaml.safe_load(cluster_inventory.read_text())
    one_at_a_time.write_text(yaml.safe_dump(dict(inv, cluster={**inv["cluster"], "join_concurrency": 1})))
    r = u7s("cluster.create", "--skip-network-check", "--inventory", str(one_at_a_time), cwd=tmp_path,
            check=False)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count(f"joined u7s-{cp.name} via ") == len(workers)
    cp_calls = calls(cp)
    made = [c for c in cp_calls if c["argv"][:2] == ["token", "create"]]
    deleted = [c for c in cp_calls if c["argv"][:2] == ["token", "delete"]]
    assert len(made) == len(deleted) == len(workers) and all(c["rc"] == 0 for c in made + deleted)
    # The second token was made after the first had expired: one token could not have served both joins.
    first, second = (datetime.datetime.fromisoformat(c["time"].replace("Z", "+00:00")) for c in made)
    assert (second - first).total_seconds() > 6
    for w in workers:
        assert [c["rc"] for c in calls(w) if c["prog"] == "kubeadm" and c["argv"][0] == "join"] == [0]
    assert all("--description" in c["argv"] for c in made)  # so `kubeadm token list` would show them as u7s's
    listed = cp.docker(["exec", NODE, "kubeadm", "token", "list"]).stdout
    assert "made by u7s" not in listed  # no bootstrap token u7s made is left behind


def test_a_host_added_later_is_network_checked_joins_and_flannel_there_uses_its_host_ip(lab, cluster_inventory,
                                                                                         tmp_path):
    """The added host's pairs with every running node are checked, UDP too, though flannel.1 holds PORT_FLANNEL
    on the running nodes; flannel reads the public-ip overwrite once, at start: a pod that started before it was
    set is restarted."""
    cp, w1, w2 = lab.hosts
    full = yaml.safe_load(cluster_inventory.read_text())
    first = dict(full, hosts=full["hosts"][:2])
    two = tmp_path / "two.yaml"
    two.write_text(yaml.safe_dump(first))
    u7s("cluster.create", "--skip-network-check", "--inventory", str(two), cwd=tmp_path)
    for h in (cp, w1):  # flannel runs there: its VXLAN device holds UDP 8472 in the node
        assert "flannel.1" in h.docker(["exec", NODE, "ip", "-o", "link", "show", "type", "vxlan"]).stdout
    # On the new host, flannel's pod starts the moment its node registers: before u7s can set the overwrite.
    set_switch(w2, "pod-start-delay", "0")
    rule = ["INPUT", "-p", "udp", "--dport", "8472", "-j", "DROP"]  # the new host's firewall drops VXLAN
    w2.in_netns(["iptables", "-I", *rule])
    try:
        blocked = u7s("cluster.create", "--inventory", str(cluster_inventory), cwd=tmp_path, check=False)
    finally:
        w2.in_netns(["iptables", "-D", *rule])
    assert blocked.returncode == 1, blocked.stderr
    for source, target in ((cp, w2), (w1, w2)):
        assert (f"network check {source.name} -> {target.name} vxlan: UDP 8472 from {source.address} to "
                f"{target.address} is blocked (or 8472 back); fix: allow UDP 8472") in blocked.stderr, blocked.stderr
    nodes = cp.docker(["exec", NODE, "kubectl", "get", "nodes", "-o", "name"]).stdout.split()
    assert nodes == [f"node/u7s-{cp.name}", f"node/u7s-{w1.name}"]  # the new host was not joined
    r = u7s("cluster.create", "--inventory", str(cluster_inventory), cwd=tmp_path)
    checked = re.search(r"network check: (\d+) of (\d+) probes passed\n", r.stderr)
    assert checked and checked[1] == checked[2], r.stderr  # every probe ran (none "not checked") and passed
    assert "already joined" in r.stderr and f"joined u7s-{cp.name}" in r.stderr
    kubeconfig = r.stdout.strip().splitlines()[-1]
    listed = subprocess.run([controller_kubectl(), "--kubeconfig", kubeconfig, "get", "nodes", "-o", "json"],
                            env={"HOME": str(tmp_path)}, capture_output=True, text=True, timeout=60)
    by_name = {n["metadata"]["name"]: n for n in json.loads(listed.stdout)["items"]}
    assert set(by_name) == {f"u7s-{h.name}" for h in lab.hosts}
    for h in lab.hosts:
        n = by_name[f"u7s-{h.name}"]
        assert next(c for c in n["status"]["conditions"] if c["type"] == "Ready")["status"] == "True"
        assert n["metadata"]["annotations"]["flannel.alpha.coreos.com/public-ip"] == h.address, h.name


@pytest.mark.extended  # 90 s; the single-host recovery runs by default (test_kubernetes.py)
def test_create_recovers_a_half_done_init_while_no_worker_has_joined(lab, cluster_inventory, tmp_path):
    cp, *_ = lab.hosts
    set_switch(cp, "kubeadm-init-fails")
    failed = u7s("cluster.create", "--skip-network-check", "--inventory", str(cluster_inventory), cwd=tmp_path,
                 check=False)
    assert failed.returncode == 1 and "kubeadm init failed" in failed.stderr
    cp.ssh(["rm", "-rf", f"{WORKDIR}/{cp.name}/.u7s-standin"])
    again = u7s("cluster.create", "--skip-network-check", "--set", "U7S_TIMEOUT=20",
                "--inventory", str(cluster_inventory), cwd=tmp_path)
    assert "an earlier kubeadm init failed half-way and no worker has joined" in again.stderr
    assert "recovered from a half-done kubeadm init" in again.stderr
    wait_all_ready(cp, 3, timeout=5)  # create itself waited for it


@pytest.mark.extended  # 43 s; the wait naming a node that is not Ready runs by default on one host (test_kubernetes.py)
def test_create_ends_only_when_every_node_is_ready_and_names_one_that_is_not(lab, cluster_inventory, tmp_path):
    cp, w1, w2 = lab.hosts
    set_switch(w2, "pod-start-delay", "never")  # flannel never starts there: its node stays NotReady
    r = u7s("cluster.create", "--skip-network-check", "--set", "U7S_TIMEOUT=20", "--inventory",
            str(cluster_inventory), cwd=tmp_path, check=False)
    assert r.returncode == 1
    assert "timed out after 20s waiting for every node to be Ready" in r.stderr
    assert f"u7s-{w2.name}: Ready=False (KubeletNotReady: container runtime network not ready" in r.stderr
    assert f"u7s-{w1.name}:" not in r.stderr.split("waiting for every node to be Ready")[1]
    assert "cluster ready" not in r.stderr and not r.stdout.strip()


@pytest.mark.extended  # the lost worker's path runs by default (test_a_lost_worker_fails_alone_...)
def test_losing_a_worker_in_the_middle_of_a_run(lab, cluster_inventory, tmp_path):
    cp, w1, w2 = lab.hosts
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "u7s", "cluster.create", "--inventory", str(cluster_inventory)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if line.startswith("- == init"):  # every node is up; the joins are still to come
                lab.stop_sshd(w2)
                # and the sessions u7s already has open to it (sshd forks one per connection)
                subprocess.run(["pkill", "-f", f"sshd: {w2.ssh_user}"], check=False)
                break
        _, rest = proc.communicate(timeout=900)
        seen.append(rest)
    finally:
        lab.start_sshd(w2)
    text = "".join(seen)
    assert proc.returncode != 0
    assert f"{w2.name}:" in text.split("u7s: failed on")[-1]
    assert [c["argv"][0] for c in calls(w1) if c["prog"] == "kubeadm"] == ["join"]
    again = u7s("cluster.create", "--inventory", str(cluster_inventory), cwd=tmp_path)
    assert "already joined" in again.stderr
    assert [c["argv"][0] for c in calls(w2) if c["prog"] == "kubeadm"] == ["join"]


def test_init_host_runs_both_parts_on_every_host_and_reports_what_it_skipped(lab, tmp_path):
    path = inventory(lab, tmp_path)
    # The sudo password comes from the u7s config, as `--prompt-for-sudo-password` or a prompt would give it.
    (tmp_path / "u7s.yaml").write_text(yaml.safe_dump({"sudo": {"password": "u7s-lab-sudo"}}))
    r = u7s("cluster.init-host", "--inventory", str(path), cwd=tmp_path)
    for h in lab.hosts:
        lines = [line for line in r.stderr.splitlines() if line.startswith(h.name)]
        text = "\n".join(lines)
        # systemd is not PID 1 on the lab machine: those parts are reported as skipped, with why.
        assert f"skipped: lingering for {h.ssh_user} (systemd is not running" in text, text
        assert "loginctl" not in text, text  # no advice that needs systemd
        assert "ok: rootless Docker already running" in text, text
        assert "/etc/sysctl.d/99-usernetes.conf" in text and "password" not in text
        assert "init-host:" in text
    assert open("/etc/sysctl.d/99-usernetes.conf").read().split("\n")[-2].replace(" ", "") == \
        "net.ipv4.conf.default.rp_filter=2"
    again = u7s("cluster.init-host", "--inventory", str(path), cwd=tmp_path)
    assert "changed:" not in again.stderr


def test_init_host_refuses_to_guess_a_sudo_password(lab, tmp_path):
    path = inventory(lab, tmp_path)
    uploaded = {h.name: f"{WORKDIR}/{h.name}/init-host" for h in lab.hosts}
    for h in lab.hosts:
        h.ssh(["rm", "-rf", uploaded[h.name]])
    # No password anywhere and no terminal: it says how to give one, and runs nothing.
    r = u7s("cluster.init-host", "--inventory", str(path), cwd=tmp_path, check=False)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert "h1, h2, h3 needs a password and there is no terminal" in last and "U7S_SUDO_PASSWORD" in last, r.stderr
    # A wrong password is tried on every host before anything runs, and never shown.
    (tmp_path / "u7s.yaml").write_text(yaml.safe_dump({"sudo": {"password": "not-the-password"}}))
    r = u7s("cluster.init-host", "--inventory", str(path), cwd=tmp_path, check=False)
    assert r.returncode == 1
    assert "sudo did not accept the password on h1, h2, h3; nothing was run" in r.stderr
    assert "not-the-password" not in r.stdout + r.stderr and "changed:" not in r.stderr
    for h in lab.hosts:
        assert h.ssh(["test", "-e", uploaded[h.name]], check=False).returncode != 0  # not even uploaded


def test_init_host_asks_for_the_sudo_password_on_the_terminal(lab, tmp_path):
    import pty
    import select

    path = inventory(lab, tmp_path)
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(REPO), "TERM": "dumb"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: u7s on a terminal of its own
        os.chdir(tmp_path)
        os.execve(sys.executable, [sys.executable, "-m", "u7s", "cluster.init-host", "--inventory", str(path)], env)
    seen = b""
    answered = False
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal: it has exited
            break
        if not chunk:
            break
        seen += chunk
        if not answered and b"sudo password for h1, h2, h3: " in seen:
            os.write(fd, b"u7s-lab-sudo\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    text = seen.decode(errors="replace")
    assert answered, text
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "u7s-lab-sudo" not in text  # the terminal does not echo it, and u7s never prints it
    assert all(f"{h.name}" in text for h in lab.hosts)
