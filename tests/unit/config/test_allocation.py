"""Inventories from a batch job's allocation (u7s/config/allocation.py) and `--allocation` on the cluster tasks."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import yaml
from invoke import Context

from u7s.config import allocation, hostlist
from u7s.config.inventory import InventoryError
from u7s.tasks import cluster

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SLURM = {"SLURM_JOB_ID": "4242", "SLURM_JOB_NODELIST": "node[01-03]", "SLURM_SUBMIT_DIR": "/shared/alice/run",
         "SLURMD_NODENAME": "node01"}


@pytest.fixture(autouse=True)
def no_scontrol(monkeypatch):
    """Our own parser (scontrol against real expressions is in test_hostlist.py)."""
    monkeypatch.setattr(hostlist.shutil, "which", lambda name: None)


def make(value="slurm", base=None, env=SLURM, where=None, runner=None):
    return allocation.load(value, base or {}, where, env=env, runner=runner or subprocess.run)


def test_the_jobs_nodes_are_the_cluster():
    inv = make()
    assert [(h.name, h.role, h.local, h.address) for h in inv.hosts] == [
        ("node01", "control-plane", True, None), ("node02", "worker", False, "node02"),
        ("node03", "worker", False, "node03")]
    assert inv.name == "job-4242" and inv.path == "slurm job 4242"
    assert inv.kubeconfig == "/shared/alice/run/u7s-4242.kubeconfig"
    assert inv.node_subnet_pool == "10.142.0.0/16"


def test_a_named_control_plane_and_a_node_not_running_u7s():
    inv = make("slurm:node03", env={**SLURM, "SLURMD_NODENAME": "login7"})
    assert [(h.name, h.role) for h in inv.hosts] == [("node03", "control-plane"), ("node01", "worker"),
                                                     ("node02", "worker")]
    assert not any(h.local for h in inv.hosts)
    with pytest.raises(InventoryError, match=r"^--allocation: control plane 'gpu1' is not a node of slurm job 4242 "
                                             r"\(node01, node02, node03\)$"):
        make("slurm:gpu1")


def test_two_jobs_on_the_same_nodes_share_no_name():
    one, two = make(), make(env={**SLURM, "SLURM_JOB_ID": "4243"})
    assert (one.name, one.node_subnet_pool, one.kubeconfig) != (two.name, two.node_subnet_pool, two.kubeconfig)
    assert [h.name for h in one.hosts] == [h.name for h in two.hosts]


@pytest.mark.parametrize("value,env,message", [
    ("slurm", {}, "--allocation slurm: SLURM_JOB_ID is not set; run u7s inside a Slurm job"),
    ("slurm", {"SLURM_JOB_ID": "7"}, "--allocation slurm: SLURM_JOB_NODELIST is not set"),
    ("slurm", {**SLURM, "SLURM_JOB_ID": "7; rm"}, "SLURM_JOB_ID: expected a job number, got '7; rm'"),
    ("slurm", {**SLURM, "SLURM_JOB_NODELIST": "node[3-1]"}, "SLURM_JOB_NODELIST: 'node[3-1]': range '3-1' runs "
                                                            "backwards; Slurm sets it in the job"),
    ("auto", {}, "--allocation auto: neither SLURM_JOB_ID nor FLUX_JOB_ID is set"),
    ("pbs", SLURM, "--allocation: expected one of slurm, flux, auto"),
    ("slurm:", SLURM, "--allocation: expected one of slurm, flux, auto"),
])
def test_outside_a_job_or_bad_values_one_line(value, env, message):
    with pytest.raises(InventoryError) as err:
        make(value, env=env)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_auto_and_the_old_variable_names():
    inv = make("auto", env={"SLURM_JOBID": "9", "SLURM_NODELIST": "a,b", "SLURMD_NODENAME": "b"})
    assert inv.name == "job-9" and [(h.name, h.local) for h in inv.hosts] == [("a", False), ("b", True)]


def test_flux_through_its_own_commands(monkeypatch):
    monkeypatch.setattr(allocation.shutil, "which", lambda name: "/usr/bin/flux")
    calls = []

    def runner(argv, **kwargs):
        calls.append(argv[1:])
        out = {"job": "1234567\n", "hostlist": "fa fb\n"}[argv[1]]
        return SimpleNamespace(returncode=0, stdout=out, stderr="")

    inv = make("auto", env={"FLUX_JOB_ID": "ƒ2ZA5aaGm"}, runner=runner)
    assert calls == [["job", "id", "--to=dec", "ƒ2ZA5aaGm"], ["hostlist", "--expand", "local"]]
    assert inv.name == "job-1234567" and [h.name for h in inv.hosts] == ["fa", "fb"]
    assert inv.kubeconfig == os.path.join(os.getcwd(), "u7s-1234567.kubeconfig")


def test_an_inventory_file_that_names_the_allocation(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "environ", dict(SLURM))
    path = tmp_path / "hosts.yaml"
    path.write_text(yaml.safe_dump({"allocation": "slurm", "cluster": {"name": "ml"},
                                    "ssh": {"user": "alice", "port": 2222}, "settings": {"PORT_ETCD": 12379}}))
    inv = allocation.inventory(str(path), None)
    assert inv.name == "ml-4242" and inv.path == str(path)
    assert inv.hosts[1].ssh.user == "alice" and inv.hosts[1].ssh.port == 2222
    assert inv.hosts[2].settings == {"PORT_ETCD": 12379}
    path.write_text(yaml.safe_dump({"allocation": "slurm", "hosts": [{"name": "a", "address": "a"}]}))
    with pytest.raises(InventoryError, match=r"hosts.yaml: hosts: not with `allocation` \(the hosts come from the "
                                             r"allocation\); remove it$"):
        allocation.inventory(str(path), None)


def test_every_inventory_task_takes_allocation():
    from u7s.tasks import ns

    clusters, singles = ns.collections["cluster"].tasks.values(), ns.tasks.values()
    assert clusters and all({"inventory", "allocation"} <= _names(t) for t in clusters)
    assert not any("allocation" in _names(t) for t in singles)


def _names(task):
    return set(task.argspec(task.body).parameters)


def test_the_task_reads_the_job(monkeypatch):
    monkeypatch.setattr(os, "environ", {})
    with pytest.raises(InventoryError, match=r"^--allocation slurm: SLURM_JOB_ID is not set"):
        cluster.status(Context(), allocation="slurm")
    with pytest.raises(InventoryError, match=r"^--allocation auto: "):
        cluster.status(Context(config=_config({"u7s": {"allocation": "auto"}})))


def _config(data):
    from invoke import Config

    return Config(overrides=data)


def test_the_command_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM", "FLUX", "U7S_"))}
    env.update(HOME=str(tmp_path), PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-m", "u7s", "cluster.down-v", "--allocation", "slurm", "--yes"],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert r.returncode == 1 and r.stderr.splitlines() == [
        "u7s: --allocation slurm: SLURM_JOB_ID is not set; run u7s inside a Slurm job (sbatch, salloc) or give an "
        "inventory of hosts"]


def test_the_kubeconfig_goes_to_the_submit_directory_unless_output_says():
    from u7s.steps.kubeconfig import kubeconfig_path

    run = SimpleNamespace(inventory=make())
    assert kubeconfig_path(run, None) == "/shared/alice/run/u7s-4242.kubeconfig"
    assert kubeconfig_path(run, "/tmp/k") == "/tmp/k"
