"""Lay out pretend nodes for the stand-in tests: a root directory and the env u7s gives commands.

Used by test_standins.py. The kubeadm config builder is written from the reference's
facts (shared/notes/reference-behaviour.md), independently of u7s's own template.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import yaml

STANDINS = Path(__file__).resolve().parents[1] / "lab" / "standins"
CP, WORKER = "u7s-cp", "u7s-worker"
CP_HOST_IP, WORKER_HOST_IP = "192.0.2.10", "192.0.2.20"
UNINITIALIZED = "node.cloudprovider.kubernetes.io/uninitialized"
PUBLIC_IP = "flannel.alpha.coreos.com/public-ip-overwrite"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_env(name, host_ip, node_ip, port, kubelet_port=10250):
    """Return the variables u7s passes to commands in a node."""
    return {"HOST_IP": host_ip, "NODE_NAME": name, "NODE_SUBNET": node_ip.rsplit(".", 1)[0] + ".0/24",
            "NODE_IP": node_ip, "PORT_ETCD": "2379", "PORT_KUBELET": str(kubelet_port), "PORT_FLANNEL": "8472",
            "PORT_KUBE_APISERVER": str(port), "KUBECONFIG": "/etc/kubernetes/admin.conf"}


def make_node_root(root, name, host_ip, hosts=""):
    """Lay out what a booted node has: hostname, kubelet defaults from the entrypoint, /etc/hosts."""
    (root / "etc/default").mkdir(parents=True)
    (root / "etc/hostname").write_text(name + "\n")
    (root / "etc/default/kubelet").write_text(
        f"KUBELET_EXTRA_ARGS=--runtime-cgroups=/system.slice/containerd.service "
        f"--cloud-provider=external --node-labels=usernetes/host-ip={host_ip}\n")
    (root / "etc/hosts").write_text(f"127.0.0.1 localhost\n127.0.0.1 {name}\n{hosts}")
    (root / "flannel").mkdir()
    (root / "flannel/Chart.yaml").write_text("apiVersion: v2\nname: flannel\nversion: v0.27.4\nappVersion: v0.27.4\n")
    return root


def kubeadm_config_docs(env):
    """Build a kubeadm config the way the reference renders it (written from its facts)."""
    api, etcd, node_ip = env["PORT_KUBE_APISERVER"], env["PORT_ETCD"], env["NODE_IP"]

    def args(**pairs):
        return [{"name": k.replace("_", "-"), "value": v} for k, v in pairs.items()]

    return [
        {"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "InitConfiguration",
         "localAPIEndpoint": {"bindPort": int(api)}},
        {"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "ClusterConfiguration",
         "controlPlaneEndpoint": f"{env['NODE_NAME']}:{api}",
         "apiServer": {"certSANs": ["localhost", "127.0.0.1", env["NODE_NAME"], env["HOST_IP"]],
                       "extraArgs": args(etcd_servers=f"https://127.0.0.1:{etcd}",
                                         advertise_address=env["HOST_IP"], secure_port=api,
                                         kubelet_preferred_address_types="ExternalIP")},
         "controllerManager": {"extraArgs": args(cloud_provider="external")},
         "networking": {"serviceSubnet": "10.96.0.0/16", "podSubnet": "10.244.0.0/16"},
         "etcd": {"local": {"extraArgs": args(
             listen_client_urls=f"https://127.0.0.1:{etcd},https://{node_ip}:{etcd}",
             advertise_client_urls=f"https://{node_ip}:{etcd}")}}},
        {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
         "failSwapOn": False, "port": int(env["PORT_KUBELET"]),
         "featureGates": {"KubeletInUserNamespace": True}},
        {"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
         "mode": "iptables",
         "conntrack": {"maxPerCore": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"}},
    ]


class Node:
    """One pretend node: a root directory plus the environment u7s would give its commands."""

    def __init__(self, root, env, loopback="127.0.0.1"):
        self.root, self.env, self.loopback = root, env, loopback

    def process_env(self, extra_env=None):
        """Return the environment of a stand-in run in this node (root override, loopback API and kubelet)."""
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1",
                "U7S_STANDIN_ROOT": str(self.root), "U7S_STANDIN_SERVICE_MODE": "background",
                "U7S_STANDIN_APISERVER_ADDRESS": "127.0.0.1", "U7S_STANDIN_KUBELET_ADDRESS": self.loopback,
                "U7S_STANDIN_JOIN_TIMEOUT": "3", "U7S_STANDIN_WAIT_SECONDS": "20",
                "U7S_STANDIN_POD_START_SECONDS": "0.3", **self.env, **(extra_env or {})}

    def run(self, prog, *args, ok=True, extra_env=None):
        """Run stand-in PROG; with ok=True/False assert it succeeds/fails (None: either)."""
        result = subprocess.run([sys.executable, str(STANDINS / prog), *args], env=self.process_env(extra_env),
                                capture_output=True, text=True, timeout=60)
        if ok is not None:
            assert (result.returncode == 0) == ok, (result.stdout, result.stderr)
        return result

    def kubectl(self, kubectl, *args, ok=True, kubeconfig="etc/kubernetes/admin.conf"):
        """Run the real KUBECTL with this node's admin.conf, at the loopback API (127.0.0.1 is a SAN)."""
        port = self.env["PORT_KUBE_APISERVER"]
        result = subprocess.run([kubectl, "--kubeconfig", str(self.root / kubeconfig),
                                 "--server", f"https://127.0.0.1:{port}", "--request-timeout=10s", *args],
                                capture_output=True, text=True, timeout=60,
                                env={"PATH": "/usr/bin:/bin", "HOME": str(self.root / "root")})
        if ok is not None:
            assert (result.returncode == 0) == ok, (result.stdout, result.stderr)
        return result

    def kubectl_json(self, kubectl, *args):
        return json.loads(self.kubectl(kubectl, "get", *args, "-o", "json").stdout)

    def write_config(self, docs, name="kubeadm.yaml"):
        (self.root / "tmp").mkdir(exist_ok=True)
        (self.root / "tmp" / name).write_text(yaml.safe_dump_all(docs))
        return f"/tmp/{name}"

    def state(self, name):
        return json.loads((self.root / "var/lib/u7s-standin" / name).read_text())

    def calls(self):
        text = (self.root / "var/lib/u7s-standin/calls.jsonl").read_text()
        return [json.loads(line) for line in text.splitlines()]


def stop_services(node):
    """Kill the background API server and kubelet stand-ins left behind, by the pids they recorded."""
    for name in ("apiserver", "kubelet"):
        pid_file = node.root / "var/lib/u7s-standin" / f"{name}.pid"
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
