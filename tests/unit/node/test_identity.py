"""One cluster never touches another: names per cluster, labels saying whose a node is, the refusal, status."""

import io
import json

import pytest

from u7s.render import engine, ownership, templates
from u7s.config.inventory import parse
from u7s.config.resolve import project_for, resolve
from u7s.errors import U7sError
from u7s.node import identity
from u7s.run.hosts import Result
from u7s.checks.status import status_problems
from tests.unit.u7s_fakes import FakeFacts, FakeHost

ABSENT = Result(1, "", "Error: No such object: u7s-node\n")


def cluster_settings(name="alpha", **flags):
    """Settings of inventory host h1 of cluster `name`, as resolve_all makes them (workdir per host)."""
    from u7s.config.settings import default_workdir

    import dataclasses

    given = {"CONTAINER_ENGINE": "docker", "COMPOSE": "docker compose", "HOST_IP": "192.0.2.1", **flags}
    found = resolve(FakeFacts(hostname="h1"), flags=given, cluster=name)
    workdir = found.workdir if "U7S_WORKDIR" in given else default_workdir("/home/user", found.project, "h1")
    return dataclasses.replace(found, workdir=workdir)


def single_settings(**flags):
    return resolve(FakeFacts(), flags={"CONTAINER_ENGINE": "docker", "COMPOSE": "docker compose", **flags})


def inspected(labels=None, workdir=None):
    mounts = [{"Type": "bind", "Source": "/boot", "Destination": "/boot"}]
    if workdir:
        mounts.append({"Type": "bind", "Source": workdir, "Destination": "/usernetes"})
    return Result(0, json.dumps({"labels": labels, "mounts": mounts}) + "\n", "")


def marker(text=None):
    return Result(0, text, "") if text is not None else Result(1, "", "cat: x: No such file or directory\n")


# -- names ------------------------------------------------------------------------------------

def test_a_named_cluster_has_its_own_project_container_volumes_network_and_workdir():
    s = cluster_settings("alpha")
    assert s.project == s.network == "u7s-alpha"
    assert engine.container_name(s) == "u7s-alpha-node"
    assert set(engine.volume_names(s).values()) == {"u7s-alpha-var", "u7s-alpha-opt", "u7s-alpha-etc"}
    assert s.workdir == "/home/user/.local/share/u7s/u7s-alpha/h1"
    assert engine.compose_down(s, volumes=True)[-4:] == ["-p", "u7s-alpha", "down", "-v"]
    assert cluster_settings("beta").project == "u7s-beta"


def test_single_host_and_unnamed_inventories_keep_the_names_they_had():
    s = single_settings()
    assert (s.project, engine.container_name(s), s.workdir) == ("u7s", "u7s-node", "/home/user/.local/share/u7s/u7s")
    assert project_for("") == project_for("u7s") == "u7s"  # an inventory without cluster.name is named u7s
    assert cluster_settings("u7s").workdir == "/home/user/.local/share/u7s/u7s/h1"
    assert parse({"hosts": [{"name": "h1", "address": "192.0.2.1", "role": "control-plane"}]}).name == "u7s"


def test_names_are_made_safe_for_compose_and_multi_node_adds_the_host():
    assert project_for("Lab.One") == "u7s-lab-one"
    assert cluster_settings("alpha", U7S_MULTI_NODE="true").project == "u7s-alpha-h1"
    assert single_settings(U7S_MULTI_NODE="true").project == "u7s-host1"
    assert cluster_settings("alpha", U7S_PROJECT="mine").project == "mine"  # a given project stands


def test_the_node_container_is_labelled_with_its_cluster_and_workdir_and_the_workdir_names_its_cluster():
    import yaml

    from u7s.render import workdir

    s = cluster_settings("alpha")
    node = yaml.safe_load(templates.compose_file(s))["services"]["node"]
    assert node["labels"] == {"io.u7s.cluster": "alpha", "io.u7s.workdir": "/home/user/.local/share/u7s/u7s-alpha/h1"}
    assert workdir.files(s)[".u7s-cluster"] == (b"alpha\n", 0o644)
    assert yaml.safe_load(templates.compose_file(single_settings()))["services"]["node"]["labels"]["io.u7s.cluster"] == "u7s"


# -- the refusal ------------------------------------------------------------------------------

def test_nothing_there_or_our_own_node_is_fine():
    s = cluster_settings("alpha")
    assert identity.problem(s, [ABSENT, marker()]) is None
    assert identity.problem(s, [inspected(ownership.labels(s), s.workdir), marker("alpha\n")]) is None


def test_another_clusters_node_under_the_same_name_is_refused_in_one_line():
    beta = cluster_settings("beta", U7S_PROJECT="shared")
    alpha = cluster_settings("alpha", U7S_PROJECT="shared")
    why = identity.problem(beta, [inspected(ownership.labels(alpha), alpha.workdir), marker()])
    assert why == ("node container shared-node belongs to cluster alpha, not beta (label io.u7s.cluster); give each "
                   "cluster its own U7S_PROJECT (by default, u7s-CLUSTER) or U7S_WORKDIR")


def test_another_clusters_working_directory_is_refused():
    beta = cluster_settings("beta", U7S_PROJECT="shared")
    why = identity.problem(beta, [ABSENT, marker("alpha\n")])
    assert why.startswith("working directory /home/user/.local/share/u7s/shared/h1 belongs to cluster alpha, not beta")


