"""Two users' clusters on the same lab hosts, neither giving PORT_* (issue 22's acceptance).

User A is each host's lab user; user B a second unprivileged user on the same hosts with its own
subordinate ids, SSH key, home and rootless Docker (tests/lab/seconduser.py). Each runs u7s from its
own controller home. Both name their cluster `shared`: a cluster's identity is its user's (engine,
home, working directory, lease store), and the only thing the two share is the hosts' ports. A
takes the default set; B's lease probe sees A's ports (held by A's rootlesskit, another user's
process) as taken and leases the next set. Both reach Ready and pass the network check; B's
`cluster.down-v` releases B's lease and leaves A Ready, with its data and its lease untouched.

About 70 s (two two-host clusters, the second user's engines): extended.
"""

from __future__ import annotations

import json
import types

import pytest

from u7s_cli import inventory, u7s, wipe_hosts

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh, pytest.mark.extended]

CLUSTER = "shared"
NODE = f"u7s-{CLUSTER}-node"
DEFAULTS = {"PORT_ETCD": 2379, "PORT_FLANNEL": 8472, "PORT_KUBELET": 10250, "PORT_KUBE_APISERVER": 6443}
NEXT = {key: port + 100 for key, port in DEFAULTS.items()}


def leases(home, hosts):
    """A user's lease of the cluster: (the controller's record, {host: (its record, mode)}); None where absent."""
    mine = home / ".local/state/u7s/leases" / f"{CLUSTER}.json"
    there = {}
    for h in hosts:
        r = h.ssh(["sh", "-c", 'stat -c %a "$1" && cat "$1"', "sh",
                   f".local/share/u7s/u7s-{CLUSTER}/{h.name}/u7s-lease.json"], check=False)
        there[h.name] = (json.loads(r.stdout.split("\n", 1)[1])["ports"], r.stdout.split()[0]) \
            if r.returncode == 0 else None
    return (json.loads(mine.read_text())["ports"] if mine.exists() else None), there


def ready(path, home):
    r = u7s("cluster.status", "--json", "--inventory", str(path), cwd=home, check=False)
    return r.returncode, {row["host"]: (row["node"], row["ready"]) for row in json.loads(r.stdout or "[]")}


@pytest.fixture
def two_users(lab, tmp_path):
    from tests.lab.seconduser import second_user

    hosts = lab.hosts[:2]
    wipe_hosts(lab, hosts)
    try:
        with second_user(lab, hosts) as others:
            yield hosts, others
    finally:
        wipe_hosts(lab, hosts)


def test_two_users_lease_their_own_ports_on_the_same_hosts_and_tear_down_independently(lab, two_users, tmp_path):
    (h1, h2), (b1, b2) = two_users
    homes = {"a": tmp_path / "a", "b": tmp_path / "b"}
    for home in homes.values():
        home.mkdir()
    paths = {who: inventory(types.SimpleNamespace(hosts=hosts, node_image=lab.node_image), homes[who],
                            cluster=CLUSTER, known_hosts=h1.known_hosts)
             for who, hosts in (("a", [h1, h2]), ("b", [b1, b2]))}
    assert b1.ssh_user != h1.ssh_user and b1.ssh(["id", "-u"]).stdout.strip() != h1.ssh(["id", "-u"]).stdout.strip()

    u7s("cluster.create", "--inventory", str(paths["a"]), cwd=homes["a"])
    made = u7s("cluster.create", "--inventory", str(paths["b"]), cwd=homes["b"])
    assert "already up" not in made.stderr, made.stderr
    assert leases(homes["a"], [h1, h2]) == (DEFAULTS, {h.name: (DEFAULTS, "600") for h in (h1, h2)})
    assert leases(homes["b"], [b1, b2]) == (NEXT, {h.name: (NEXT, "600") for h in (b1, b2)})
    for who in ("a", "b"):
        assert ready(paths[who], homes[who]) == (0, {h1.name: ("running", True), h2.name: ("running", True)})
        checked = u7s("cluster.check-network", "--inventory", str(paths[who]), cwd=homes[who], check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    # Each user's node is in its own engine, under the same name.
    assert h2.docker(["ps", "--format", "{{.Names}}"]).stdout.split() == [NODE]
    assert b2.docker(["ps", "--format", "{{.Names}}"]).stdout.split() == [NODE]
    # Sent as JSON: of kubectl's protobuf bodies (`create configmap`) the stand-in API reads only the metadata.
    data = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a-data"}, "data": {"kept": "yes"}}
    h1.docker(["exec", "-i", NODE, "kubectl", "create", "-f", "-"], input=json.dumps(data))
    a_leases = leases(homes["a"], [h1, h2])

    u7s("cluster.down-v", "--yes", "--inventory", str(paths["b"]), cwd=homes["b"])
    assert leases(homes["b"], [b1, b2]) == (None, {b1.name: None, b2.name: None})  # released
    assert not b2.docker(["ps", "-aq"]).stdout.split() and not b2.docker(["volume", "ls", "-q"]).stdout.split()
    assert leases(homes["a"], [h1, h2]) == a_leases
    assert ready(paths["a"], homes["a"]) == (0, {h1.name: ("running", True), h2.name: ("running", True)})
    kept = h1.docker(["exec", NODE, "kubectl", "get", "configmap", "a-data", "-o", "jsonpath={.data.kept}"])
    assert kept.stdout == "yes"
