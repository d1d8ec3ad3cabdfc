"""Hosts as users have them, where the lab's defaults are kinder: a rootless Docker that only its socket
reveals, and a host named by its FQDN. Over real SSH with a stock sshd, from the controller.

(Network variants, MTU and HOST_IP are in test_network_hosts.py; Podman with Debian's podman-compose in
test_podman.py.)
"""

from __future__ import annotations

import json

import pytest

from tests.lab import login
from u7s_cli import NODE, inventory, u7s, wipe_hosts

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]
FQDN = "h2.lab.example"


@pytest.fixture
def hosts_as_users_have_them(lab, tmp_path):
    """h2 named by its FQDN; h3's docker CLI without a context (Debian 12's setup tool leaves none)."""
    _, second, third = lab.hosts
    path = inventory(lab, tmp_path)
    wipe_hosts(lab)
    with lab.hostname(second, FQDN), login.engine_only_by_its_socket(login.user_of(third)):
        yield path
        u7s("cluster.down-v", "--yes", "--inventory", str(path), cwd=tmp_path, check=False)
    wipe_hosts(lab)


def test_a_rootless_docker_found_only_by_its_socket_is_addressed_by_u7s(lab, hosts_as_users_have_them):
    """The host's own docker CLI cannot reach the daemon; u7s passes the socket it detected to its commands.

    (Before: preflight failed with "`docker info` failed: Cannot connect to the Docker daemon at
    unix:///var/run/docker.sock".)
    """
    third = lab.hosts[2]
    assert third.ssh(["docker", "info"], check=False).returncode != 0  # the variant holds
    settings = json.loads(third.ssh(["u7s", "settings", "--json"]).stdout)
    assert settings["U7S_ENGINE_HOST"] == f"unix:///run/user/{third.uid}/docker.sock"
    checks = {c["name"]: c for c in json.loads(third.ssh(["u7s", "check-preflight", "--json", "--quick"],
                                                         check=False).stdout)}
    assert checks["engine"]["status"] == "ok", checks["engine"]
    assert checks["compose"]["detail"].startswith("Docker Compose 2."), checks["compose"]


def test_create_works_with_an_fqdn_host_and_a_socket_only_engine(lab, hosts_as_users_have_them, tmp_path):
    """(Before: NODE_NAME=u7s-h2.lab.example was refused as "not a DNS label", and h3's preflight failed.)"""
    cp, second, third = lab.hosts
    assert second.ssh(["hostname"]).stdout.strip() == FQDN
    u7s("cluster.create", "--inventory", str(hosts_as_users_have_them), cwd=tmp_path)
    nodes = json.loads(cp.docker(["exec", NODE, "kubectl", "get", "nodes", "-o", "json"]).stdout)["items"]
    ready = {n["metadata"]["name"]: [c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready"]
             for n in nodes}
    assert ready == {f"u7s-{cp.name}": ["True"], f"u7s-{FQDN}": ["True"], f"u7s-{third.name}": ["True"]}
    assert second.docker(["exec", NODE, "hostname"]).stdout.strip() == f"u7s-{FQDN}"
    status = u7s("cluster.status", "--json", "--inventory", str(hosts_as_users_have_them), cwd=tmp_path)
    assert [(row["host"], row["node_name"], row["ready"]) for row in json.loads(status.stdout)] == [
        (cp.name, f"u7s-{cp.name}", True), (second.name, f"u7s-{FQDN}", True), (third.name, f"u7s-{third.name}", True)]


def test_an_sshd_allowing_one_session_a_connection(lab, tmp_path):
    """Some hardened sites set MaxSessions 1. Read-only tasks work there: u7s opens each command's session ahead
    only while sshd allows it, and asks again when sshd has not yet freed the last command's. A task that changes
    the cluster needs two at a time (the host's lock and a command) and says so in one line naming the host and
    the fix, having changed nothing.

    (Before: every other command failed with `h2: lost the SSH connection: ChannelException(2, 'Connect failed')`,
    sshd's answer to a session opened right after the last one closed.)
    """
    _, second, _ = lab.hosts
    path = inventory(lab, tmp_path)
    wipe_hosts(lab)
    try:
        u7s("cluster.create", "--inventory", str(path), cwd=tmp_path)
        started = second.docker(["inspect", "--format", "{{.State.StartedAt}}", NODE]).stdout
        with lab.sshd_options(second, MaxSessions="1"):
            r = u7s("cluster.check-preflight", "--json", "--inventory", str(path), cwd=tmp_path, check=False)
            rows = [c for c in json.loads(r.stdout) if c["host"] == second.name]
            assert rows and {c["name"]: c["status"] for c in rows}.get("engine") == "ok", (rows, r.stderr)
            status = json.loads(u7s("cluster.status", "--json", "--inventory", str(path), cwd=tmp_path).stdout)
            assert [(row["host"], row["ready"]) for row in status] == [(h.name, True) for h in lab.hosts]
            u7s("cluster.kubeconfig", "--inventory", str(path), cwd=tmp_path)
            u7s("cluster.check-network", "--inventory", str(path), cwd=tmp_path)
            r = u7s("cluster.create", "--inventory", str(path), cwd=tmp_path, check=False)
            assert r.returncode != 0
            assert f"{second.name}: sshd refused a second session on the SSH connection" in r.stderr, r.stderr
            assert "set MaxSessions to 2 or more" in r.stderr and "lost the SSH connection" not in r.stderr
        assert second.docker(["inspect", "--format", "{{.State.StartedAt}}", NODE]).stdout == started
    finally:
        wipe_hosts(lab)
