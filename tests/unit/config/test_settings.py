"""Settings: layering, the reference's derived values, engine detection, and every refusal."""

import pytest

from u7s.errors import SettingsError
from u7s.config.settings import DEFAULT_BASE_IMAGE, node_subnet_for, parse_assignments
from u7s.config.resolve import resolve
from tests.unit.u7s_fakes import FakeFacts, RefusingFacts, make_settings

ROUTE = {"HOST_IP": "detected: the default route's source (ip route get 1)"}


# -- layering ------------------------------------------------------------------------------
def test_defaults_follow_the_reference():
    s = make_settings()
    assert (s.container_engine, s.engine_type, s.compose) == ("docker", "docker", ("docker", "compose"))
    assert (s.hostname, s.host_ip, s.node_name) == ("host1", "192.0.2.10", "u7s-host1")
    assert s.ports == {"PORT_ETCD": 2379, "PORT_KUBELET": 10250, "PORT_FLANNEL": 8472, "PORT_KUBE_APISERVER": 6443}
    assert (s.project, s.network, s.multi_node) == ("u7s", "u7s", False)
    assert s.workdir == "/home/user/.local/share/u7s/u7s"
    assert s.node_image == "" and s.node_base_image == DEFAULT_BASE_IMAGE
    assert s.timeout == 300 and s.bypass4netns is False
    assert s.sources == {"CONTAINER_ENGINE": "detected: /usr/bin/dockerd-rootless.sh", **ROUTE,
                         "NODE_MTU": "detected: MTU of eth0, the interface with HOST_IP"}
    assert s.node_mtu == 1500


def test_each_layer_overrides_the_one_before_and_sources_say_which():
    s = resolve(
        FakeFacts(),
        config={"PORT_ETCD": 1001, "PORT_KUBELET": 1002, "PORT_FLANNEL": 1003},
        env={"PORT_ETCD": "2001", "PORT_KUBELET": "2002", "PATH": "/usr/bin"},
        flags={"PORT_ETCD": "3001"},
    )
    assert (s.port_etcd, s.port_kubelet, s.port_flannel, s.port_kube_apiserver) == (3001, 2002, 1003, 6443)
    assert s.sources == {"PORT_ETCD": "--set", "PORT_KUBELET": "environment", "PORT_FLANNEL": "config",
                         "CONTAINER_ENGINE": "detected: /usr/bin/dockerd-rootless.sh", **ROUTE,
                         "NODE_MTU": "detected: MTU of eth0, the interface with HOST_IP"}


def test_environment_variables_that_are_not_settings_are_ignored():
    s = resolve(FakeFacts(), env={"HOME": "/elsewhere", "NODE_EXTRA_CA_CERTS": "/x", "U7S_UNKNOWN": "1"})
    assert s.workdir == "/home/user/.local/share/u7s/u7s"
    assert s.sources == {"CONTAINER_ENGINE": "detected: /usr/bin/dockerd-rootless.sh", **ROUTE,
                         "NODE_MTU": "detected: MTU of eth0, the interface with HOST_IP"}
    assert s.node_mtu == 1500


def test_empty_values_mean_default():
    s = resolve(FakeFacts(), env={"PORT_ETCD": "", "NODE_NAME": ""})
    assert s.port_etcd == 2379 and s.node_name == "u7s-host1"


# -- derived values ------------------------------------------------------------------------
@pytest.mark.parametrize("hostname, subnet, node_ip", [
    ("host1", "10.100.224.0/24", "10.100.224.100"),
    ("node-a", "10.100.121.0/24", "10.100.121.100"),
])
def test_node_subnet_and_ip_follow_the_reference_formula(hostname, subnet, node_ip):
    assert node_subnet_for(hostname) == subnet
    s = make_settings(FakeFacts(hostname=hostname))
    assert (s.node_subnet, s.node_ip) == (subnet, node_ip)


def test_node_ip_follows_a_given_subnet():
    s = make_settings(NODE_SUBNET="10.100.7.0/24")
    assert s.node_ip == "10.100.7.100"


def test_node_env_is_what_the_reference_passes_into_the_node():
    s = make_settings(PORT_KUBE_APISERVER=8080)
    assert s.node_env() == {
        "HOST_IP": "192.0.2.10", "NODE_NAME": "u7s-host1", "NODE_SUBNET": "10.100.224.0/24",
        "NODE_IP": "10.100.224.100", "PORT_ETCD": "2379", "PORT_KUBELET": "10250",
        "PORT_FLANNEL": "8472", "PORT_KUBE_APISERVER": "8080",
    }


