"""One owner of the settings' precedence (u7s/config/layers.py), and how often a cluster task resolves a host.

The count runs a whole `cluster.settings` on fake hosts with a counting wrapper round `resolve`: each host's
settings are resolved at most twice a run, once with placeholders (validation before any host is touched)
and once with its facts.
"""

from __future__ import annotations

import collections
import io
import json
import sys

import invoke
import pytest

from u7s import session
from u7s.config import layers, resolve as resolving
from u7s.config.placeholders import PlaceholderFacts
from u7s.run.parallel import run_parallel
from tests.unit.u7s_fakes import FakeHost

HOSTS = ("h1", "h2", "h3")
INVENTORY = """\
cluster: {name: alpha}
settings: {NODE_IMAGE: from-inventory, U7S_TIMEOUT: 200}
hosts:
- {name: h1, address: 192.0.2.1, role: control-plane, settings: {NODE_NAME: u7s-h1, U7S_TIMEOUT: 100}}
- {name: h2, address: 192.0.2.2, settings: {NODE_NAME: u7s-h2}}
- {name: h3, address: 192.0.2.3, settings: {NODE_NAME: u7s-h3}}
"""


def fake_host(name: str, index: int) -> FakeHost:
    host = FakeHost({"/proc/net/tcp": "  sl  local_address rem_address   st\n"})
    host.name = name
    host.on("hostname", stdout=f"{name}\n")
    host.on("ip", stdout=json.dumps([{"prefsrc": f"192.0.2.{index + 1}"}]))
    host.on("sh", contains="HOME", stdout="/home/user")
    host.on("docker", "network", stdout="")
    host.on("docker", "inspect", exited=1, stderr="Error: No such object\n")
    return host


def fake_connections(members, context, accept_unknown):
    def attach(member):
        member.host = fake_host(member.name, HOSTS.index(member.name))
        return ""

    return run_parallel(members, attach)


def count_resolutions(monkeypatch) -> collections.Counter:
    """Wrap `resolve` wherever u7s looks it up; count calls per (host's NODE_NAME, placeholders or facts)."""
    original, counted = resolving.resolve, collections.Counter()

    def counting(facts, **kwargs):
        settings = original(facts, **kwargs)
        counted[(settings.node_name, "placeholders" if isinstance(facts, PlaceholderFacts) else "facts")] += 1
        return settings

    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("u7s") and getattr(module, "resolve", None) is original:
            monkeypatch.setattr(module, "resolve", counting)
    return counted


