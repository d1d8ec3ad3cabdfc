"""Clusters from a batch job's allocation (issue 22 items 1 and 3), on the lab.

u7s runs on h1 as its user, as a batch script there would: with the environment Slurm
gives a job (SLURM_JOB_ID, SLURM_JOB_NODELIST in hostlist syntax, SLURMD_NODENAME,
SLURM_SUBMIT_DIR, SLURM_NNODES), set here by the test; no slurmctld/slurmd runs. The
node list is compressed by the real `scontrol show hostlist` and expanded by the real
`scontrol show hostnames` on h1 (Debian's slurm-client, a minimal slurm.conf through
SLURM_CONF). h1 is the local member, h2 and h3 are reached by name over SSH.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from u7s_cli import wipe_hosts

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]

SLURM_CONF = "ClusterName=u7slab\nSlurmctldHost=h1\nNodeName=h[1-3] CPUs=1 State=UNKNOWN\n" \
             "PartitionName=lab Nodes=h[1-3] Default=YES\n"


def compressed(names, tmp_path) -> str:
    """The node list as Slurm writes it into SLURM_JOB_NODELIST (`h[1-3]`), by scontrol itself."""
    conf = tmp_path / "slurm.conf"
    conf.write_text(SLURM_CONF)
    r = subprocess.run(["scontrol", "show", "hostlist", ",".join(names)], capture_output=True, text=True,
                       env={**os.environ, "SLURM_CONF": str(conf)}, timeout=30, check=True)
    return r.stdout.strip()


@pytest.fixture
def job(lab, tmp_path):
    """The environment of job JOBID on every lab host, for u7s run on h1; the hosts wiped before and after."""
    cp = lab.hosts[0]
    home = cp.ssh(["sh", "-c", 'echo "$HOME"']).stdout.strip()
    cp.ssh(["cp", "/dev/stdin", "slurm.conf"], input=SLURM_CONF)
    job_id = str(int(time.time()) % 100000 + 100000)
    env = {"SLURM_JOB_ID": job_id, "SLURM_JOB_NODELIST": compressed([h.name for h in lab.hosts], tmp_path),
           "SLURM_NNODES": str(len(lab.hosts)), "SLURMD_NODENAME": cp.name, "SLURM_SUBMIT_DIR": home,
           "SLURM_JOB_NAME": "u7s-test", "SLURM_CONF": f"{home}/slurm.conf"}
    wipe_hosts(lab)
    yield cp, env
    wipe_hosts(lab)


def u7s_in_job(cp, env, *args, check=True, timeout=900):
    return cp.ssh(["u7s", *args], env=env, check=check, timeout=timeout)


def test_the_jobs_nodes_and_an_epilog_with_nothing_left(lab, job):
    """Default run (quick): status reads the job's nodes; the epilog with nothing to remove, twice."""
    cp, env = job
    assert env["SLURM_JOB_NODELIST"] == "h[1-3]"
    r = u7s_in_job(cp, env, "cluster.status", "--json", "--allocation", "slurm", check=False)
    rows = json.loads(r.stdout)
    assert [(row["host"], row["reachable"], row["node"]) for row in rows] == [
        (h.name, True, "absent") for h in lab.hosts], r.stderr
    assert r.returncode == 1 and "not every node is up and Ready" in r.stderr
    for _ in range(2):
        started = time.monotonic()
        r = u7s_in_job(cp, env, "cluster.down-v", "--allocation", "slurm", "--yes")
        assert time.monotonic() - started < 20, r.stderr
    assert all(h.docker(["ps", "-aq"]).stdout.strip() == "" for h in lab.hosts)


@pytest.mark.extended
def test_a_batch_job_creates_its_cluster_uses_it_and_its_epilog_removes_it(lab, job, tmp_path):
    from tests.lab.kubectl import controller_kubectl

    cp, env = job
    job_id, home = env["SLURM_JOB_ID"], env["SLURM_SUBMIT_DIR"]
    r = u7s_in_job(cp, env, "cluster.create", "--allocation", "slurm")
    kubeconfig = f"{home}/u7s-{job_id}.kubeconfig"
    assert r.stdout.strip().splitlines()[-1] == kubeconfig
    assert cp.ssh(["stat", "-c", "%a", kubeconfig]).stdout.strip() == "600"
    project = f"u7s-job-{job_id}"
    for h in lab.hosts:
        assert h.docker(["ps", "--format", "{{.Names}}"]).stdout.split() == [f"{project}-node"]
    status = json.loads(u7s_in_job(cp, env, "cluster.status", "--json", "--allocation", "slurm").stdout)
    assert [(s["host"], s["node"], s["ready"]) for s in status] == [(h.name, "running", True) for h in lab.hosts]
    # The job's workload, with kubectl and the kubeconfig from the submit directory.
    (tmp_path / "kubeconfig").write_text(cp.ssh(["cat", kubeconfig]).stdout)
    listed = subprocess.run([controller_kubectl(), "--kubeconfig", str(tmp_path / "kubeconfig"), "get", "nodes",
                             "-o", "name"], env={"HOME": str(tmp_path)}, capture_output=True, text=True, timeout=60)
    assert sorted(listed.stdout.split()) == sorted(f"node/u7s-{h.name}" for h in lab.hosts), listed.stderr
    # The epilog, and the same again (a second epilog, or a retried one) finds nothing and succeeds.
    u7s_in_job(cp, env, "cluster.down-v", "--allocation", "slurm", "--yes")
    for h in lab.hosts:
        assert h.docker(["ps", "-aq"]).stdout.strip() == ""
        assert not [v for v in h.docker(["volume", "ls", "-q"]).stdout.split() if v.startswith(project)]
    u7s_in_job(cp, env, "cluster.down-v", "--allocation", "slurm", "--yes")