def test_multi_node_makes_project_and_network_unique_per_host():
    s = make_settings(U7S_MULTI_NODE="true")
    assert (s.project, s.network) == ("u7s-host1", "u7s-host1")
    assert s.workdir == "/home/user/.local/share/u7s/u7s-host1"


def test_an_explicit_network_name_wins_over_multi_node():
    s = make_settings(U7S_MULTI_NODE="yes", U7S_NETWORK="shared-net")
    assert (s.project, s.network) == ("u7s-host1", "shared-net")


# -- engine detection and compose ----------------------------------------------------------
@pytest.mark.parametrize("commands, engine", [
    (("dockerd-rootless.sh", "containerd-rootless.sh", "podman"), "docker"),
    (("containerd-rootless.sh", "podman"), "nerdctl"),
    (("podman",), "podman"),
])
def test_engine_detection_order(commands, engine):
    s = make_settings(FakeFacts(commands=commands))
    assert s.container_engine == engine and s.engine_type == engine


def test_a_running_engine_is_used_and_the_source_says_where_it_was_found():
    facts = FakeFacts(commands=("podman",), running=("docker", "running rootless docker (/run/user/1000/docker.sock)"))
    s = make_settings(facts)
    assert (s.container_engine, s.engine_type) == ("docker", "docker")
    assert s.sources["CONTAINER_ENGINE"] == "detected: running rootless docker (/run/user/1000/docker.sock)"
    assert s.as_table()["CONTAINER_ENGINE"] == "docker"


def test_a_given_engine_is_not_detected():
    facts = FakeFacts(running=("docker", "running rootless docker (/run/user/1000/docker.sock)"))
    s = resolve(facts, env={"CONTAINER_ENGINE": "podman"})
    assert s.container_engine == "podman" and s.sources["CONTAINER_ENGINE"] == "environment"
    assert "detected_engine" not in facts.asked


def test_no_engine_found_is_an_error_that_names_the_setting():
    with pytest.raises(SettingsError, match=r"CONTAINER_ENGINE: no container engine found.*set CONTAINER_ENGINE"):
        make_settings(FakeFacts(commands=()))


@pytest.mark.parametrize("engine, commands, compose", [
    ("docker", (), ("docker", "compose")),
    ("nerdctl", (), ("nerdctl", "compose")),
    ("podman", ("podman-compose",), ("podman-compose",)),
    ("podman", (), ("podman", "compose")),
    ("/opt/bin/podman", (), ("/opt/bin/podman", "compose")),
])
def test_compose_default_per_engine(engine, commands, compose):
    s = make_settings(FakeFacts(commands=commands), CONTAINER_ENGINE=engine)
    assert s.compose == compose


@pytest.mark.parametrize("commands, plugin, compose", [
    ((), False, ("docker", "compose")),  # nothing better to offer: preflight says what is missing
    (("docker-compose",), True, ("docker", "compose")),  # the plugin wins
    (("docker-compose",), False, ("docker-compose",)),  # standalone Compose, e.g. u7s[compose]
])
def test_docker_without_the_compose_plugin_uses_a_standalone_compose(commands, plugin, compose):
    facts = FakeFacts(commands=commands, compose_plugin=plugin)
    s = make_settings(facts, CONTAINER_ENGINE="docker")
    assert s.compose == compose
    # The engine is only asked when there is a choice to make.
    assert ("compose_plugin:docker" in facts.asked) == ("docker-compose" in commands)


def test_compose_given_is_split_into_words():
    s = make_settings(COMPOSE="docker-compose --ansi never")
    assert s.compose == ("docker-compose", "--ansi", "never")


# -- bypass4netns --------------------------------------------------------------------------
@pytest.mark.parametrize("engine, socket, expected", [
    ("nerdctl", True, True),
    ("nerdctl", False, False),
    ("docker", True, False),
    ("podman", True, False),
])
def test_bypass4netns_default(engine, socket, expected):
    s = make_settings(FakeFacts(bypass4netnsd=socket), CONTAINER_ENGINE=engine)
    assert s.bypass4netns is expected


def test_bypass4netns_ignore_subnets_include_the_node_subnet():
    s = make_settings(CONTAINER_ENGINE="nerdctl")
    assert s.bypass4netns_ignore_subnets == ["10.96.0.0/16", "10.244.0.0/16", "10.100.224.0/24"]


def test_bypass4netns_set_for_docker_is_refused():
    with pytest.raises(SettingsError, match=r"BYPASS4NETNS=true \(from --set\): only nerdctl.*unset it"):
        make_settings(BYPASS4NETNS="true")


