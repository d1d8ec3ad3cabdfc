"""hosts.yaml validation: a corpus of malformed inventories, each rejected with its own message."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from u7s.config import subnets
from u7s.facts import networks
from u7s.config.inventory import InventoryError, load, parse

REPO = Path(__file__).resolve().parents[3]
GOOD = {
    "cluster": {"name": "demo"},
    "settings": {"CONTAINER_ENGINE": "docker"},
    "ssh": {"user": "alice"},
    "hosts": [
        {"name": "cp", "address": "192.0.2.11", "role": "control-plane"},
        {"name": "w1", "address": "192.0.2.12", "role": "worker"},
        {"name": "w2", "address": "192.0.2.13"},
    ],
}


def variant(change):
    data = copy.deepcopy(GOOD)
    result = change(data)
    if isinstance(result, tuple) and result[:1] == ("replace",):
        return result[1]
    return data


def setitem(path, value):
    def change(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


# (id, change to GOOD, text the single message must contain)
CORPUS = [
    ("top-not-mapping", lambda d: ("replace", ["cp", "w1"]), "expected a mapping with a `hosts` list"),
    ("hosts-missing", lambda d: d.pop("hosts"), "expected a non-empty list of hosts, got NoneType"),
    ("unknown-top-key", setitem(["clusters"], {}), "clusters: unknown key"),
    ("hosts-not-list", setitem(["hosts"], {"cp": {}}), "hosts: expected a non-empty list"),
    ("hosts-empty", setitem(["hosts"], []), "got an empty list"),
    ("host-not-mapping", lambda d: d["hosts"].append("w3"), "hosts[3]: expected a mapping"),
    ("unknown-host-key", setitem(["hosts", 1, "adress"], "x"), "hosts[1] (w1).adress: unknown key"),
    ("missing-name", lambda d: d["hosts"][1].pop("name"), "hosts[1].name: expected a host name"),
    ("bad-name", setitem(["hosts", 1, "name"], "w 1"), "hosts[1].name"),
    ("missing-address", lambda d: d["hosts"][1].pop("address"), "hosts[1] (w1).address: missing"),
    ("bad-role", setitem(["hosts", 1, "role"], "master"), "hosts[1] (w1).role: expected one of"),
    ("no-control-plane", setitem(["hosts", 0, "role"], "worker"), "exactly one host must have role: control-plane (found none)"),
    ("two-control-planes", setitem(["hosts", 1, "role"], "control-plane"), "found cp, w1"),
    ("duplicate-name", setitem(["hosts", 2, "name"], "w1"), "same name 'w1'"),
    ("duplicate-address", setitem(["hosts", 2, "address"], "192.0.2.12"), "same address 192.0.2.12 and SSH user"),
    ("port-not-int", setitem(["hosts", 1, "ssh"], {"port": "22"}), "hosts[1] (w1).ssh.port: expected a whole number"),
    ("port-out-of-range", setitem(["ssh", "port"], 70000), "ssh.port: expected a whole number from 1 to 65535"),
    ("unknown-ssh-key", setitem(["ssh", "password"], "x"), "ssh.password: unknown key"),
    ("unreadable-identity", setitem(["ssh", "identity_file"], "/nonexistent/id_ed25519"), "ssh.identity_file: cannot read"),
    ("bad-timeout", setitem(["ssh", "connect_timeout"], -1), "ssh.connect_timeout: expected a whole number of seconds"),
    ("unknown-setting", setitem(["settings", "PORT_API"], 1), "settings.PORT_API: unknown key"),
    ("setting-port-range", setitem(["hosts", 1, "settings"], {"PORT_ETCD": 0}), "hosts[1] (w1).settings.PORT_ETCD: 0"),
    ("setting-port-duplicate", setitem(["settings", "PORT_KUBELET"], 2379), "settings.PORT_KUBELET: 2379: same port as PORT_ETCD"),
    ("setting-bad-subnet", setitem(["hosts", 2, "settings"], {"NODE_SUBNET": "10.100.0.0/16"}), "settings.NODE_SUBNET: '10.100.0.0/16'"),
    ("setting-not-scalar", setitem(["settings", "NODE_IMAGE"], ["a"]), "settings.NODE_IMAGE: expected a single value"),
    ("duplicate-node-name", lambda d: [h.setdefault("settings", {}).update(NODE_NAME="u7s-x") for h in d["hosts"][1:]],
     "same NODE_NAME 'u7s-x'"),
    ("duplicate-subnet", lambda d: [h.setdefault("settings", {}).update(NODE_SUBNET="10.100.9.0/24") for h in d["hosts"][:2]],
     "same NODE_SUBNET '10.100.9.0/24'"),
    ("ports-collide-on-one-address", lambda d: d["hosts"].append(
        {"name": "w1b", "address": "192.0.2.12", "ssh": {"user": "bob"}}), "w1 and w1b share address 192.0.2.12 and port"),
    ("bad-local", setitem(["hosts", 1, "local"], "yes"), "hosts[1] (w1).local: expected true or false"),
    ("bad-cluster-name", setitem(["cluster", "name"], "a b"), "cluster.name"),
    ("bad-pool", setitem(["cluster", "node_subnet_pool"], "10.100.0.0/25"), "cluster.node_subnet_pool"),
    ("bad-concurrency", setitem(["cluster", "join_concurrency"], 0), "cluster.join_concurrency"),
]


def test_the_good_inventory_parses():
    inv = parse(copy.deepcopy(GOOD))
    assert [h.name for h in inv.hosts] == ["cp", "w1", "w2"]
    assert inv.control_plane.name == "cp" and [w.name for w in inv.workers] == ["w1", "w2"]
    assert inv.hosts[1].ssh.user == "alice" and inv.hosts[1].settings == {"CONTAINER_ENGINE": "docker"}


def test_the_example_inventory_in_the_repository_parses():
    assert load(str(REPO / "hosts.yaml")).control_plane.name == "cp"


@pytest.mark.parametrize("case, change, expected", CORPUS, ids=[c[0] for c in CORPUS])
def test_each_malformed_inventory_is_rejected_with_its_own_message(case, change, expected):
    with pytest.raises(InventoryError) as caught:
        parse(variant(change), "inv.yaml")
    problems = caught.value.problems
    assert any(expected in p for p in problems), problems
    assert all(p.startswith("inv.yaml: ") for p in problems)


def test_a_host_reached_by_its_ssh_alias_needs_no_address():
    data = copy.deepcopy(GOOD)
    data["hosts"][1] = {"name": "w1", "ssh": {"alias": "worker-one"}}
    inv = parse(data, "hosts.yaml")
    w1 = inv.hosts[1]
    assert (w1.address, w1.ssh.alias, w1.ssh.user) == (None, "worker-one", "alice")


def test_two_hosts_behind_one_alias_and_user_are_one_host_listed_twice():
    data = copy.deepcopy(GOOD)
    data["hosts"][1] = {"name": "w1", "ssh": {"alias": "box"}}
    data["hosts"][2] = {"name": "w2", "ssh": {"alias": "box"}}
    with pytest.raises(InventoryError) as err:
        parse(data, "hosts.yaml")
    assert "w1, w2: same address box and SSH user" in str(err.value)


def test_the_corpus_has_at_least_twenty_distinct_messages():
    messages = set()
    for _, change, _ in CORPUS:
        with pytest.raises(InventoryError) as caught:
            parse(variant(change))
        messages.add(tuple(caught.value.problems))
    assert len(CORPUS) >= 20 and len(messages) == len(CORPUS)


def test_every_problem_is_reported_not_just_the_first():
    data = variant(setitem(["hosts", 1, "role"], "master"))
    data["ssh"]["port"] = "x"
    data["hosts"][2]["settings"] = {"PORT_ETCD": 99999}
    with pytest.raises(InventoryError) as caught:
        parse(data)
    assert len(caught.value.problems) >= 3


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(InventoryError, match="cannot read the inventory"):
        load(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("hosts: [\n")
    with pytest.raises(InventoryError, match="not valid YAML"):
        load(str(bad))


def test_the_cli_rejects_a_bad_inventory_before_touching_any_host(tmp_path):
    path = tmp_path / "hosts.yaml"
    data = variant(setitem(["hosts", 1, "role"], "master"))
    data["hosts"][1]["address"] = "127.0.0.1"
    path.write_text(yaml.safe_dump(data))
    r = subprocess.run([sys.executable, "-m", "u7s", "cluster.up", "--inventory", str(path)],
                       capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 1
    assert "hosts[1] (w1).role" in r.stderr and "Traceback" not in r.stderr
    assert "==" not in r.stderr  # no phase started


def test_subnets_of_a_64_host_inventory_are_unique_and_stable():
    hosts = [(f"node{i:02d}", None, None) for i in range(64)]
    first = subnets.assign(hosts)
    assert len(set(first.values())) == 64
    # Add a host at the end, at the front, and remove one: nobody else moves
    # (hosts keep the subnet they run with, read back from the hosts).
    running = [(name, None, first[name]) for name, _, _ in hosts]
    for changed in (running + [("new", None, None)], [("new", None, None)] + running, running[1:]):
        again = subnets.assign(changed)
        assert all(again[name] == first[name] for name, _, _ in changed if name in first)
        assert len(set(again.values())) == len(changed)


def test_subnets_honour_given_values_and_follow_the_reference_when_free():
    from u7s.config.settings import node_subnet_for

    out = subnets.assign([("host1", None, None), ("b", "10.100.224.0/24", None)])
    assert out["b"] == "10.100.224.0/24"
    assert out["host1"] != "10.100.224.0/24"  # host1's reference bucket was taken explicitly
    assert subnets.assign([("node-a", None, None)])["node-a"] == node_subnet_for("node-a") == "10.100.121.0/24"


def test_subnets_report_an_exhausted_pool():
    from u7s.errors import U7sError

    with pytest.raises(U7sError, match="no free /24"):
        subnets.assign([(f"h{i}", None, None) for i in range(3)], "10.100.0.0/23")


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_subnets_in_use_are_read_from_docker_and_podman_network_inspect():
    import ipaddress

    docker = networks.networks_in_use((FIXTURES / "docker-network-inspect.json").read_text(), own="u7s")
    assert docker == {"bridge": [ipaddress.IPv4Network("172.17.0.0/16")],
                      "other-app": [ipaddress.IPv4Network("10.100.7.0/24")]}  # host and none have no subnet
    podman = networks.networks_in_use((FIXTURES / "podman-network-inspect.json").read_text(), own="other-app")
    assert podman == {"podman": [ipaddress.IPv4Network("10.88.0.0/16")]}  # its own network is left out
    assert networks.networks_in_use("Error: no such network", own="u7s") == {}
    assert networks.networks_in_use('[1, {"Name": "x"}, {"IPAM": {"Config": [{"Subnet": "10.1.0.0/24"}]}}]', own="u7s") == {}


def test_a_new_subnet_passes_over_networks_the_hosts_engine_already_has():
    import ipaddress

    from u7s.config.settings import node_subnet_for

    preferred = node_subnet_for("node-a")
    taken_there = {"node-a": {"other": [ipaddress.IPv4Network(preferred)]}}
    out = subnets.assign([("node-a", None, None)], in_use=taken_there)
    assert out["node-a"] != preferred and ipaddress.IPv4Network(out["node-a"]).subnet_of(
        ipaddress.IPv4Network("10.100.0.0/16"))
    # A wide network on the host rules out every /24 inside it; other hosts are not affected.
    wide = {"node-a": {"lan": [ipaddress.IPv4Network("10.100.0.0/17")]}}
    out = subnets.assign([("node-a", None, None), ("node-b", None, None)], in_use=wide)
    assert ipaddress.IPv4Network(out["node-a"]).network_address >= ipaddress.IPv4Address("10.100.128.0")
    assert out["node-b"] == node_subnet_for("node-b")
    # The subnet a host already runs with stays, whatever else it has.
    assert subnets.assign([("node-a", None, preferred)], in_use=taken_there)["node-a"] == preferred


def test_a_given_subnet_that_overlaps_a_network_on_its_host_is_refused_before_anything_runs():
    import ipaddress

    from u7s.errors import U7sError

    in_use = {"b": {"other-app": [ipaddress.IPv4Network("10.100.224.0/24")]}}
    with pytest.raises(U7sError) as err:
        subnets.assign([("a", None, None), ("b", "10.100.224.0/24", None)], in_use=in_use)
    assert str(err.value) == ("b: NODE_SUBNET 10.100.224.0/24 overlaps the engine network other-app "
                              "(10.100.224.0/24) on that host; give another NODE_SUBNET or remove that network")


# -- one value per cluster, and where cluster tasks take settings from ----------------------
def two_hosts(**host_settings):
    return parse({
        "settings": {"PORT_ETCD": 12379},
        "hosts": [
            {"name": "cp", "address": "192.0.2.1", "role": "control-plane", "settings": host_settings},
            {"name": "w1", "address": "192.0.2.2"},
        ],
    }, "hosts.yaml")


@pytest.mark.parametrize("key", ["PORT_FLANNEL", "PORT_KUBELET"])
def test_hosts_that_differ_in_a_cluster_wide_port_are_refused_naming_hosts_and_values(key):
    from u7s.config.crosshost import check_cluster_wide

    with pytest.raises(InventoryError) as caught:
        check_cluster_wide(two_hosts(**{key: 20000}), {}, {})
    (line,) = caught.value.problems
    assert line.startswith(f"hosts.yaml: hosts: {key} differs between hosts (20000 on cp; ")
    assert ("10250 on w1" if key == "PORT_KUBELET" else "8472 on w1") in line


def test_a_cluster_wide_port_set_once_in_any_layer_is_accepted():
    from u7s.config.crosshost import check_cluster_wide

    check_cluster_wide(two_hosts(), {"PORT_FLANNEL": 9072}, {})
    check_cluster_wide(two_hosts(PORT_FLANNEL=9072), {"PORT_FLANNEL": 9072}, {})
    check_cluster_wide(two_hosts(PORT_FLANNEL=9072), {}, {"PORT_FLANNEL": "8472"})  # --set wins everywhere
    check_cluster_wide(two_hosts(PORT_ETCD=2379, PORT_KUBE_APISERVER=16443), {}, {})  # other ports may differ


def test_the_example_inventory_and_the_readme_example_keep_one_port_set():
    from u7s.config.crosshost import check_cluster_wide

    check_cluster_wide(load(str(REPO / "hosts.yaml")), {}, {})
    readme = (REPO / "README.md").read_text()
    example = readme.split("```yaml\ncluster:", 1)[1].split("```", 1)[0]
    data = yaml.safe_load("cluster:" + example)
    data.pop("ssh")  # its key file is the reader's
    check_cluster_wide(parse(data), {}, {})


def test_cluster_settings_precedence_config_inventory_host_set():
    """defaults < u7s: configuration < inventory settings < host settings < --set."""
    import io

    from u7s.session import Member, resolve_all
    from u7s.ui.report import Reporter
    from tests.unit.u7s_fakes import FakeHost

    inv = parse({
        "settings": {"PORT_KUBE_APISERVER": 16443, "U7S_TIMEOUT": 30},
        "hosts": [
            {"name": "cp", "address": "192.0.2.1", "role": "control-plane", "settings": {"U7S_TIMEOUT": 300}},
            {"name": "w1", "address": "192.0.2.2"},
        ],
    }, "hosts.yaml")
    members = []
    for i, spec in enumerate(inv.hosts):
        host = FakeHost()
        host.on("hostname", stdout=f"{spec.name}\n")
        host.on("ip", stdout=json.dumps([{"prefsrc": f"192.0.2.{i + 1}"}]))
        host.on("sh", contains="HOME", stdout="/home/u")
        host.on("docker", "network", stdout="")
        host.on("docker", "inspect", exited=1, stderr="Error: No such object: u7s-node\n")
        members.append(Member(spec, Reporter(stream=io.StringIO()), host=host))
    config = {"CONTAINER_ENGINE": "docker", "COMPOSE": "docker compose", "PORT_ETCD": 12379,
              "PORT_KUBE_APISERVER": 7443, "U7S_TIMEOUT": 3, "NODE_IMAGE": "from-config"}
    result = resolve_all(members, inv, {"NODE_IMAGE": "from-set"}, config)
    assert not result.failed
    cp, w1 = (m.settings for m in members)
    assert (cp.port_etcd, w1.port_etcd) == (12379, 12379)  # u7s: config, where nothing else says
    assert (cp.port_kube_apiserver, w1.port_kube_apiserver) == (16443, 16443)  # inventory over config
    assert (cp.timeout, w1.timeout) == (300, 30)  # host over inventory
    assert cp.node_image == w1.node_image == "from-set"  # --set over everything
