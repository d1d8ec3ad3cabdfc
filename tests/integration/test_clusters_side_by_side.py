"""Two clusters on the same lab hosts never touch each other (issue 18 item 14, issue 22).

alpha runs on h1 (control plane) and h2; beta on h2 alone, beside alpha's worker; neither
gives PORT_*: each leases a set free on its hosts (alpha the defaults, beta the next set),
recorded on the controller and in its working directory on each host, and reused by the next
run. Each has its own node container, volumes, network and working directory (project
u7s-CLUSTER); a leased port someone else took is one line naming host, port and fix;
`cluster.down-v` of beta releases its lease and leaves alpha Ready with its data; a third
inventory that names alpha's project for itself is refused; `cluster.status` says so, with
exit status 1, when a node of the cluster is gone.

One lab user per host: the two clusters belong to one user here (the lab has no second user
with an engine on the same host); another user's ports count the same way, as ports in use.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from u7s_cli import inventory, u7s, wipe_hosts

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]

GAMMA_PORTS = {"PORT_KUBE_APISERVER": 7443, "PORT_ETCD": 12379, "PORT_KUBELET": 20250, "PORT_FLANNEL": 9472}
DEFAULTS = {"PORT_ETCD": 2379, "PORT_FLANNEL": 8472, "PORT_KUBELET": 10250, "PORT_KUBE_APISERVER": 6443}
NEXT = {key: port + 100 for key, port in DEFAULTS.items()}  # the second set, beta's


def cluster_file(lab, tmp_path, cluster, hosts, **settings):
    """An inventory of the lab's `hosts` (the first is the control plane) for the cluster named `cluster`."""
    path = inventory(lab, tmp_path, name=f"{cluster}.yaml", cluster=cluster, **settings)
    data = yaml.safe_load(path.read_text())
    chosen = [h for h in data["hosts"] if h["name"] in {x.name for x in hosts}]
    for i, h in enumerate(chosen):
        h["role"] = "control-plane" if i == 0 else "worker"
    data["hosts"] = chosen
    path.write_text(yaml.safe_dump(data))
    return path


def status(path, tmp_path, ports=False):
    r = u7s("cluster.status", "--json", "--inventory", str(path), cwd=tmp_path, check=False)
    rows = json.loads(r.stdout or "[]")
    return r, {row["host"]: (row["node"], row["ready"], *([row["ports"]] if ports else [])) for row in rows}


def lease_files(tmp_path, h, cluster):
    """(the controller's record, the host's record and its mode) of a cluster's lease; None where absent."""
    mine = tmp_path / ".local/state/u7s/leases" / f"{cluster}.json"
    there = h.ssh(["sh", "-c", 'stat -c %a "$1" && cat "$1"', "sh",
                   f".local/share/u7s/u7s-{cluster}/{h.name}/u7s-lease.json"], check=False)
    return (json.loads(mine.read_text())["ports"] if mine.exists() else None,
            (json.loads(there.stdout.split("\n", 1)[1])["ports"], there.stdout.split()[0]) if there.returncode == 0
            else None)