# -- facts are only looked up when needed --------------------------------------------------
def test_facts_are_not_consulted_when_values_are_given():
    given = dict(CONTAINER_ENGINE="nerdctl", HOSTNAME="host1", HOST_IP="192.0.2.10",
                 BYPASS4NETNS="false", U7S_WORKDIR="/srv/u7s", NODE_MTU="1500")
    s = make_settings(RefusingFacts(), **given)
    assert (s.container_engine, s.node_name, s.bypass4netns, s.workdir) == ("nerdctl", "u7s-host1", False, "/srv/u7s")


def test_podman_with_compose_given_does_not_look_for_podman_compose():
    s = make_settings(RefusingFacts(), CONTAINER_ENGINE="podman", COMPOSE="podman compose", HOSTNAME="h",
                      HOST_IP="192.0.2.1", U7S_WORKDIR="/w", NODE_MTU="1460")
    assert s.compose == ("podman", "compose")


def test_only_missing_values_are_looked_up():
    facts = FakeFacts()
    make_settings(facts, HOSTNAME="other")
    assert "hostname" not in facts.asked
    assert {"host_ip", "home", "detected_engine"} <= set(facts.asked)


# -- refusals: each names the variable and says how to fix it -------------------------------
@pytest.mark.parametrize("flags, fragments", [
    ({"PORT_ETCD": "99999"}, ["PORT_ETCD=99999", "out of range", "from 1 to 65535"]),
    ({"PORT_KUBELET": "0"}, ["PORT_KUBELET=0", "out of range", "from 1 to 65535"]),
    ({"PORT_FLANNEL": "eighty"}, ["PORT_FLANNEL=eighty", "not a port", "whole number"]),
    ({"PORT_KUBE_APISERVER": "64.43"}, ["PORT_KUBE_APISERVER=64.43", "not a port"]),
    ({"PORT_KUBELET": "2379"}, ["PORT_KUBELET=2379", "same port as PORT_ETCD", "its own number"]),
    ({"NODE_SUBNET": "10.100.0.0/16"}, ["NODE_SUBNET=10.100.0.0/16", "not an IPv4 /24", "NODE_SUBNET=10.100.7.0/24"]),
    ({"NODE_SUBNET": "10.100.7.5/24"}, ["NODE_SUBNET=10.100.7.5/24", "not an IPv4 /24"]),
    ({"NODE_SUBNET": "banana"}, ["NODE_SUBNET=banana", "not an IPv4 /24"]),
    ({"NODE_SUBNET": "fd00::/120"}, ["NODE_SUBNET=fd00::/120", "not an IPv4 /24"]),
    ({"NODE_IP": "10.100.5.100"}, ["NODE_IP=10.100.5.100", "outside NODE_SUBNET 10.100.224.0/24", "10.100.224.100"]),
    ({"NODE_IP": "10.100.224.1"}, ["NODE_IP=10.100.224.1", "gateway", "10.100.224.100"]),
    ({"NODE_IP": "10.100.224.255"}, ["NODE_IP=10.100.224.255", "broadcast"]),
    ({"NODE_IP": "not-an-ip"}, ["NODE_IP=not-an-ip", "not an IPv4 address", "inside 10.100.224.0/24"]),
    ({"CONTAINER_ENGINE": "rkt"}, ["CONTAINER_ENGINE=rkt", "is not docker, podman or nerdctl", "docker, podman or nerdctl"]),
    ({"NODE_NAME": "U7S-Host"}, ["NODE_NAME=U7S-Host (from --set)", "not a DNS name", "NODE_NAME=u7s-node1"]),
    ({"NODE_NAME": "u7s_host"}, ["NODE_NAME=u7s_host", "not a DNS name"]),
    ({"NODE_NAME": "u7s-h1..example"}, ["NODE_NAME=u7s-h1..example", "not a DNS name"]),
    ({"NODE_NAME": "u7s-" + "a" * 60}, ["not a DNS name", "at most 63 characters"]),
    ({"NODE_NAME": "n" * 64}, ["NODE_NAME=" + "n" * 40 + "...", "at most 63"]),
    ({"HOSTNAME": "Bad_Host"}, ["NODE_NAME=u7s-bad_host (derived from HOSTNAME)", "not a DNS name"]),
    ({"HOST_IP": "192.0.2.300"}, ["HOST_IP=192.0.2.300", "not an IPv4 address", "set HOST_IP"]),
    ({"HOST_IP": "host1.example"}, ["HOST_IP=host1.example", "not an IPv4 address"]),
    ({"U7S_MULTI_NODE": "maybe"}, ["U7S_MULTI_NODE=maybe", "not a boolean", "true or false"]),
    ({"BYPASS4NETNS": "2"}, ["BYPASS4NETNS=2", "not a boolean"]),
    ({"U7S_PROJECT": "My Project"}, ["U7S_PROJECT=My Project", "not a compose name"]),
    ({"U7S_WORKDIR": "relative/dir"}, ["U7S_WORKDIR=relative/dir", "absolute path"]),
    ({"U7S_TIMEOUT": "soon"}, ["U7S_TIMEOUT=soon", "not a number of seconds"]),
    ({"NODE_IMAGE": "two words"}, ["NODE_IMAGE=two words", "not an image reference"]),
    ({"COMPOSE": "docker 'compose"}, ["COMPOSE=docker 'compose", "fix its quoting"]),
])
def test_invalid_values_are_refused_with_the_variable_and_a_fix(flags, fragments):
    with pytest.raises(SettingsError) as caught:
        make_settings(**flags)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message
    assert ";" in message  # every problem is "what is wrong; how to fix it"