def test_a_node_made_with_another_working_directory_is_refused():
    """A single-host node and an unnamed inventory's share the name u7s-node and the cluster name u7s."""
    inventory = cluster_settings("u7s")
    single = single_settings()
    why = identity.problem(inventory, [inspected(ownership.labels(single), single.workdir), marker()])
    assert why.startswith("node container u7s-node of u7s was made with working directory "
                          "/home/user/.local/share/u7s/u7s, not /home/user/.local/share/u7s/u7s/h1")


def test_an_unlabelled_node_of_an_earlier_u7s_is_ours_only_when_made_with_our_working_directory():
    s = cluster_settings("u7s")
    assert identity.problem(s, [inspected(None, s.workdir), marker()]) is None
    why = identity.problem(s, [inspected({}, "/elsewhere"), marker()])
    assert why.startswith("node container u7s-node was made by an earlier u7s for working directory /elsewhere")


def test_a_named_cluster_finding_an_earlier_u7s_node_under_the_old_name_says_how_to_keep_it():
    s = cluster_settings("alpha")
    legacy = identity.legacy_layout(s, lambda: "/home/user", "h1")
    assert legacy == identity.Legacy("u7s-node", "/home/user/.local/share/u7s/u7s/h1")
    assert [p[-1] for p in identity.probes(s, legacy)] == [
        "u7s-alpha-node", "/home/user/.local/share/u7s/u7s-alpha/h1/.u7s-cluster",
        "u7s-node", "/home/user/.local/share/u7s/u7s/h1/.u7s-cluster"]
    old = inspected({"com.docker.compose.project": "u7s"}, legacy.workdir)
    why = identity.problem(s, [ABSENT, marker(), old, marker()], legacy)
    assert "node container u7s-node here was made by an earlier u7s" in why
    assert "add `U7S_PROJECT: u7s` to the inventory's settings to keep it" in why and "\n" not in why
    # Once a cluster has claimed it (its marker), or when our own node exists, there is nothing to say.
    assert identity.problem(s, [ABSENT, marker(), old, marker("other\n")], legacy) is None
    own = inspected(ownership.labels(s), s.workdir)
    assert identity.problem(s, [own, marker("alpha\n"), old, marker()], legacy) is None
    # A single-host node (its own working directory) is no earlier inventory node.
    assert identity.problem(s, [ABSENT, marker(), inspected(None, "/home/user/.local/share/u7s/u7s"), marker()],
                            legacy) is None


def test_no_earlier_layout_to_look_for_when_the_names_did_not_change_or_were_given():
    def home():
        raise AssertionError("home asked although no earlier layout applies")

    assert identity.legacy_layout(cluster_settings("u7s"), home, "h1") is None
    assert identity.legacy_layout(cluster_settings("alpha", U7S_PROJECT="u7s"), home, "h1") is None
    assert identity.legacy_layout(single_settings(), home, None) is None
    # A given working directory was the earlier one too.
    given = cluster_settings("alpha", U7S_WORKDIR="/data/u7s")
    assert identity.legacy_layout(given, home, "h1") == identity.Legacy("u7s-node", "/data/u7s")


def test_check_names_the_host_and_stops_before_anything_changes():
    beta = cluster_settings("beta", U7S_PROJECT="shared")
    alpha = cluster_settings("alpha", U7S_PROJECT="shared")
    host = FakeHost().on("docker", "inspect", result=inspected(ownership.labels(alpha), alpha.workdir))
    host.name = "h1"
    with pytest.raises(U7sError, match=r"^h1: node container shared-node belongs to cluster alpha, not beta"):
        identity.check(host, beta)
    assert [argv[:2] for argv in host.calls] == [["docker", "inspect"], ["cat", beta.path(".u7s-cluster")]]


def test_resolve_all_fails_the_host_whose_node_is_another_clusters_and_keeps_the_others():
    from u7s.session import Member, resolve_all
    from u7s.ui.report import Reporter

    inv = parse({"cluster": {"name": "beta"}, "settings": {"U7S_PROJECT": "shared"}, "hosts": [
        {"name": "h1", "address": "192.0.2.1", "role": "control-plane"},
        {"name": "h2", "address": "192.0.2.2"}]}, "hosts.yaml")
    alpha = cluster_settings("alpha", U7S_PROJECT="shared")
    members = []
    for i, spec in enumerate(inv.hosts):
        host = FakeHost()
        host.on("hostname", stdout=f"{spec.name}\n")
        host.on("ip", stdout=json.dumps([{"prefsrc": f"192.0.2.{i + 1}"}]))
        host.on("sh", contains="HOME", stdout="/home/user")
        host.on("docker", "network", stdout="")
        host.on("docker", "inspect", result=inspected(ownership.labels(alpha), alpha.workdir) if i == 0 else ABSENT)
        members.append(Member(spec, Reporter(stream=io.StringIO()), host=host))
    result = resolve_all(members, inv, {}, {"CONTAINER_ENGINE": "docker", "COMPOSE": "docker compose"})
    assert list(result.failed) == ["h1"]
    assert "node container shared-node belongs to cluster alpha, not beta" in result.failed["h1"]
    assert members[1].settings.cluster == "beta" and members[1].settings.workdir.endswith("/shared/h2")


# -- cluster.status ---------------------------------------------------------------------------

def row(host, node="running", ready=True, error=None):
    return {"host": host, "node": node, "ready": ready, "error": error}


def test_status_names_every_node_that_is_absent_or_not_ready():
    assert status_problems([row("h1"), row("h2")]) == []
    assert status_problems([row("h1", ready=None), row("h2", node="absent", ready=None), row("h3", ready=False),
                            row("h4", node="exited", ready=None)]) == [
        "h1: not registered or API not answering", "h2: node absent", "h3: not Ready", "h4: node exited"]
    assert status_problems([row("h1", node=None, ready=None, error="connection refused")]) == []
