"""The node image's files, checked as far as can be done offline.

Its downloads (CNI plugins, helm, the flannel chart) cannot be fetched here;
what is checked: the build arguments and their defaults, that every file the
Dockerfile downloads, for each architecture, has a pinned checksum (the ones
the reference pins), that the files it copies exist, and the entrypoint.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from u7s.render.resources import node_image_dir
from u7s.config.settings import DEFAULT_BASE_IMAGE

NODE = node_image_dir()
DOCKERFILE = (NODE / "Dockerfile").read_text()
PINNED = {
    "cni-plugins-linux-amd64-v1.9.0.tgz": "58c03705426e929658f45a851df15a86d06ef680cacbf3f2dc127731ca265c28",
    "cni-plugins-linux-arm64-v1.9.0.tgz": "2596ef56329dd1269026f46b8df262f09ba43c92dbfb940e1e69fbccccd30a29",
    "helm-v4.0.4-linux-amd64.tar.gz": "29454bc351f4433e66c00f5d37841627cbbcc02e4c70a6d796529d355237671c",
    "helm-v4.0.4-linux-arm64.tar.gz": "16b88acc6503d646b7537a298e7389bef469c5cc9ebadf727547abe9f6a35903",
    "flannel.tgz": "c1f3c87436192459c1e1bfd23f96a605892f974e47f87324e360a4f43a4268e1",
}


def build_args() -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)(?:=(\S*))?$", DOCKERFILE, re.M))


def sums() -> dict[str, str]:
    out = {}
    for line in (NODE / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert re.fullmatch(r"[0-9a-f]{64}", digest), line
        out[name] = digest
    return out


UPSTREAM_COMMIT = "0590bd6768b62dc9f11f007803cfe2caa2d7fd5a"  # rootless-containers/usernetes, on main


def test_the_pins_name_the_upstream_commit_they_come_from():
    pins = DOCKERFILE[: DOCKERFILE.index("FROM ${BASE_IMAGE}")]
    assert f"rootless-containers/usernetes@{UPSTREAM_COMMIT}" in pins


def test_base_and_versions_are_build_arguments_with_the_reference_defaults():
    args = build_args()
    assert args["BASE_IMAGE"] == DEFAULT_BASE_IMAGE
    assert "@sha256:452d707d4862f52530247495d180205e029056831160e22870e37e3f6c1ac31f" in args["BASE_IMAGE"]
    assert (args["CNI_PLUGINS_VERSION"], args["HELM_VERSION"], args["FLANNEL_VERSION"]) == ("v1.9.0", "v4.0.4", "v0.27.4")
    assert "FROM ${BASE_IMAGE}" in DOCKERFILE


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_every_download_has_the_pinned_checksum(arch):
    args = build_args()
    names = [
        f"cni-plugins-linux-{arch}-{args['CNI_PLUGINS_VERSION']}.tgz",
        f"helm-{args['HELM_VERSION']}-linux-{arch}.tar.gz",
        "flannel.tgz",
    ]
    for name in names:
        assert sums()[name] == PINNED[name]
    # The Dockerfile names its downloads with the same patterns, and verifies each one.
    assert 'name="cni-plugins-linux-${arch}-${CNI_PLUGINS_VERSION}.tgz"' in DOCKERFILE
    assert 'name="helm-${HELM_VERSION}-linux-${arch}.tar.gz"' in DOCKERFILE
    assert len(re.findall(r'u7s-fetch ("\$name"|flannel\.tgz) "https://', DOCKERFILE)) == 3
    assert "sha256sum -c" in DOCKERFILE


def test_the_files_it_copies_exist_and_the_entrypoint_runs_first():
    for source in re.findall(r"^COPY (\S+) ", DOCKERFILE, re.M):
        assert (NODE / source).is_file(), source
    assert os.access(NODE / "entrypoint.sh", os.X_OK)
    assert 'ENTRYPOINT ["/usr/local/bin/u7s-entrypoint", "/usr/local/bin/entrypoint", "/sbin/init"]' in DOCKERFILE


def udev_rules(text: str) -> list[list[tuple[str, str, str]]]:
    """Each rule line as (key, operator, value) triples, the way udev splits them."""
    rules = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            rules.append(re.findall(r'([A-Z_]+(?:\{[^}]*\})?)\s*(==|!=|\+=|:=|=)\s*"([^"]*)"', line))
    return rules


def test_the_udev_rule_matches_what_the_reference_matches():
    # The reference's rule: flannel.1 by ENV{INTERFACE}, on add, change and move.
    [rule] = udev_rules((NODE / "90-u7s-flannel.rules").read_text())
    matches = {(key, value) for key, op, value in rule if op == "=="}
    assert matches == {("SUBSYSTEM", "net"), ("ACTION", "add|change|move"), ("ENV{INTERFACE}", "flannel.1")}
    assert ("RUN", "+=", "/usr/sbin/ethtool -K flannel.1 tx-checksum-ip-generic off") in rule


def run_entrypoint(tmp_path: Path, kubelet: str, host_ip: str, hosts_u7s: str | None = None) -> str:
    """The entrypoint with /etc paths moved under tmp_path, then `true` as the next program."""
    (tmp_path / "kubelet").write_text(kubelet)
    (tmp_path / "hosts").write_text("127.0.0.1 localhost\n")
    if hosts_u7s is not None:
        (tmp_path / "hosts.u7s").write_text(hosts_u7s)
    script = (NODE / "entrypoint.sh").read_text()
    for path, name in (("/etc/default/kubelet", "kubelet"), ("/etc/hosts.u7s", "hosts.u7s"), ("/etc/hosts", "hosts")):
        script = script.replace(path, str(tmp_path / name))
    copy = tmp_path / "entrypoint.sh"
    copy.write_text(script)
    subprocess.run(["sh", str(copy), "true"], env={"HOST_IP": host_ip, "PATH": "/usr/bin:/bin"}, check=True)
    return (tmp_path / "kubelet").read_text()


def test_the_entrypoint_sets_the_kubelet_flags_once_even_across_boots(tmp_path):
    kind_default = "KUBELET_EXTRA_ARGS=--runtime-cgroups=/system.slice/containerd.service\n"
    first = run_entrypoint(tmp_path, kind_default, "192.0.2.1")
    again = run_entrypoint(tmp_path, first, "192.0.2.7")  # the host's address changed
    assert again.strip() == ('KUBELET_EXTRA_ARGS="--runtime-cgroups=/system.slice/containerd.service '
                             '--cloud-provider=external --node-labels=usernetes/host-ip=192.0.2.7"')


def test_the_entrypoint_appends_hosts_u7s_and_needs_host_ip(tmp_path):
    run_entrypoint(tmp_path, "", "192.0.2.1", hosts_u7s="192.0.2.11  u7s-cp\n")
    assert (tmp_path / "hosts").read_text().endswith("192.0.2.11  u7s-cp\n")
    r = subprocess.run(["sh", str(NODE / "entrypoint.sh"), "true"], env={"PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True)
    assert r.returncode != 0 and "HOST_IP" in r.stderr
