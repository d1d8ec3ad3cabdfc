"""Renderers: golden files for the compose file and kubeadm configuration, then the reference's facts.

Regenerate the goldens after an intended template change with
`U7S_UPDATE_GOLDEN=1 python3 -m pytest tests/unit/render/test_render.py`, and review the diff.
"""

import json
import os
import shlex
import subprocess

import pytest
import yaml

from u7s.render import templates
from u7s.errors import U7sError
from tests.unit.u7s_fakes import GOLDEN, make_settings

CUSTOM_PORTS = dict(PORT_KUBE_APISERVER=8080, PORT_FLANNEL=9072, PORT_KUBELET=20250, PORT_ETCD=9090)
NODE_IMAGE = "ghcr.io/example/u7s-node:v1.35.0"

CASES = {
    "default": {},
    "custom-ports": CUSTOM_PORTS,
    "node-image": {"NODE_IMAGE": NODE_IMAGE},
    "custom-ports-node-image": {**CUSTOM_PORTS, "NODE_IMAGE": NODE_IMAGE},
    "nerdctl": {"CONTAINER_ENGINE": "nerdctl", "BYPASS4NETNS": "true"},
    "node-mtu": {"NODE_MTU": 1460},  # a GCP host: the node network's MTU option
}


def settings(case):
    return make_settings(**CASES[case])


