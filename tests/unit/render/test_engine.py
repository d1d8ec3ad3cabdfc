"""Engine and compose argument lists, per engine. Pure: nothing runs."""

import pytest

from u7s.render import engine
from tests.unit.u7s_fakes import FakeFacts, FakeHost, make_settings

WORKDIR = "/home/user/.local/share/u7s/u7s"
COMPOSE_FILE = f"{WORKDIR}/docker-compose.yaml"


def settings(kind, **flags):
    """docker, nerdctl, podman with podman-compose, or podman with `podman compose`."""
    if kind == "podman-compose":
        return make_settings(FakeFacts(commands=("podman", "podman-compose")), CONTAINER_ENGINE="podman", **flags)
    if kind == "podman":
        return make_settings(FakeFacts(commands=("podman",)), CONTAINER_ENGINE="podman", **flags)
    return make_settings(CONTAINER_ENGINE=kind, **flags)


COMPOSE_HEADS = {
    "docker": ["docker", "compose"],
    "nerdctl": ["nerdctl", "compose"],
    "podman-compose": ["podman-compose"],
    "podman": ["podman", "compose"],
}
ENGINES = {"docker": "docker", "nerdctl": "nerdctl", "podman-compose": "podman", "podman": "podman"}


@pytest.mark.parametrize("kind", COMPOSE_HEADS)
def test_compose_up_builds_unless_a_node_image_is_given(kind):
    head = [*COMPOSE_HEADS[kind], "-f", COMPOSE_FILE, "-p", "u7s"]
    assert engine.compose_up(settings(kind)) == [*head, "up", "-d", "--build"]
    assert engine.compose_up(settings(kind, NODE_IMAGE="example/node:1")) == [*head, "up", "-d"]


@pytest.mark.parametrize("kind", COMPOSE_HEADS)
def test_compose_down_keeps_volumes_unless_asked(kind):
    head = [*COMPOSE_HEADS[kind], "-f", COMPOSE_FILE, "-p", "u7s"]
    assert engine.compose_down(settings(kind)) == [*head, "down"]
    assert engine.compose_down(settings(kind), volumes=True) == [*head, "down", "-v"]


def test_compose_uses_the_multi_node_project():
    s = make_settings(U7S_MULTI_NODE="true")
    assert engine.compose(s, "config") == [
        "docker", "compose", "-f", "/home/user/.local/share/u7s/u7s-host1/docker-compose.yaml",
        "-p", "u7s-host1", "config",
    ]


@pytest.mark.parametrize("kind", COMPOSE_HEADS)
def test_node_exec_passes_the_reference_env_as_separate_arguments(kind):
    s = settings(kind)
    argv = engine.node_exec(s, ["kubectl", "get", "nodes"])
    assert argv[:3] == [ENGINES[kind], "exec", "-i"]
    assert argv[-4:] == ["u7s-node", "kubectl", "get", "nodes"]
    flags = argv[3:-4]
    assert flags[0::2] == ["-e"] * 8
    assert dict(item.split("=", 1) for item in flags[1::2]) == {
        "HOST_IP": "192.0.2.10", "NODE_NAME": "u7s-host1", "NODE_SUBNET": "10.100.224.0/24",
        "NODE_IP": "10.100.224.100", "PORT_ETCD": "2379", "PORT_KUBELET": "10250",
        "PORT_FLANNEL": "8472", "PORT_KUBE_APISERVER": "6443",
    }


def test_node_exec_options():
    s = make_settings()
    assert engine.node_exec(s, ["bash"], env=False, stdin=False) == ["docker", "exec", "u7s-node", "bash"]
    assert engine.node_exec(s, ["bash"], env=False, tty=True) == ["docker", "exec", "-i", "-t", "u7s-node", "bash"]


def test_node_exec_values_are_never_shell_text():
    # A value full of shell syntax arrives as one argument after the host's quoting.
    s = make_settings(NODE_NAME="u7s-x", HOST_IP="192.0.2.10")
    host = FakeHost().on("docker", "exec", stdout="ok")
    weird = "a b; $(id) `id` 'q\""
    host.run(engine.node_exec(s, ["echo", weird]))
    assert host.calls[-1][-2:] == ["echo", weird]
    assert "-e" in host.calls[-1] and "HOST_IP=192.0.2.10" in host.calls[-1]


@pytest.mark.parametrize("kind", ENGINES)
def test_inspect_and_cp(kind):
    s = settings(kind)
    name = ENGINES[kind]
    assert engine.inspect_state(s) == [name, "inspect", "--type", "container", "--format", "{{json .State}}", "u7s-node"]
    assert engine.copy_from_node(s, "/usr/bin/kubectl", "/tmp/kubectl") == [
        name, "cp", "u7s-node:/usr/bin/kubectl", "/tmp/kubectl",
    ]
    assert engine.engine_info(s) == [name, "info", "--format", "{{json .}}"]


def test_volume_names_follow_the_project():
    assert engine.volume_names(make_settings(U7S_PROJECT="lab")) == {
        "/var": "lab-var", "/opt": "lab-opt", "/etc": "lab-etc",
    }
    assert engine.container_name(make_settings(U7S_PROJECT="lab")) == "lab-node"


SOCKET = "unix:///run/user/1000/docker.sock"


def test_a_rootless_docker_found_by_its_socket_alone_is_addressed_in_every_command():
    """No DOCKER_HOST and no CLI context on the host: the docker CLI would ask /var/run/docker.sock."""
    s = make_settings(FakeFacts(running=("docker", "running rootless docker (/run/user/1000/docker.sock)"),
                                address=SOCKET))
    assert s.engine_host == SOCKET
    assert s.sources["U7S_ENGINE_HOST"].startswith("detected: ")
    head = ["env", f"DOCKER_HOST={SOCKET}"]
    assert engine.engine_info(s) == [*head, "docker", "info", "--format", "{{json .}}"]
    assert engine.node_exec(s, ["true"], env=False)[:4] == [*head, "docker", "exec"]
    assert engine.compose_up(s)[:5] == [*head, "docker", "compose", "-f"]
    assert engine.compose_down(s, volumes=True)[-2:] == ["down", "-v"]


def test_no_address_where_the_cli_finds_the_engine_itself():
    assert make_settings().engine_host == ""  # detect-engine.sh gave no address: DOCKER_HOST or a context
    assert engine.engine_info(make_settings())[:2] == ["docker", "info"]
    podman = settings("podman-compose")  # Podman's CLI runs without a service
    assert podman.engine_host == "" and engine.compose_up(podman)[0] == "podman-compose"


def test_a_given_engine_host_wins_and_podman_gets_container_host():
    s = make_settings(FakeFacts(address=SOCKET), U7S_ENGINE_HOST="unix:///srv/d.sock")
    assert engine.engine_cmd(s, "ps") == ["env", "DOCKER_HOST=unix:///srv/d.sock", "docker", "ps"]
    podman = settings("podman-compose", U7S_ENGINE_HOST="unix:///run/user/1000/podman/podman.sock")
    assert engine.compose_up(podman)[:3] == ["env", "CONTAINER_HOST=unix:///run/user/1000/podman/podman.sock",
                                             "podman-compose"]


@pytest.mark.parametrize("bad", ["/run/user/1000/docker.sock", "unix://relative", "tcp://host", "-H x",
                                 "unix:///a b", "ssh://;rm@host"])
def test_a_bad_engine_host_is_refused_by_name(bad):
    from u7s.errors import SettingsError

    with pytest.raises(SettingsError, match=r"^U7S_ENGINE_HOST=.*not an engine address"):
        make_settings(U7S_ENGINE_HOST=bad)