def test_a_cluster_task_resolves_each_host_at_most_twice_placeholders_then_facts(tmp_path, monkeypatch):
    from u7s.tasks.clustersettings import settings as cluster_settings

    (tmp_path / "hosts.yaml").write_text(INVENTORY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(session, "connect_all", fake_connections)
    counted = count_resolutions(monkeypatch)
    config = {"u7s": {"CONTAINER_ENGINE": "docker", "COMPOSE": "docker compose", "NODE_IMAGE": "from-config"}}
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    table = cluster_settings(invoke.Context(invoke.Config(overrides=config)), set_=["PORT_ETCD=12379"], json=True)
    assert set(table) == set(HOSTS)
    for host in HOSTS:
        node = f"u7s-{host}"
        assert counted[(node, "placeholders")] <= 1 and counted[(node, "facts")] <= 1, \
            f"{host} resolved {counted[(node, 'placeholders')]} times with placeholders, " \
            f"{counted[(node, 'facts')]} with facts"
    # The order held all the same: --set > host > inventory > config > lease > default.
    h1, h2 = table["h1"], table["h2"]
    assert h1["PORT_ETCD"] == {"value": "12379", "from": "--set"}
    assert h1["U7S_TIMEOUT"]["value"] == "100" and h2["U7S_TIMEOUT"]["value"] == "200"
    assert h2["NODE_IMAGE"] == {"value": "from-inventory", "from": "config"}
    assert h2["PORT_KUBELET"] == {"value": "10250", "from": "default"}  # a PORT_* given: no new lease


def test_the_order_is_one_list_lowest_first():
    assert layers.ORDER == ("lease", "config", "inventory", "host", "environment", "flags")


def test_each_layer_beats_the_ones_below_it_and_says_where_a_value_came_from():
    stack = layers.Layers(lease={"PORT_ETCD": 2479, "PORT_KUBELET": 10350}, lease_origin="lease",
                          config={"PORT_ETCD": 1, "NODE_IMAGE": "c", "U7S_TIMEOUT": 5},
                          config_sources={"NODE_IMAGE": "f line 2"},
                          inventory={"NODE_IMAGE": "i", "U7S_TIMEOUT": 6}, host={"U7S_TIMEOUT": 7},
                          env={"U7S_TIMEOUT": "8", "PATH": "/bin"}, flags={"NODE_IMAGE": "s"})
    raw, sources = stack.merged()
    assert raw == {"PORT_ETCD": 1, "PORT_KUBELET": 10350, "NODE_IMAGE": "s", "U7S_TIMEOUT": "8"}
    assert sources == {"PORT_ETCD": "config", "PORT_KUBELET": "lease", "NODE_IMAGE": "--set",
                       "U7S_TIMEOUT": "environment"}
    assert stack.winner("NODE_IMAGE") == "flags" and stack.winner("PORT_KUBELET") == "lease"
    assert stack.explicit() == {"PORT_ETCD": 1, "NODE_IMAGE": "s", "U7S_TIMEOUT": "8"}  # no lease, no environment junk


def test_an_unknown_key_is_named_with_its_layer():
    with pytest.raises(Exception, match=r"f line 3: u7s.PORT_ECTD: unknown setting"):
        layers.Layers(config={"PORT_ECTD": 1}, config_sources={"PORT_ECTD": "f line 3"}).merged()
    with pytest.raises(Exception, match=r"--set PORT_API: unknown setting"):
        layers.Layers(flags={"PORT_API": 1}).merged()


def test_the_one_check_before_any_host_names_each_bad_value_where_it_was_given():
    from u7s.config.inventory import parse
    from u7s.errors import InventoryError, SettingsError

    data = {"settings": {"PORT_ETCD": 2379}, "hosts": [
        {"name": "cp", "address": "192.0.2.1", "role": "control-plane", "settings": {"NODE_IP": "10.100.3.100"}},
        {"name": "w", "address": "192.0.2.2"}]}
    with pytest.raises(InventoryError) as bad:
        parse(data, "hosts.yaml", {"PORT_KUBELET": 2379}, {"U7S_TIMEOUT": "soon"})
    lines = str(bad.value).splitlines()
    assert "config u7s.PORT_KUBELET=2379: same port as PORT_ETCD (2379); give each PORT_* its own number" in lines
    assert any(line.startswith("--set U7S_TIMEOUT=soon: not a number of seconds") for line in lines)
    assert any(line.startswith("hosts.yaml: hosts[0] (cp).settings.NODE_IP: '10.100.3.100': outside NODE_SUBNET")
               for line in lines)
    # --set wins over the inventory here too: the subnet it gives puts the host's NODE_IP right.
    pinned = {"NODE_SUBNET": "10.100.3.0/24"}
    assert parse({"hosts": data["hosts"][:1]}, "hosts.yaml", {}, pinned).checked_with == ({}, pinned)
    with pytest.raises(SettingsError, match=r"^config u7s.PORT_ECTD: unknown setting"):
        parse(data, "hosts.yaml", {"PORT_ECTD": 1}, {})


@pytest.mark.parametrize("config, env, flag, chosen", [
    ({"CONTAINER_ENGINE": "docker"}, {"CONTAINER_ENGINE": "podman"}, None, "podman"),  # environment > config
    ({"CONTAINER_ENGINE": "docker"}, {}, None, "docker"),
    ({"CONTAINER_ENGINE": "docker"}, {"CONTAINER_ENGINE": "podman"}, "nerdctl", "nerdctl"),  # the flag > both
    ({}, {}, None, None),  # the scripts detect it
])
def test_init_host_takes_its_engine_in_the_settings_order(monkeypatch, config, env, flag, chosen):
    import os
    import subprocess

    from u7s.tasks import hostprep

    calls = []
    monkeypatch.setattr(subprocess, "call", lambda argv: calls.append(argv) or 0)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.delenv("CONTAINER_ENGINE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    hostprep.init_host(invoke.Context(invoke.Config(overrides={"u7s": config})), dry_run=True, engine=flag)
    engines = [argv[argv.index("--engine") + 1] if "--engine" in argv else None for argv in calls]
    assert engines == [chosen, chosen]


def test_what_the_cluster_decides_is_labelled_by_where_it_came_from_not_as_a_flag(tmp_path, monkeypatch):
    """A NODE_SUBNET nobody gave is "assigned from" the pool (not `--set`), a working directory nobody gave is
    the default (not `config`); given ones keep their layer's label."""
    from u7s.tasks.clustersettings import settings as cluster_settings

    (tmp_path / "hosts.yaml").write_text(INVENTORY.replace("U7S_TIMEOUT: 100}", "U7S_TIMEOUT: 100, "
                                                           "NODE_SUBNET: 10.100.7.0/24}"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(session, "connect_all", fake_connections)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    config = {"u7s": {"CONTAINER_ENGINE": "docker", "COMPOSE": "docker compose"}}
    table = cluster_settings(invoke.Context(invoke.Config(overrides=config)), json=True)
    assert table["h1"]["NODE_SUBNET"] == {"value": "10.100.7.0/24", "from": "config"}
    assert table["h2"]["NODE_SUBNET"]["from"] == "assigned from 10.100.0.0/16"
    assert table["h2"]["U7S_WORKDIR"]["from"] == "default"


def test_a_kept_subnet_and_a_given_working_directory_say_so():
    from u7s.session import decided_labels

    given = layers.Layers(config={"U7S_WORKDIR": "/srv/u7s"})
    out = decided_labels({"NODE_SUBNET": "--set", "U7S_WORKDIR": "config"}, {"U7S_WORKDIR": "f line 2"}, given,
                         True, "10.100.0.0/16")
    assert out == {"NODE_SUBNET": "the subnet its node runs with", "U7S_WORKDIR": "f line 2"}
