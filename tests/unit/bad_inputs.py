"""A corpus of bad inventories and settings, as a careless or hostile user would write them.

Each case is run through the real `u7s` command line (tests/unit/test_bad_input_corpus.py):
it must be refused with exit status 1, quickly, in little memory, with a line
naming the file, host and key, and without any connection to the hosts it names.
The hosts live on 127.0.0.2-4 at PORT, where the test listens for connections.

A case: (id, class, inventory text or None, extra argv, environment, fragments the
message line must contain). `@PORT@` in an inventory is the listener's port.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SSH = "ssh: {user: alice, port: @PORT@, connect_timeout: 2}"
HOSTS = [
    "  - {name: cp, address: 127.0.0.2, role: control-plane}",
    "  - {name: w1, address: 127.0.0.3}",
    "  - {name: w2, address: 127.0.0.4}",
]


def text(*, ssh: str = SSH, top: str = "", w1: str = "", hosts: list[str] | None = None, extra_host: str = "",
         settings: str = "") -> str:
    """The good inventory, with one part changed."""
    lines = ["cluster: {name: corpus}", ssh, "settings: {CONTAINER_ENGINE: docker" + settings + "}"]
    if top:
        lines.append(top)
    lines.append("hosts:")
    body = list(hosts or HOSTS)
    if w1:
        body[1] = "  - {name: w1, address: 127.0.0.3, " + w1 + "}"
    if extra_host:
        body.append("  - {" + extra_host + "}")
    lines += body
    return "\n".join(lines) + "\n"


GOOD = text()


def w1_setting(item: str) -> str:
    return text(w1="settings: {" + item + "}")


def ssh_with(item: str) -> str:
    return text(ssh="ssh: {user: alice, port: @PORT@, " + item + "}")


LAUGHS = "\n".join(
    ["cluster: {name: corpus}", "a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
       f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]"
       for i in range(8)]
    + ["hosts: [{name: cp, address: 127.0.0.2, role: *i}]"]) + "\n"


@dataclass
class Case:
    id: str
    kind: str
    inventory: str | None
    expect: list[str]
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # an inventory that is not text


I = "hosts.yaml: "  # every inventory line starts with the file's name
W1 = I + "hosts[1] (w1)."

CASES = [
    # -- pathological YAML ------------------------------------------------------------------
    Case("alias-bomb", "yaml", LAUGHS, [I, "line", "expands to more than"]),
    Case("long-string", "yaml", text(w1="settings: {NODE_IMAGE: " + "a" * 100_000 + "}"),
         [I, "line 6", "a value of 100000 characters"]),
    Case("deep-nesting", "yaml", text(top="settings2: " + "[" * 200 + "]" * 200), [I, "nested more than"]),
    Case("duplicate-top-key", "yaml", GOOD + "hosts: []\n", [I, "line 8", "key 'hosts' given twice (first on line 4)"]),
    Case("duplicate-host-key", "yaml", text(w1="address: 127.0.0.9"), [I, "line 6", "key 'address' given twice"]),
    Case("duplicate-setting", "yaml", text(w1="settings: {PORT_ETCD: 1, PORT_ETCD: 2}"), [I, "key 'PORT_ETCD' given twice"]),
    Case("python-tag", "yaml", text(w1="settings: {NODE_IMAGE: !!python/object/apply:os.system [id]}"),
         [I, "tag 'tag:yaml.org,2002:python/object", "is not allowed"]),
    Case("set-tag", "yaml", text(w1="settings: {NODE_IMAGE: !!set {a: null}}"), [I, "is not allowed"]),
    Case("binary-tag", "yaml", text(w1="settings: {NODE_IMAGE: !!binary aGVsbG8=}"), [I, "is not allowed"]),
    Case("local-tag", "yaml", text(w1="settings: {NODE_IMAGE: !env HOME}"), [I, "tag '!env' is not allowed"]),
    Case("too-large", "yaml", GOOD + "#" * 300_000 + "\n", [I, "larger than 256 KiB"]),
    Case("not-utf8", "yaml", None, [I, "not UTF-8"], raw=b"hosts: [\xff\xfe]\n"),
    Case("broken-syntax", "yaml", "hosts: [\n", [I, "not valid YAML"]),
    Case("undefined-alias", "yaml", text(w1="settings: {NODE_IMAGE: *nope}"), [I, "not valid YAML", "nope"]),
    Case("unhashable-key", "yaml", "{[a]: 1}\n", [I, "not valid YAML"]),
    # -- numbers ----------------------------------------------------------------------------------
    Case("timeout-nan", "numbers", ssh_with("connect_timeout: .nan"), [I, "ssh.connect_timeout", "nan"]),
    Case("timeout-inf", "numbers", ssh_with("connect_timeout: .inf"), [I, "ssh.connect_timeout", "inf"]),
    Case("timeout-fraction", "numbers", ssh_with("connect_timeout: 0.5"), [I, "ssh.connect_timeout", "whole number"]),
    Case("timeout-bool", "numbers", ssh_with("connect_timeout: true"), [I, "ssh.connect_timeout", "True"]),
    Case("timeout-huge", "numbers", ssh_with("connect_timeout: 1e400"), [I, "ssh.connect_timeout"]),
    Case("ssh-port-quoted", "numbers", text(w1="ssh: {port: '22'}"), [W1 + "ssh.port", "'22'"]),
    Case("ssh-port-float", "numbers", text(w1="ssh: {port: 22.0}"), [W1 + "ssh.port", "22.0"]),
    Case("ssh-port-hex", "numbers", text(w1="ssh: {port: 0x16}"), [W1 + "ssh.port", "'0x16'"]),
    Case("ssh-port-octal", "numbers", text(w1="ssh: {port: 026}"), [W1 + "ssh.port", "'026'"]),
    Case("ssh-port-range", "numbers", text(w1="ssh: {port: 70000}"), [W1 + "ssh.port", "70000"]),
    Case("port-underscore", "numbers", w1_setting("PORT_ETCD: 10_250"), [W1 + "settings.PORT_ETCD", "'10_250'"]),
    Case("port-plus", "numbers", w1_setting("PORT_ETCD: +2379"), [W1 + "settings.PORT_ETCD", "'+2379'"]),
    Case("port-leading-zero", "numbers", w1_setting("PORT_ETCD: '02379'"), [W1 + "settings.PORT_ETCD"]),
    Case("port-fullwidth", "numbers", w1_setting("PORT_ETCD: '２３７９'"), [W1 + "settings.PORT_ETCD"]),
    Case("port-nan", "numbers", w1_setting("PORT_KUBELET: .nan"), [W1 + "settings.PORT_KUBELET", "nan"]),
    Case("port-bool", "numbers", w1_setting("PORT_KUBELET: true"), [W1 + "settings.PORT_KUBELET", "boolean"]),
    Case("port-fraction", "numbers", w1_setting("PORT_FLANNEL: 8472.5"), [W1 + "settings.PORT_FLANNEL", "8472.5"]),
    Case("port-base60", "numbers", w1_setting("PORT_FLANNEL: 1:30"), [W1 + "settings.PORT_FLANNEL", "'1:30'"]),
    Case("timeout-setting-inf", "numbers", w1_setting("U7S_TIMEOUT: .inf"), [W1 + "settings.U7S_TIMEOUT"]),
    Case("mtu-fraction", "numbers", w1_setting("NODE_MTU: 1460.5"), [W1 + "settings.NODE_MTU", "1460.5"]),
    Case("concurrency-fraction", "numbers", text().replace("{name: corpus}", "{name: corpus, join_concurrency: 2.5}"),
         [I + "cluster.join_concurrency", "2.5"]),
    # -- addresses and networks -------------------------------------------------------------------
    Case("host-ip-unspecified", "network", w1_setting("HOST_IP: 0.0.0.0"), [W1 + "settings.HOST_IP", "unspecified"]),
    Case("host-ip-broadcast", "network", w1_setting("HOST_IP: 255.255.255.255"), [W1 + "settings.HOST_IP", "broadcast"]),
    Case("host-ip-multicast", "network", w1_setting("HOST_IP: 224.0.0.1"), [W1 + "settings.HOST_IP", "multicast"]),
    Case("host-ip-link-local", "network", w1_setting("HOST_IP: 169.254.1.1"), [W1 + "settings.HOST_IP", "link-local"]),
    Case("host-ip-loopback", "network", w1_setting("HOST_IP: 127.0.0.1"), [W1 + "settings.HOST_IP", "loopback"]),
    Case("host-ip-leading-zero", "network", w1_setting("HOST_IP: 10.0.0.010"), [W1 + "settings.HOST_IP"]),
    Case("host-ip-shared", "network", text(settings=", HOST_IP: 192.0.2.5"),
         [I + "hosts: cp and w1 share address HOST_IP 192.0.2.5 and port"]),
    Case("subnet-service", "network", w1_setting("NODE_SUBNET: 10.96.5.0/24"), [W1 + "settings.NODE_SUBNET", "service"]),
    Case("subnet-pod", "network", w1_setting("NODE_SUBNET: 10.244.1.0/24"), [W1 + "settings.NODE_SUBNET", "pod"]),
    Case("publish-clash", "network", w1_setting("U7S_PUBLISH: 6443"), [W1 + "settings.U7S_PUBLISH", "PORT_KUBE_APISERVER"]),
    Case("publish-range", "network", w1_setting("U7S_PUBLISH: '30080:99999/tcp'"), [W1 + "settings.U7S_PUBLISH", "not a port"]),
    Case("publish-proto", "network", w1_setting("U7S_PUBLISH: 53/icmp"), [W1 + "settings.U7S_PUBLISH", "not tcp or udp"]),
    Case("mount-relative", "paths", w1_setting("U7S_MOUNTS: 'data:/data'"), [W1 + "settings.U7S_MOUNTS", "absolute path"]),
    Case("mount-over-etc", "paths", w1_setting("U7S_MOUNTS: '/srv:/etc'"), [W1 + "settings.U7S_MOUNTS", "Kubernetes' own"]),
    Case("mount-shell", "paths", w1_setting("U7S_MOUNTS: '/srv;rm -rf ~:/data'"), [W1 + "settings.U7S_MOUNTS", "absolute path"]),
    Case("storage-dir-colon", "paths", w1_setting("U7S_STORAGE_DIR: '/srv/a:/etc'"),
         [W1 + "settings.U7S_STORAGE_DIR", "characters other than"]),
    Case("storage-dir-above-workdir", "paths", w1_setting("U7S_WORKDIR: /data/u7s/w1, U7S_STORAGE_DIR: /data/u7s"),
         [W1 + "settings.U7S_STORAGE_DIR", "holds the working directory"]),
    Case("device-not-dev", "paths", w1_setting("U7S_DEVICES: /etc/shadow"), [W1 + "settings.U7S_DEVICES", "not a device"]),
    Case("pod-subnet-bad", "network", text(settings=", POD_SUBNET: 10.244.0.0/33"), [I + "settings.POD_SUBNET", "not an IPv4 network"]),
    Case("service-overlaps-pods", "network", text(settings=", SERVICE_SUBNET: 10.244.128.0/20"),
         [I + "settings.SERVICE_SUBNET", "overlaps POD_SUBNET"]),
    Case("pod-subnet-differs", "network", w1_setting("POD_SUBNET: 10.50.0.0/16"), [I + "hosts: POD_SUBNET differs between hosts"]),
    Case("set-publish", "flags", GOOD, ["--set U7S_PUBLISH", "PORT_ETCD"], argv=["--set", "U7S_PUBLISH=2379"]),
    Case("subnet-loopback", "network", w1_setting("NODE_SUBNET: 127.0.0.0/24"), [W1 + "settings.NODE_SUBNET", "loopback"]),
    Case("subnet-link-local", "network", w1_setting("NODE_SUBNET: 169.254.3.0/24"), [W1 + "settings.NODE_SUBNET", "link-local"]),
    Case("subnet-multicast", "network", w1_setting("NODE_SUBNET: 224.1.1.0/24"), [W1 + "settings.NODE_SUBNET", "multicast"]),
    Case("subnet-twice", "network", text(settings=", NODE_SUBNET: 10.100.9.0/24"),
         [I + "hosts: cp and w1 have the same NODE_SUBNET"]),
    Case("pool-overlaps-pods", "network", text().replace("{name: corpus}", "{name: corpus, node_subnet_pool: 10.244.0.0/16}"),
         [I + "cluster.node_subnet_pool", "pod"]),
    Case("same-address-short-form", "network", text(extra_host="name: w3, address: '127.3'"),
         [I + "hosts: w1, w3: same address 127.0.0.3"]),
    Case("same-address-hex-form", "network", text(extra_host="name: w3, address: '0x7f.0.0.4'"),
         [I + "hosts: w2, w3: same address 127.0.0.4"]),
    Case("same-address-other-user-ports", "network", text(extra_host="name: w3, address: 127.0.0.2, ssh: {user: bob}"),
         [I + "hosts: cp and w3 share address 127.0.0.2 and port"]),
    # -- SSH fields -------------------------------------------------------------------------------
    Case("user-option", "ssh", text(w1="ssh: {user: -oProxyCommand=touch /tmp/pwned}"), [W1 + "ssh.user", "-oProxyCommand"]),
    Case("user-space", "ssh", text(w1="ssh: {user: alice bob}"), [W1 + "ssh.user"]),
    Case("user-metachar", "ssh", text(w1="ssh: {user: 'a;reboot'}"), [W1 + "ssh.user"]),
    Case("address-option", "ssh", text(hosts=[HOSTS[0], "  - {name: w1, address: -oProxyCommand=id}", HOSTS[2]]),
         [W1 + "address", "-oProxyCommand=id"]),
    Case("address-metachar", "ssh", text(hosts=[HOSTS[0], "  - {name: w1, address: 'w1;reboot'}", HOSTS[2]]),
         [W1 + "address"]),
    Case("address-subshell", "ssh", text(hosts=[HOSTS[0], "  - {name: w1, address: '$(reboot)'}", HOSTS[2]]),
         [W1 + "address"]),
    Case("address-newline", "ssh", text(hosts=[HOSTS[0], "  - {name: w1, address: \"w1\\nw2\"}", HOSTS[2]]),
         [W1 + "address", "\\n"]),
    Case("address-numeric-name", "ssh", text(hosts=[HOSTS[0], "  - {name: w1, address: 127.0.0.999}", HOSTS[2]]),
         [W1 + "address"]),
    Case("jump-option", "ssh", text(w1="ssh: {jump: -J evil}"), [W1 + "ssh.jump"]),
    Case("jump-bad-port", "ssh", text(w1="ssh: {jump: 'alice@127.0.0.2:99999'}"), [W1 + "ssh.jump"]),
    Case("alias-option", "ssh", text(hosts=[HOSTS[0], "  - {name: w1, ssh: {alias: -oX}}", HOSTS[2]]), [W1 + "ssh.alias"]),
    Case("identity-newline", "ssh", text(w1="ssh: {identity_file: \"/tmp/a\\nb\"}"), [W1 + "ssh.identity_file"]),
    # -- names and paths --------------------------------------------------------------------------
    Case("engine-near-miss", "names", w1_setting("CONTAINER_ENGINE: dockerd"), [W1 + "settings.CONTAINER_ENGINE"]),
    Case("engine-shell", "names", w1_setting("CONTAINER_ENGINE: 'docker; rm -rf ~'"), [W1 + "settings.CONTAINER_ENGINE"]),
    Case("engine-path-suffix", "names", w1_setting("CONTAINER_ENGINE: /usr/bin/docker-evil"), [W1 + "settings.CONTAINER_ENGINE"]),
    Case("image-option", "names", w1_setting("NODE_IMAGE: --privileged"), [W1 + "settings.NODE_IMAGE", "--privileged"]),
    Case("image-too-long", "names", w1_setting("NODE_IMAGE: " + "a" * 300), [W1 + "settings.NODE_IMAGE", "longer than 255"]),
    Case("base-image-uppercase", "names", w1_setting("NODE_BASE_IMAGE: docker.io/Kind/Node"), [W1 + "settings.NODE_BASE_IMAGE"]),
    Case("base-image-too-old", "names", w1_setting("NODE_BASE_IMAGE: docker.io/kindest/node:v1.30.4"),
         [W1 + "settings.NODE_BASE_IMAGE", "tag v1.30.4", "older than v1.31", "use kindest/node:v1.31 or later"]),
    Case("set-base-image-too-old", "flags", GOOD, ["--set NODE_BASE_IMAGE", "tag v1.29.2", "v1.31 or later"],
         argv=["--set", "NODE_BASE_IMAGE=kindest/node:v1.29.2"]),
    Case("workdir-root", "names", w1_setting("U7S_WORKDIR: /"), [W1 + "settings.U7S_WORKDIR", "system directory"]),
    Case("workdir-etc", "names", w1_setting("U7S_WORKDIR: /etc"), [W1 + "settings.U7S_WORKDIR", "system directory"]),
    Case("workdir-dotdot", "names", w1_setting("U7S_WORKDIR: /home/a/../../etc"), [W1 + "settings.U7S_WORKDIR", "normalised"]),
    Case("workdir-proc", "names", w1_setting("U7S_WORKDIR: /proc/self/cwd"), [W1 + "settings.U7S_WORKDIR", "system"]),
    Case("workdir-relative", "names", w1_setting("U7S_WORKDIR: u7s"), [W1 + "settings.U7S_WORKDIR", "absolute"]),
    Case("compose-option", "names", w1_setting("COMPOSE: --privileged"), [W1 + "settings.COMPOSE"]),
    Case("hostname-metachar", "names", w1_setting("HOSTNAME: 'a;b'"), [W1 + "settings.HOSTNAME"]),
    Case("image-bool", "names", w1_setting("NODE_IMAGE: yes"), [W1 + "settings.NODE_IMAGE", "bool"]),
    # -- --set on every host of a good inventory ---------------------------------------------------
    Case("set-workdir-root", "flags", GOOD, ["--set U7S_WORKDIR", "system directory"], argv=["--set", "U7S_WORKDIR=/"]),
    Case("set-image-option", "flags", GOOD, ["--set NODE_IMAGE", "--privileged"], argv=["--set", "NODE_IMAGE=--privileged"]),
    Case("set-port-plus", "flags", GOOD, ["--set PORT_ETCD", "+2379"], argv=["--set", "PORT_ETCD=+2379"]),
    Case("set-mtu-small", "flags", GOOD, ["--set NODE_MTU", "from 576 to 9216"], argv=["--set", "NODE_MTU=100"]),
    Case("set-host-ip", "flags", GOOD, ["--set HOST_IP", "unspecified"], argv=["--set", "HOST_IP=0.0.0.0"]),
    Case("set-unknown", "flags", GOOD, ["--set PORT_API", "unknown setting"], argv=["--set", "PORT_API=1"]),
    # -- environment of a single-host task (read-only `u7s settings`) --------------------------------
    Case("env-workdir-root", "env", None, ["U7S_WORKDIR=/ (from environment)", "system directory"],
         env={"U7S_WORKDIR": "/"}),
    Case("env-host-ip-multicast", "env", None, ["HOST_IP=224.0.0.1 (from environment)", "multicast"],
         env={"HOST_IP": "224.0.0.1"}),
    Case("env-port-fullwidth", "env", None, ["PORT_ETCD=１２３ (from environment)"], env={"PORT_ETCD": "１２３"}),
    Case("env-engine-near-miss", "env", None, ["CONTAINER_ENGINE=dockerd (from environment)"],
         env={"CONTAINER_ENGINE": "dockerd"}),
    Case("env-long-value", "env", None, ["NODE_IMAGE=" + "x" * 40 + "... (from environment)"],
         env={"NODE_IMAGE": "x" * 50_000}),
]
