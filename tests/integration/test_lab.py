"""The lab is what it claims: separate rootless-Docker hosts, reachable over SSH, that leave nothing behind.

Everything here runs for real as root on the machine: users, namespaces,
sshd, rootless dockerd, systemd in a privileged node container.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.lab.engine import check_info

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]


def wait_for(probe, what, timeout=60.0, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def test_every_engine_is_rootless_on_cgroup_v2(lab):
    for host in lab.hosts:
        info = json.loads(host.docker(["info", "--format", "{{json .}}"]).stdout)
        assert check_info(info) == [], host.name
        assert "name=rootless" in " ".join(info["SecurityOptions"])
        assert str(info["CgroupVersion"]) == "2"


def test_each_host_has_its_own_name_address_user_and_tools_over_ssh(lab):
    for host in lab.hosts:
        out = host.ssh(["sh", "-c", 'hostname; id -u; ip --json route get 1']).stdout.splitlines()
        assert out[0] == host.name
        assert int(out[1]) == host.uid
        assert json.loads(out[2])[0]["prefsrc"] == host.address  # how u7s finds HOST_IP
        # The user's own docker CLI reaches the user's engine through its `rootless` context, compose v2 included.
        assert host.ssh(["docker", "context", "show"]).stdout.strip() == "rootless"
        assert host.ssh(["docker", "info", "--format", "{{.CgroupVersion}}"]).stdout.strip() == "2"
        assert "v2." in host.ssh(["docker", "compose", "version"]).stdout
        # What u7s's preflight reads on a systemd host with cgroup v2.
        user_cgroup = f"/sys/fs/cgroup/user.slice/user-{host.uid}.slice/user@{host.uid}.service"
        host.ssh(["test", "-f", f"{user_cgroup}/cgroup.controllers"])
        # As on Debian: the rootless scripts are installed off PATH.
        assert host.ssh(["sh", "-c", "command -v dockerd-rootless.sh"], check=False).returncode != 0
        assert host.ssh(["test", "-x", "/usr/share/docker.io/contrib/dockerd-rootless.sh"]).returncode == 0


def test_ssh_sessions_get_what_a_stock_sshd_gives_and_no_engine_address(lab):
    """The distribution's sshd_config (the lab's own address, host key and pid file first); the session's
    environment holds no engine address: only ~/.bashrc's PATH line, as the quick start says to add."""
    from tests.lab import sshd
    from tests.lab.layout import VENV_DIR, host_dir

    stock = sshd.stock_config()
    assert "PermitUserEnvironment" not in stock.replace("#PermitUserEnvironment", "")
    for host in lab.hosts:
        config = (host_dir(host.name) / "sshd_config").read_text()
        own, _, rest = config.partition("\n\n")
        assert rest == stock
        assert [line.split()[0] for line in own.splitlines()[1:]] == ["ListenAddress", "HostKey", "PidFile"]
        assert not (Path(host.home) / ".ssh" / "environment").exists()
        env = host.ssh(["env"]).stdout
        for name in ("DOCKER_HOST", "CONTAINER_HOST", "CONTAINER_ENGINE", "XDG_RUNTIME_DIR", "CONTAINERD_ADDRESS"):
            assert f"\n{name}=" not in f"\n{env}", (host.name, name)
        path = next(line for line in env.splitlines() if line.startswith("PATH="))
        # sshd's default PATH, with the venv first (from ~/.bashrc, as the quick start says).
        assert path == f"PATH={VENV_DIR}/bin:/usr/local/bin:/usr/bin:/bin:/usr/games", path


def test_hosts_reach_each_other_by_name_over_ssh(lab):
    first, second = lab.hosts[0], lab.hosts[1]
    assert first.ssh(["ssh", "-o", "BatchMode=yes", second.name, "hostname"]).stdout.strip() == second.name


def test_u7s_from_the_checkout_is_on_every_users_path(lab):
    for host in lab.hosts:
        path = host.ssh(["sh", "-c", "command -v u7s"]).stdout.strip()
        assert path == "/opt/u7s-lab/venv/bin/u7s"
        host.ssh(["u7s", "--help"])


def test_a_host_can_be_made_unreachable_and_back_while_its_engine_runs(lab):
    host = lab.hosts[2]
    lab.stop_sshd(host)
    try:
        assert host.ssh(["true"], check=False, timeout=30).returncode == 255
        assert check_info(json.loads(host.docker(["info", "--format", "{{json .}}"]).stdout)) == []
    finally:
        lab.start_sshd(host)
    assert host.ssh(["hostname"]).stdout.strip() == host.name