def assert_golden(name, text):
    path = GOLDEN / name
    if os.environ.get("U7S_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; create it with U7S_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs from its golden file (U7S_UPDATE_GOLDEN=1 to accept)"


# -- golden files --------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_compose_file_golden(case):
    assert_golden(f"compose-{case}.yaml", templates.compose_file(settings(case)))


@pytest.mark.parametrize("case", ["default", "custom-ports"])
def test_kubeadm_config_golden(case):
    assert_golden(f"kubeadm-{case}.yaml", templates.kubeadm_config(settings(case)))


def test_join_script_golden():
    argv = ["kubeadm", "join", "u7s-host1:6443", "--token", "abcdef.0123456789abcdef",
            "--discovery-token-ca-cert-hash", "sha256:" + "0" * 64]
    assert_golden("join-command.sh", templates.join_script("192.0.2.10", "u7s-host1", argv))


def test_kubeadm_config_does_not_depend_on_the_engine_or_image():
    default = templates.kubeadm_config(settings("default"))
    assert templates.kubeadm_config(settings("node-image")) == default
    assert templates.kubeadm_config(settings("nerdctl")) == default


# -- the compose file, parsed --------------------------------------------------------------
def node_service(case):
    doc = yaml.safe_load(templates.compose_file(settings(case)))
    assert list(doc["services"]) == ["node"]
    return doc, doc["services"]["node"]


@pytest.mark.parametrize("case, ports", [
    ("default", {"tcp": [2379, 6443, 10250], "udp": [8472]}),
    ("custom-ports", {"tcp": [9090, 8080, 20250], "udp": [9072]}),
])
def test_ports_are_published_on_the_same_number(case, ports):
    _, node = node_service(case)
    published = {"tcp": [], "udp": []}
    for spec in node["ports"]:
        mapping, proto = spec.split("/")
        host, container = mapping.split(":")
        assert host == container
        published[proto].append(int(host))
    assert published == ports


def test_node_service_matches_the_reference():
    s = settings("default")
    doc, node = node_service("default")
    assert node["hostname"] == "u7s-host1"
    assert node["container_name"] == "u7s-node"
    assert node["privileged"] is True and node["restart"] == "always"
    assert node["build"] == {"context": "./node", "args": {"BASE_IMAGE": s.node_base_image}}
    assert "image" not in node
    assert node["volumes"] == [
        "/home/user/.local/share/u7s/u7s:/usernetes:ro",
        "/boot:/boot:ro",
        "/lib/modules:/lib/modules:ro",
        "u7s-var:/var",
        "u7s-opt:/opt",
        "u7s-etc:/etc",
        "/home/user/.local/share/u7s/u7s/storage:/var/local-path-provisioner",  # U7S_STORAGE_DIR (u7s's own)
    ]
    assert doc["volumes"] == {v: {"name": v} for v in ("u7s-var", "u7s-opt", "u7s-etc")}
    assert node["tmpfs"] == ["/run", "/tmp"]
    assert node["working_dir"] == "/usernetes"
    assert node["environment"] == {"KUBECONFIG": "/etc/kubernetes/admin.conf", "HOST_IP": "192.0.2.10"}
    assert node["sysctls"] == ["net.ipv4.ip_forward=1"]
    assert node["networks"] == {"default": {"ipv4_address": "10.100.224.100"}}
    assert doc["networks"] == {"default": {"name": "u7s", "ipam": {"config": [{"subnet": "10.100.224.0/24"}]}}}
    assert "annotations" not in node


def test_node_image_replaces_the_build():
    _, node = node_service("node-image")
    assert node["image"] == NODE_IMAGE and "build" not in node


def test_multi_node_names_network_and_volumes_after_the_host():
    doc = yaml.safe_load(templates.compose_file(make_settings(U7S_MULTI_NODE="true")))
    assert doc["networks"]["default"]["name"] == "u7s-host1"
    assert "u7s-host1-var:/var" in doc["services"]["node"]["volumes"]


def test_nerdctl_gets_the_bypass4netns_annotations():
    _, node = node_service("nerdctl")
    annotations = node["annotations"]
    assert annotations["nerdctl/bypass4netns"] == "true"
    assert annotations["nerdctl/bypass4netns-ignore-bind"] == "true"
    assert json.loads(annotations["nerdctl/bypass4netns-ignore-subnets"]) == [
        "10.96.0.0/16", "10.244.0.0/16", "10.100.224.0/24",
    ]


def test_nerdctl_without_bypass4netnsd_says_false():
    node = yaml.safe_load(templates.compose_file(make_settings(CONTAINER_ENGINE="nerdctl")))["services"]["node"]
    assert node["annotations"]["nerdctl/bypass4netns"] == "false"


def test_values_that_look_like_yaml_stay_strings():
    # a hostname of "yes" or "1e3" must not turn into a boolean or a number
    doc = yaml.safe_load(templates.compose_file(make_settings(NODE_NAME="1e3", HOSTNAME="yes")))
    assert doc["services"]["node"]["hostname"] == "1e3"


# -- kubeadm configuration, parsed ---------------------------------------------------------
def kubeadm_docs(case):
    docs = list(yaml.safe_load_all(templates.kubeadm_config(settings(case))))
    return {doc["kind"]: doc for doc in docs}, [(d["apiVersion"], d["kind"]) for d in docs]


def args(extra):
    return {item["name"]: item["value"] for item in extra}


def test_kubeadm_kinds_and_api_versions():
    _, kinds = kubeadm_docs("default")
    assert kinds == [
        ("kubeadm.k8s.io/v1beta4", "InitConfiguration"),
        ("kubeadm.k8s.io/v1beta4", "ClusterConfiguration"),
        ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration"),
        ("kubeproxy.config.k8s.io/v1alpha1", "KubeProxyConfiguration"),
    ]


@pytest.mark.parametrize("case, api, etcd, kubelet", [
    ("default", 6443, 2379, 10250),
    ("custom-ports", 8080, 9090, 20250),
])
def test_kubeadm_fields_follow_the_reference(case, api, etcd, kubelet):
    docs, _ = kubeadm_docs(case)
    init, cluster = docs["InitConfiguration"], docs["ClusterConfiguration"]
    assert init["localAPIEndpoint"] == {"bindPort": api}
    assert cluster["controlPlaneEndpoint"] == f"u7s-host1:{api}"
    assert cluster["apiServer"]["certSANs"] == ["localhost", "127.0.0.1", "u7s-host1", "192.0.2.10"]
    assert args(cluster["apiServer"]["extraArgs"]) == {
        "etcd-servers": f"https://127.0.0.1:{etcd}",
        "advertise-address": "192.0.2.10",
        "secure-port": str(api),
        "kubelet-preferred-address-types": "ExternalIP",
    }
    assert args(cluster["controllerManager"]["extraArgs"]) == {"cloud-provider": "external"}
    assert cluster["networking"] == {"serviceSubnet": "10.96.0.0/16", "podSubnet": "10.244.0.0/16"}
    assert args(cluster["etcd"]["local"]["extraArgs"]) == {
        "listen-client-urls": f"https://127.0.0.1:{etcd},https://10.100.224.100:{etcd}",
        "advertise-client-urls": f"https://10.100.224.100:{etcd}",
    }
    kubelet_config = docs["KubeletConfiguration"]
    assert kubelet_config["failSwapOn"] is False
    assert kubelet_config["port"] == kubelet
    assert kubelet_config["featureGates"] == {"KubeletInUserNamespace": True}
    proxy = docs["KubeProxyConfiguration"]
    assert proxy["mode"] == "iptables"
    assert proxy["conntrack"] == {"maxPerCore": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"}


# -- the join script -----------------------------------------------------------------------
NASTY_NAME = "u7s-cp; touch /tmp/u7s-pwned $(id) `id` 'q\" \\n"
JOIN_ARGV = ["kubeadm", "join", "u7s-host1:6443", "--token", "abcdef.0123456789abcdef",
             "--discovery-token-ca-cert-hash", "sha256:" + "a" * 64]


def script_lines(script):
    return [line for line in script.splitlines() if line and not line.startswith("#")]


def test_join_script_quotes_every_value():
    script = templates.join_script("192.0.2.10", NASTY_NAME, JOIN_ARGV + ["--node-name", "a b;c"])
    printf = next(line for line in script_lines(script) if line.startswith("printf"))
    assert printf.endswith(" >/etc/hosts.u7s")
    assert shlex.split(printf.removesuffix(" >/etc/hosts.u7s")) == ["printf", "%s  %s\\n", "192.0.2.10", NASTY_NAME]
    exec_line = next(line for line in script_lines(script) if line.startswith("exec "))
    assert shlex.split(exec_line)[1:] == JOIN_ARGV + ["--node-name", "a b;c"]


def test_join_script_is_valid_bash_and_prints_names_literally(tmp_path):
    script = templates.join_script("192.0.2.10", NASTY_NAME, JOIN_ARGV)
    path = tmp_path / "join-command"
    path.write_text(script)
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    # Run only the printf line, without its redirection: bash must print the name as given.
    printf = next(line for line in script_lines(script) if line.startswith("printf"))
    out = subprocess.run(["bash", "-c", printf.removesuffix(" >/etc/hosts.u7s")],
                         capture_output=True, text=True, check=True).stdout
    assert out == f"192.0.2.10  {NASTY_NAME}\n"
    assert not (tmp_path / "u7s-pwned").exists()


def test_join_script_is_strict_bash():
    script = templates.join_script("192.0.2.10", "u7s-host1", JOIN_ARGV)
    assert script.startswith("#!/bin/bash\n")
    assert "set -eu -o pipefail" in script_lines(script)


# -- errors --------------------------------------------------------------------------------
def test_a_missing_value_names_the_template():
    with pytest.raises(U7sError, match=r"template docker-compose.yaml.j2: 'node_name' is undefined"):
        templates.render("docker-compose.yaml.j2")


def test_a_missing_value_in_the_join_script_names_it():
    with pytest.raises(U7sError, match=r"template join-command.sh.j2: 'cp_node_name' is undefined"):
        templates.render("join-command.sh.j2", cp_host_ip="192.0.2.10", join_argv=["kubeadm"])


def test_settings_data_covers_every_name_the_templates_use():
    import jinja2.meta

    env = templates._environment()
    data = templates.settings_data(settings("default"))
    for name in ("docker-compose.yaml.j2", "kubeadm-config.yaml.j2"):
        source = env.loader.get_source(env, name)[0]
        assert jinja2.meta.find_undeclared_variables(env.parse(source)) <= set(data), name
