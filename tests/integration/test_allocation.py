"""Clusters from a batch job's allocation (issue 22 items 1 and 3), on the lab.

A real Slurm runs over the lab hosts for each test (tests/lab/slurm.py: munged, slurmctld,
a slurmd in each host's namespaces): a batch job of three nodes, submitted as h1's user,
records the environment Slurm gives its script (SLURM_JOB_ID, SLURM_JOB_NODELIST `h[1-3]`,
SLURMD_NODENAME, SLURM_SUBMIT_DIR, SLURM_CONF, ...), and u7s then runs on h1 as that user,
over SSH, with exactly those variables, as the batch script would. The node list is
expanded by the real `scontrol show hostnames` (SLURM_CONF names the lab's slurm.conf);
h1 is the local member, h2 and h3 are reached by name over SSH.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.lab import slurm
from u7s_cli import wipe_hosts

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]


@pytest.fixture
def job(lab):
    """A finished Slurm job's environment over every lab host, submitted as h1's user; hosts wiped around."""
    missing = slurm.missing()
    if missing:
        pytest.skip(f"Slurm is not installed ({', '.join(missing)}); tests/setup-machine.sh installs it")
    cp = lab.hosts[0]
    wipe_hosts(lab)
    with slurm.Slurm(lab.hosts, lab.bridge_address) as running:
        env = running.job_env(cp, len(lab.hosts))
        yield cp, env
    wipe_hosts(lab)


def u7s_in_job(cp, env, *args, check=True, timeout=900):
    return cp.ssh(["u7s", *args], env=env, check=check, timeout=timeout)


def test_the_jobs_nodes_and_an_epilog_with_nothing_left(lab, job):
    """Default run (quick): status reads the job's nodes; the epilog with nothing to remove, twice."""
    cp, env = job
    assert (env["SLURM_JOB_NODELIST"], env["SLURMD_NODENAME"], env["SLURM_NNODES"]) == ("h[1-3]", "h1", "3")
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
    # The lab's node image comes from an inventory that names the allocation instead of hosts.
    cp.ssh(["cp", "/dev/stdin", "job.yaml"], input=f"allocation: slurm\nsettings: {{NODE_IMAGE: {lab.node_image}}}\n")
    r = u7s_in_job(cp, env, "cluster.create", "--inventory", "job.yaml")
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