def test_a_hostname_from_the_host_is_checked_too():
    with pytest.raises(SettingsError, match=r"NODE_NAME=u7s-my_laptop \(derived from HOSTNAME\)"):
        make_settings(FakeFacts(hostname="My_Laptop"))


def test_a_bad_host_ip_from_the_host_is_reported_without_a_source():
    with pytest.raises(SettingsError, match=r"^HOST_IP: 'fe80::1' is not an IPv4 address"):
        make_settings(FakeFacts(host_ip="fe80::1"))


def test_every_problem_is_reported_at_once_one_per_line():
    with pytest.raises(SettingsError) as caught:
        make_settings(PORT_ETCD="x", HOST_IP="y", NODE_SUBNET="z")
    lines = str(caught.value).splitlines()
    assert [line.split("=")[0] for line in lines] == ["HOST_IP", "NODE_SUBNET", "PORT_ETCD"]


def test_the_source_of_a_bad_value_is_named():
    with pytest.raises(SettingsError, match=r"PORT_ETCD=abc \(from config\)"):
        resolve(FakeFacts(), config={"PORT_ETCD": "abc"})
    with pytest.raises(SettingsError, match=r"PORT_ETCD=abc \(from environment\)"):
        resolve(FakeFacts(), env={"PORT_ETCD": "abc"})


def test_a_yaml_boolean_is_not_a_port():
    with pytest.raises(SettingsError, match="PORT_ETCD=True"):
        resolve(FakeFacts(), config={"PORT_ETCD": True})


def test_unknown_config_key_is_refused():
    with pytest.raises(SettingsError, match=r"config u7s.PORT_ECTD: unknown setting; known: CONTAINER_ENGINE"):
        resolve(FakeFacts(), config={"PORT_ECTD": 1})


def test_unknown_flag_key_is_refused():
    with pytest.raises(SettingsError, match=r"--set NODENAME: unknown setting"):
        resolve(FakeFacts(), flags={"NODENAME": "x"})


# -- --set parsing -------------------------------------------------------------------------
def test_parse_assignments_keeps_everything_after_the_first_equals():
    assert parse_assignments(["PORT_ETCD=12379", "COMPOSE=a=b c", "NODE_IMAGE="]) == {
        "PORT_ETCD": "12379", "COMPOSE": "a=b c", "NODE_IMAGE": "",
    }


def test_parse_assignments_refuses_an_item_without_equals():
    with pytest.raises(SettingsError, match=r"--set 'PORT_ETCD': expected KEY=VALUE"):
        parse_assignments(["PORT_ETCD"])


def test_parse_assignments_refuses_an_unknown_key():
    with pytest.raises(SettingsError, match=r"--set PORT_ECTD: unknown setting"):
        parse_assignments(["PORT_ECTD=1"])


def test_as_table_lists_every_setting_by_its_variable_name():
    table = make_settings(COMPOSE="podman compose", CONTAINER_ENGINE="podman").as_table()
    assert table["COMPOSE"] == "podman compose"
    assert table["NODE_SUBNET"] == "10.100.224.0/24" and table["PORT_FLANNEL"] == "8472"
    assert table["BYPASS4NETNS"] == "false" and table["U7S_MULTI_NODE"] == "false"


def test_an_fqdn_hostname_makes_a_valid_node_name_as_the_kubelet_would():
    """Kubernetes node names are DNS subdomains: u7s-h1.example.com is one (upstream's own example)."""
    s = make_settings(FakeFacts(hostname="H1.Example.COM."))
    assert s.hostname == "H1.Example.COM."
    assert s.node_name == "u7s-h1.example.com"
    assert make_settings(NODE_NAME="u7s-node1.lab.example").node_name == "u7s-node1.lab.example"
