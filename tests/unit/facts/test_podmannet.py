"""Podman's rootless network: the containers.conf probe run for real, its parser, and the pasta verdict."""

from __future__ import annotations

import subprocess

import pytest

from u7s.facts import podmannet
from tests.unit.u7s_fakes import fixture

USERNETES = {"default_rootless_network_cmd": "pasta", "rootless_port_forwarder": "pasta",
             "pasta_options": ["-a", "10.0.2.100", "-n", "24", "-g", "10.0.2.2"]}


def test_parse_merges_the_files_in_order_and_later_keys_win():
    assert podmannet.parse_network_conf(fixture("containers-conf-plain-pasta.txt")) == {}
    assert podmannet.parse_network_conf(fixture("containers-conf-usernetes-pasta.txt")) == USERNETES
    text = (fixture("containers-conf-usernetes-pasta.txt")
            + "\n#u7s-containers-conf /home/user/.config/containers/containers.conf.d/zz.conf\n"
            + "[network]\nrootless_port_forwarder = \"rootlessport\"\n"
            + "\n#u7s-containers-conf /home/user/.config/containers/containers.conf.d/zzz.conf\n"
            + "[network\nnot toml\n")
    assert podmannet.parse_network_conf(text) == {**USERNETES, "rootless_port_forwarder": "rootlessport"}


@pytest.mark.parametrize("options", [
    ["-a", "10.0.2.100", "-n", "24", "-g", "10.0.2.2"],
    ["--address", "10.0.2.100", "--netmask", "255.255.255.0", "--gateway", "10.0.2.2"],
    ["--address=10.0.2.100", "--netmask=24", "--gateway=10.0.2.2", "--mtu", "65520"],
    ["-a10.0.2.100", "-n24", "-g10.0.2.2"],
])
def test_pasta_options_in_any_spelling(options):
    assert podmannet.pasta_settings(options) == {"-a": "10.0.2.100", "-n": "24", "-g": "10.0.2.2"}
    assert podmannet.pasta_problems({**USERNETES, "pasta_options": options}) == []


@pytest.mark.parametrize("conf, problem", [
    ({}, "pasta_options has no address 10.0.2.100"),
    ({**USERNETES, "pasta_options": ["-a", "10.0.2.100", "-g", "10.0.2.2"]}, "pasta_options has no prefix 24"),
    ({**USERNETES, "pasta_options": ["-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2"]}, "no address 10.0.2.100"),
    ({**USERNETES, "rootless_port_forwarder": "rootlessport"}, 'rootless_port_forwarder is not "pasta"'),
    ({**USERNETES, "pasta_options": "-a 10.0.2.100"}, "no address"),
])
def test_pasta_otherwise_configured_is_refused_naming_what_differs(conf, problem):
    ok, detail, fix = podmannet.verdict("pasta", conf, "5.4.2")
    assert not ok and problem in detail
    assert "u7s-slirp4netns.conf" in fix and "u7s-pasta.conf" in fix


def test_slirp4netns_and_podman_4_pass():
    assert podmannet.verdict("slirp4netns", {}, "5.0.0") == (True, "slirp4netns", "")
    assert podmannet.verdict("", {}, "4.3.1") == (True, "slirp4netns (Podman 4 default)", "")


def test_the_written_drop_in_is_what_the_verdict_accepts():
    from u7s.facts.podmannet import tomllib  # the standard library's, or tomli before Python 3.11

    assert podmannet.pasta_problems(tomllib.loads(podmannet.PASTA_CONF)["network"]) == []


def test_conf_probe_reads_the_users_files_in_order(tmp_path):
    config = tmp_path / "config" / "containers"
    (config / "containers.conf.d").mkdir(parents=True)
    (config / "containers.conf").write_text('[network]\ndefault_rootless_network_cmd = "pasta"\n')
    (config / "containers.conf.d" / "10-other.conf").write_text('[network]\nrootless_port_forwarder = "rootlessport"\n')
    (config / "containers.conf.d" / "u7s-pasta.conf").write_text(podmannet.PASTA_CONF)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    r = subprocess.run(podmannet.conf_probe(), env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.index("10-other.conf") < r.stdout.index("u7s-pasta.conf")
    merged = podmannet.parse_network_conf(r.stdout)
    assert {k: merged[k] for k in USERNETES} == USERNETES

    # CONTAINERS_CONF replaces every other file; CONTAINERS_CONF_OVERRIDE comes last.
    only = tmp_path / "only.conf"
    only.write_text('[network]\ndefault_rootless_network_cmd = "slirp4netns"\n')
    override = tmp_path / "override.conf"
    override.write_text('[network]\npasta_options = ["-a", "10.0.2.100"]\n')
    r = subprocess.run(podmannet.conf_probe(), capture_output=True, text=True, timeout=30,
                       env={**env, "CONTAINERS_CONF": str(only), "CONTAINERS_CONF_OVERRIDE": str(override)})
    assert podmannet.parse_network_conf(r.stdout) == {"default_rootless_network_cmd": "slirp4netns",
                                                      "pasta_options": ["-a", "10.0.2.100"]}
