"""Two clusters on the same lab hosts never touch each other (issue 18 item 14, issue 22).

alpha runs on h1 (control plane) and h2; beta, with other PORT_* values, on h2 alone, beside
alpha's worker. Each has its own node container, volumes, network and working directory
(project u7s-CLUSTER); `cluster.down-v` of beta leaves alpha Ready with its data; a third
inventory that names alpha's project for itself is refused; `cluster.status` says so, with
exit status 1, when a node of the cluster is gone.
"""

from __future__ import annotations

import json

import pytest
import yaml

from u7s_cli import inventory, u7s, wipe_hosts

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]

BETA_PORTS = {"PORT_KUBE_APISERVER": 7443, "PORT_ETCD": 12379, "PORT_KUBELET": 20250, "PORT_FLANNEL": 9472}


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


def status(path, tmp_path):
    r = u7s("cluster.status", "--json", "--inventory", str(path), cwd=tmp_path, check=False)
    return r, {row["host"]: (row["node"], row["ready"]) for row in json.loads(r.stdout or "[]")}


@pytest.fixture
def clean_lab(lab):
    wipe_hosts(lab, lab.hosts[:2])
    yield lab
    wipe_hosts(lab, lab.hosts[:2])


def test_two_clusters_on_the_same_hosts_keep_apart_and_down_v_of_one_leaves_the_other(clean_lab, tmp_path):
    lab = clean_lab
    h1, h2 = lab.hosts[:2]
    alpha = cluster_file(lab, tmp_path, "alpha", [h1, h2])
    beta = cluster_file(lab, tmp_path, "beta", [h2], **BETA_PORTS)

    u7s("cluster.create", "--skip-network-check", "--inventory", str(alpha), cwd=tmp_path)
    made = u7s("cluster.create", "--skip-network-check", "--inventory", str(beta), cwd=tmp_path)
    assert "already up" not in made.stderr, made.stderr  # beta made its own node, it did not take alpha's
    h2.docker(["exec", "u7s-alpha-node", "sh", "-c", "echo alpha-data > /var/lib/u7s-alpha-data"])
    names = h2.docker(["ps", "--format", "{{.Names}} {{.Label \"io.u7s.cluster\"}}"]).stdout.split("\n")
    assert sorted(n for n in names if n) == ["u7s-alpha-node alpha", "u7s-beta-node beta"]
    assert {"u7s-alpha", "u7s-beta"} <= set(h2.docker(["network", "ls", "--format", "{{.Name}}"]).stdout.split())
    assert h2.ssh(["cat", f".local/share/u7s/u7s-beta/{h2.name}/.u7s-cluster"]).stdout == "beta\n"
    r, rows = status(beta, tmp_path)
    assert r.returncode == 0 and rows == {h2.name: ("running", True)}, r.stdout + r.stderr

    # A cluster that claims alpha's project for itself is refused on the host where alpha's node runs.
    gamma = cluster_file(lab, tmp_path, "gamma", [h2], U7S_PROJECT="u7s-alpha", **BETA_PORTS)
    refused = u7s("cluster.down-v", "--yes", "--inventory", str(gamma), cwd=tmp_path, check=False)
    assert refused.returncode == 1
    assert f"{h2.name}: node container u7s-alpha-node belongs to cluster alpha, not gamma" in refused.stderr

    u7s("cluster.down-v", "--yes", "--inventory", str(beta), cwd=tmp_path)
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