def test_ssh_refuses_an_unknown_host_key(lab_host, tmp_path):
    wrong = tmp_path / "known_hosts"
    other_key = "AAAAC3NzaC1lZDI1NTE5AAAAIK4Lm8wx0zTF7CR4TnH8GPhLqZTWpL0mnYcbeJN9Lz1c"
    wrong.write_text(f"{lab_host.address} ssh-ed25519 {other_key}\n")
    argv = [a.replace(lab_host.known_hosts, str(wrong)) for a in lab_host.ssh_argv()]
    result = subprocess.run([*argv, "true"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 255
    assert "host key" in result.stderr.lower()


@pytest.fixture
def node(lab, lab_host):
    name = "u7s-lab-test-node"
    lab_host.docker(["rm", "-f", name], check=False)
    lab_host.docker(["run", "-d", "--privileged", "--name", name, "-e", f"HOST_IP={lab_host.address}", lab.node_image])
    yield name
    lab_host.docker(["rm", "-f", name], check=False)


def test_node_container_boots_systemd_with_containerd(lab_host, node):
    def booted():
        state = lab_host.docker(["exec", node, "systemctl", "is-system-running"], check=False).stdout.strip()
        return state if state in ("running", "degraded") else None

    wait_for(booted, "systemd in the node container", timeout=90)
    assert lab_host.docker(["exec", node, "systemctl", "is-active", "containerd"]).stdout.strip() == "active"
    # The node's files sit where the real node image has them.
    files = ["/usr/local/bin/u7s-entrypoint", "/etc/udev/rules.d/90-u7s-flannel.rules", "/flannel/Chart.yaml"]
    lab_host.docker(["exec", node, "ls", *files])
    kubelet_defaults = lab_host.docker(["exec", node, "cat", "/etc/default/kubelet"]).stdout
    assert f"usernetes/host-ip={lab_host.address}" in kubelet_defaults


def test_node_processes_run_as_the_hosts_unprivileged_user(lab_host, node):
    def containerd_active():
        r = lab_host.docker(["exec", node, "systemctl", "is-active", "containerd"], check=False)
        return r.stdout.strip() == "active"

    wait_for(containerd_active, "containerd in the node", timeout=90)
    # Namespace inodes are global: find the node's init (pid 1 in its own pid
    # namespace) from the root namespace without trusting any engine-reported pid.
    inside = lab_host.docker(["exec", node, "readlink", "/proc/1/ns/pid"]).stdout.strip()
    init_pid = find_pid_one_of_namespace(inside)
    assert os.readlink(f"/proc/{init_pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    status = proc_status(init_pid)
    assert status is not None
    assert int(status["Uid"].split()[0]) == lab_host.uid  # root in the node is the host's user outside
    user = subprocess.run(["ps", "-o", "user=", "-p", str(init_pid)], capture_output=True, text=True).stdout.strip()
    assert user == lab_host.ssh_user
    # No process of the node runs as real root on the machine. Short-lived
    # processes may end between listing and reading; those are not counted.
    seen = 0
    for pid in pids_in_pid_namespace(inside):
        status = proc_status(pid)
        if status is not None:
            seen += 1
            assert int(status["Uid"].split()[0]) != 0, pid
    assert seen >= 2  # at least init and containerd


def find_pid_one_of_namespace(ns_link: str) -> int:
    for pid in pids_in_pid_namespace(ns_link):
        status = proc_status(pid)
        if status is not None and status["NSpid"].split()[-1] == "1":
            return pid
    raise AssertionError(f"no process is pid 1 of {ns_link}")


def pids_in_pid_namespace(ns_link: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "ns" / "pid") == ns_link:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def proc_status(pid: int) -> dict[str, str] | None:
    """The fields of /proc/PID/status, or None when the process has already ended."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return {k: v.strip() for k, v in (line.split(":", 1) for line in text.splitlines() if ":" in line)}


@pytest.fixture
def listener(lab):
    """A container on the second host publishing TCP 18080 and UDP 18081, answering with fixed words."""
    host = lab.hosts[1]
    name = "u7s-lab-test-listener"
    script = (
        "socat TCP-LISTEN:8080,fork,reuseaddr SYSTEM:'echo tcp-pong' & "
        "exec socat UDP-RECVFROM:8081,fork SYSTEM:'echo udp-pong'"
    )
    host.docker(["rm", "-f", name], check=False)
    host.docker(["run", "-d", "--name", name, "-p", "18080:8080/tcp", "-p", "18081:8081/udp",
                 "--entrypoint", "sh", lab.node_image, "-c", script])
    yield host
    host.docker(["rm", "-f", name], check=False)


def test_a_container_on_one_host_reaches_anothers_published_tcp_and_udp_ports(lab, listener):
    client = lab.hosts[0]
    target = listener.address

    def ask(proto, port):
        cmd = f"echo ping | socat -T2 - {proto}:{target}:{port}"
        out = client.docker(["run", "--rm", "--entrypoint", "sh", lab.node_image, "-c", cmd], check=False)
        return out.stdout.strip()

    assert wait_for(lambda: ask("TCP", 18080) == "tcp-pong", "TCP from h1's container to h2")
    assert wait_for(lambda: ask("UDP", 18081) == "udp-pong", "UDP from h1's container to h2")


def test_published_ports_listen_on_their_hosts_address_only(lab, listener):
    probe = "import socket,sys; socket.create_connection((sys.argv[1], 18080), timeout=2).close()"
    reach = lambda host, address: host.in_netns(["python3", "-c", probe, address], check=False).returncode == 0  # noqa: E731
    assert wait_for(lambda: reach(lab.hosts[0], listener.address), "h2's port from h1's namespace")
    assert not reach(lab.hosts[2], lab.hosts[0].address)  # h1 publishes nothing


@pytest.fixture
def vxlan_pair(lab):
    """Node containers on two hosts, each publishing UDP 8472, joined by a VXLAN device as flannel sets it up."""
    a, b = lab.hosts[0], lab.hosts[1]
    name = "u7s-lab-test-vxlan"
    peers = {a.name: ("02:75:00:00:00:0a", "169.254.250.1"), b.name: ("02:75:00:00:00:0b", "169.254.250.2")}
    for host in (a, b):
        host.docker(["rm", "-f", name], check=False)
        host.docker(["run", "-d", "--privileged", "--name", name, "-p", "8472:8472/udp",
                     "-e", f"HOST_IP={host.address}", lab.node_image])
    for host, peer in ((a, b), (b, a)):
        (mac, ip), (peer_mac, peer_ip) = peers[host.name], peers[peer.name]
        for argv in (
            ["ip", "link", "add", "vx0", "address", mac, "type", "vxlan", "id", "1", "dstport", "8472",
             "nolearning", "dev", "eth0"],
            ["ip", "addr", "add", f"{ip}/24", "dev", "vx0"],
            ["ip", "link", "set", "vx0", "up"],
            ["ethtool", "-K", "vx0", "tx-checksum-ip-generic", "off"],
            ["ip", "neigh", "add", peer_ip, "lladdr", peer_mac, "dev", "vx0", "nud", "permanent"],
            ["bridge", "fdb", "append", peer_mac, "dev", "vx0", "dst", peer.address],
        ):
            wait_for(lambda: host.docker(["exec", name, *argv], check=False).returncode == 0, " ".join(argv), 30)
        host.docker(["exec", "-d", name, "socat", f"UDP-RECVFROM:9999,bind={ip},fork", f"SYSTEM:echo from-{host.name}"])
    yield name, a, b, {h: ip for h, (_, ip) in peers.items()}
    for host in (a, b):
        host.docker(["rm", "-f", name], check=False)


def test_vxlan_between_nodes_on_two_hosts_carries_traffic_both_ways(vxlan_pair):
    name, a, b, overlay = vxlan_pair
    for source, target in ((a, b), (b, a)):
        ask = ["sh", "-c", f"echo ping | socat -T2 - UDP:{overlay[target.name]}:9999"]
        answer = lambda: source.docker(["exec", name, *ask], check=False).stdout.strip()  # noqa: E731
        assert wait_for(lambda: answer() == f"from-{target.name}", f"{source.name} -> {target.name} over VXLAN")


@pytest.mark.extended  # 37 s; every lab session's own teardown runs by default
def test_down_leaves_nothing_and_removes_strays_of_crashed_labs(lab_session):
    # Stand-ins for what a crashed run could leave: a namespace and a user named like the lab's.
    subprocess.run(["ip", "netns", "add", "u7slab-h9"], check=True)
    subprocess.run(["useradd", "--no-create-home", "u7slab9"], check=True)
    left = lab_session.cycle()  # down, then an identical lab up again for the tests after this one
    assert left == []
    lab = lab_session.get()
    assert lab.hosts[0].ssh(["hostname"]).stdout.strip() == "h1"


def test_the_command_line_shows_the_running_lab_as_json(lab):
    result = subprocess.run([sys.executable, "-m", "tests.lab", "show"], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).parents[2])
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown == lab.to_json()
    assert set(shown) == {"hosts", "node_image", "bridge_address"}
    assert set(shown["hosts"][0]) == {"name", "address", "ssh_user", "ssh_port", "key", "known_hosts", "uid", "home",
                                      "netns", "engine_socket"}