def listen(h, port):
    """Someone else (root, here) listening on `port` on lab host h; the caller ends it by its pid."""
    script = ("import socket, sys, time\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
              f"s.bind(('0.0.0.0', {port}))\ns.listen()\nprint('ready', flush=True)\ntime.sleep(600)\n")
    proc = subprocess.Popen(["ip", "netns", "exec", h.netns, sys.executable, "-c", script],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


@pytest.fixture
def clean_lab(lab):
    wipe_hosts(lab, lab.hosts[:2])
    yield lab
    wipe_hosts(lab, lab.hosts[:2])


def test_two_clusters_on_the_same_hosts_keep_apart_and_down_v_of_one_leaves_the_other(clean_lab, tmp_path):
    lab = clean_lab
    h1, h2 = lab.hosts[:2]
    alpha = cluster_file(lab, tmp_path, "alpha", [h1, h2])
    beta = cluster_file(lab, tmp_path, "beta", [h2])  # no PORT_*: both lease theirs

    u7s("cluster.create", "--skip-network-check", "--inventory", str(alpha), cwd=tmp_path)
    made = u7s("cluster.create", "--skip-network-check", "--inventory", str(beta), cwd=tmp_path)
    assert "already up" not in made.stderr, made.stderr  # beta made its own node, it did not take alpha's
    assert lease_files(tmp_path, h2, "alpha") == (DEFAULTS, (DEFAULTS, "600"))
    assert lease_files(tmp_path, h2, "beta") == (NEXT, (NEXT, "600"))
    h2.docker(["exec", "u7s-alpha-node", "sh", "-c", "echo alpha-data > /var/lib/u7s-alpha-data"])
    names = h2.docker(["ps", "--format", "{{.Names}} {{.Label \"io.u7s.cluster\"}}"]).stdout.split("\n")
    assert sorted(n for n in names if n) == ["u7s-alpha-node alpha", "u7s-beta-node beta"]
    assert {"u7s-alpha", "u7s-beta"} <= set(h2.docker(["network", "ls", "--format", "{{.Name}}"]).stdout.split())
    assert h2.ssh(["cat", f".local/share/u7s/u7s-beta/{h2.name}/.u7s-cluster"]).stdout == "beta\n"
    r, rows = status(beta, tmp_path, ports=True)
    assert r.returncode == 0 and rows == {h2.name: ("running", True, "6543,2479,10350,8572/udp (lease)")}, \
        r.stdout + r.stderr
    # The next run reuses the lease, its own node holding the ports.
    again = u7s("cluster.up", "--inventory", str(beta), cwd=tmp_path)
    assert "already up" in again.stderr and lease_files(tmp_path, h2, "beta")[0] == NEXT

    # A leased port someone else took while beta is down: one line naming host, port and fix; nothing started.
    u7s("cluster.down", "--inventory", str(beta), cwd=tmp_path)
    holder = listen(h2, NEXT["PORT_ETCD"])
    try:
        refused = u7s("cluster.up", "--inventory", str(beta), cwd=tmp_path, check=False)
    finally:
        holder.kill()
        holder.wait()
    assert refused.returncode == 1
    assert (f"{h2.name}: leased port PORT_ETCD={NEXT['PORT_ETCD']} is in use by another program: stop it, or set "
            "PORT_ETCD to a free port") in refused.stderr, refused.stderr
    assert "u7s-beta-node" not in h2.docker(["ps", "-a", "--format", "{{.Names}}"]).stdout

    # A cluster that claims alpha's project for itself is refused on the host where alpha's node runs.
    gamma = cluster_file(lab, tmp_path, "gamma", [h2], U7S_PROJECT="u7s-alpha", **GAMMA_PORTS)
    refused = u7s("cluster.down-v", "--yes", "--inventory", str(gamma), cwd=tmp_path, check=False)
    assert refused.returncode == 1
    assert f"{h2.name}: node container u7s-alpha-node belongs to cluster alpha, not gamma" in refused.stderr

    u7s("cluster.down-v", "--yes", "--inventory", str(beta), cwd=tmp_path)
    assert lease_files(tmp_path, h2, "beta") == (None, None)  # released: the set is free for the next cluster
    assert lease_files(tmp_path, h2, "alpha") == (DEFAULTS, (DEFAULTS, "600"))
    volumes = set(h2.docker(["volume", "ls", "-q"]).stdout.split())
    assert not {"u7s-beta-var", "u7s-beta-opt", "u7s-beta-etc"} & volumes
    assert {"u7s-alpha-var", "u7s-alpha-opt", "u7s-alpha-etc"} <= volumes
    assert h2.docker(["exec", "u7s-alpha-node", "cat", "/var/lib/u7s-alpha-data"]).stdout == "alpha-data\n"
    r, rows = status(alpha, tmp_path)
    assert r.returncode == 0 and rows == {h1.name: ("running", True), h2.name: ("running", True)}, r.stdout

    # A node of alpha gone: status says so and exits 1.
    h2.docker(["rm", "-f", "u7s-alpha-node"])
    r, rows = status(alpha, tmp_path)
    assert r.returncode == 1 and rows[h2.name][0] == "absent", r.stdout + r.stderr
    assert f"{h2.name}: node absent" in r.stderr
