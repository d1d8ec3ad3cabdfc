"""Slurm hostlist expressions: our parser, and the same expressions read by the real `scontrol show hostnames`."""

from __future__ import annotations

import shutil
import subprocess
from types import SimpleNamespace

import pytest

from u7s.config import hostlist
from u7s.config.hostlist import HostlistError, expand, parse

GOOD = [
    ("node[01-04,07],gpu[1-2]", "node01 node02 node03 node04 node07 gpu1 gpu2"),
    ("n[1-10]", "n1 n2 n3 n4 n5 n6 n7 n8 n9 n10"),
    ("n[001-3]", "n001 n002 n003"),
    ("n[1-003]", "n1 n2 n3"),
    ("n[8-11]", "n8 n9 n10 n11"),
    ("n[09-10]", "n09 n10"),
    ("rack[1-2]-n[01-02]", "rack1-n01 rack1-n02 rack2-n01 rack2-n02"),
    ("n[1-3,5-6]x[1-2]", "n1x1 n1x2 n2x1 n2x2 n3x1 n3x2 n5x1 n5x2 n6x1 n6x2"),
    ("x,y,z", "x y z"),
    ("n[1-2],,m", "n1 n2 m"),
    ("a b", "a b"),
    ("n[1,1]", "n1 n1"),
    ("single", "single"),
]
BAD = [
    ("n[3-1]", "runs backwards"),
    ("n[a-b]", "not a number or a range"),
    ("n[]", "not a number or a range"),
    ("n[-2]", "not a number or a range"),
    ("n[1--2]", "not a number or a range"),
    ("a[1-2]b", "text after the last ']'"),
    ("n[1-2", "'[' without ']'"),
    ("n]", "']' without '['"),
    ("n[[1]]", "'[' inside brackets"),
    ("", "names no hosts"),
    ("node[1-100000]", "more than 65536 hosts"),
]


@pytest.mark.parametrize("expression,hosts", GOOD, ids=[g[0] or "empty" for g in GOOD])
def test_parse(expression, hosts):
    assert parse(expression) == hosts.split()


@pytest.mark.parametrize("expression,why", BAD, ids=[b[0] or "empty" for b in BAD])
def test_parse_refuses_with_one_line(expression, why):
    with pytest.raises(HostlistError) as err:
        parse(expression)
    assert why in str(err.value) and "\n" not in str(err.value)


def _scontrol_env(tmp_path, monkeypatch):
    """scontrol needs a configuration to read even for `show hostnames` (no controller, though)."""
    if not shutil.which("scontrol"):
        pytest.skip("scontrol is not installed (tests/setup-machine.sh installs slurm-client)")
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=u7stest\nSlurmctldHost=localhost\nNodeName=localhost CPUs=1 State=UNKNOWN\n"
                    "PartitionName=debug Nodes=localhost Default=YES\n")
    monkeypatch.setenv("SLURM_CONF", str(conf))


def test_scontrol_agrees_with_the_parser(tmp_path, monkeypatch):
    _scontrol_env(tmp_path, monkeypatch)
    for expression, hosts in GOOD:
        done = subprocess.run(["scontrol", "show", "hostnames", expression], capture_output=True, text=True,
                              timeout=30)
        assert done.stdout.split() == hosts.split() == parse(expression), expression


def test_scontrol_refuses_what_the_parser_refuses(tmp_path, monkeypatch):
    _scontrol_env(tmp_path, monkeypatch)
    for expression in ("n[3-1]", "n[a-b]", "n[]", "a[1-2]b", "node[1-100000]"):
        with pytest.raises(HostlistError) as err:
            expand(expression, "SLURM_JOB_NODELIST")
        assert str(err.value).startswith("SLURM_JOB_NODELIST: ") and "\n" not in str(err.value)


def test_expand_uses_scontrol_when_it_answers(monkeypatch):
    monkeypatch.setattr(hostlist.shutil, "which", lambda name: "/usr/bin/scontrol")
    calls = []

    def runner(argv, **kwargs):
        calls.append(argv)
        return SimpleNamespace(returncode=0, stdout="a1\na2\n", stderr="")

    assert expand("a[1-2]", "SLURM_JOB_NODELIST", runner) == ["a1", "a2"]
    assert calls == [["/usr/bin/scontrol", "show", "hostnames", "a[1-2]"]]


def test_expand_reads_it_itself_when_scontrol_cannot(monkeypatch):
    """Without a slurm.conf scontrol exits 1 ("Could not establish a configuration source")."""
    monkeypatch.setattr(hostlist.shutil, "which", lambda name: "/usr/bin/scontrol")
    failed = SimpleNamespace(returncode=1, stdout="", stderr="scontrol: fatal: Could not establish a "
                                                            "configuration source\n")
    assert expand("a[1-2]", "X", lambda argv, **kw: failed) == ["a1", "a2"]
    monkeypatch.setattr(hostlist.shutil, "which", lambda name: None)
    assert expand("node[01-02]", "X") == ["node01", "node02"]
    with pytest.raises(HostlistError, match=r"^X: 'n\[3-1\]': range '3-1' runs backwards$"):
        expand("n[3-1]", "X")
