"""Single-host u7s with rootless Podman and podman-compose, on the lab's first host, over SSH.

The lab runs Podman as a user service in the user's delegated cgroup (as a
`podman.service` user unit would); u7s reaches it through CONTAINER_HOST.
"""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]
PORTS = ["PORT_ETCD=12379", "PORT_KUBELET=12250", "PORT_FLANNEL=12472", "PORT_KUBE_APISERVER=12443"]


def env_of(host):
    return {"CONTAINER_ENGINE": "podman", "CONTAINER_HOST": f"unix:///run/user/{host.uid}/podman/podman.sock"}


def u7s(lab, host, *args, check=True):
    sets = []
    for item in ("NODE_IMAGE=localhost/u7s-lab-node:latest", "U7S_PROJECT=pd", *PORTS):
        sets += ["--set", item]
    return host.ssh(["u7s", args[0], *sets, *args[1:]], env=env_of(host), check=check, timeout=600)


def podman(host, *argv, check=True):
    return host.ssh(["podman", *argv], env=env_of(host), check=check)


@pytest.fixture
def podman_host(lab, lab_host):
    u7s(lab, lab_host, "down-v", check=False)
    yield lab_host
    u7s(lab, lab_host, "down-v", check=False)


def test_preflight_sees_rootless_podman_with_slirp4netns(lab, podman_host):
    checks = {c["name"]: c for c in json.loads(u7s(lab, podman_host, "check-preflight", "--json", "--quick").stdout)}
    assert checks["engine"]["status"] == "ok" and "rootless" in checks["engine"]["detail"]
    assert checks["podman network"]["status"] == "ok"
    assert checks["compose"]["status"] == "ok"
    # The tool and version u7s will use: the one preflight's fix installs beside Debian's (tests/lab/venv.py).
    assert checks["compose"]["detail"] == "podman-compose 1.0.6 (`podman-compose`)"


def test_debians_podman_compose_1_0_3_is_refused_before_anything_runs(lab, podman_host):
    """Debian 12's podman-compose ignores the node's subnet and address and restarts an old node: refused, with the fix.

    (Before: `up` went on and Podman refused `--sysctl net.ipv4.ip_forward`, the value lost on the way.) The
    lab's venv holds podman-compose 1.0.6 (first on the login's PATH); COMPOSE names Debian's, as on a host
    where u7s was installed without it.
    """
    debian = ["--set", "COMPOSE=/usr/bin/podman-compose"]
    checks = {c["name"]: c for c in json.loads(u7s(lab, podman_host, "check-preflight", "--json", "--quick", *debian,
                                                   check=False).stdout)}
    compose = checks["compose"]
    assert compose["status"] == "error", compose
    assert compose["detail"].startswith("podman-compose 1.0.3 (`/usr/bin/podman-compose`) ignores"), compose
    assert "podman-compose 1.0.6 or later" in compose["fix"]
    r = u7s(lab, podman_host, "up", *debian, check=False)
    assert r.returncode == 1 and "preflight compose: podman-compose 1.0.3" in r.stderr, r.stderr
    assert podman(podman_host, "ps", "-aq", "--filter", "name=pd-node").stdout.strip() == ""


def test_the_node_gets_its_address_and_a_changed_node_is_made_anew(lab, podman_host):
    """NODE_SUBNET and NODE_IP reach Podman through podman-compose; changing a setting recreates the node."""
    settings = json.loads(u7s(lab, podman_host, "settings", "--json").stdout)
    u7s(lab, podman_host, "up")
    inspect = json.loads(podman(podman_host, "inspect", "pd-node").stdout)[0]
    networks = inspect["NetworkSettings"]["Networks"]
    assert [n["IPAddress"] for n in networks.values()] == [settings["NODE_IP"]]
    first = inspect["Id"]
    u7s(lab, podman_host, "up", "--set", "U7S_PUBLISH=30080/tcp")
    again = json.loads(podman(podman_host, "inspect", "pd-node").stdout)[0]
    assert again["Id"] != first  # a new container, not the old one started again
    assert "30080/tcp" in again["NetworkSettings"]["Ports"]


def test_up_down_and_down_v_with_podman(lab, podman_host):
    r = u7s(lab, podman_host, "up")
    assert "booted" in r.stderr
    state = podman(podman_host, "exec", "pd-node", "systemctl", "is-system-running", check=False).stdout.strip()
    assert state in ("running", "degraded")
    assert podman(podman_host, "exec", "pd-node", "systemctl", "is-active", "containerd").stdout.strip() == "active"
    assert podman(podman_host, "exec", "pd-node", "hostname").stdout.strip() == "u7s-h1"
    assert "nothing changed" in u7s(lab, podman_host, "up").stderr

    podman(podman_host, "exec", "pd-node", "sh", "-c", "echo kept > /var/lib/u7s-test-marker")
    assert "volumes kept" in u7s(lab, podman_host, "down").stderr
    assert podman(podman_host, "ps", "-aq", "--filter", "name=pd-node").stdout.strip() == ""
    u7s(lab, podman_host, "up")
    assert podman(podman_host, "exec", "pd-node", "cat", "/var/lib/u7s-test-marker").stdout.strip() == "kept"

    u7s(lab, podman_host, "down-v")
    volumes = podman(podman_host, "volume", "ls", "--format", "{{.Name}}").stdout.split()
    assert not {"pd-var", "pd-opt", "pd-etc"} & set(volumes)
