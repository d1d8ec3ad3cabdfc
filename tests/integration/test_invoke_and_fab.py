"""u7s as invoke and fabric users drive it, on the lab over real SSH.

- `fab -H h1,h2 TASK` from the controller: a single-host task on each lab host at
  once, its files written on the hosts (over SFTP), none on the controller.
- The README's example of another invoke project (a tasks.py with u7s as a
  sub-collection whose own task calls `create` and `kubeconfig`), run with `inv` as a
  lab host's user against that host's rootless Docker and the lab's node image.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from u7s_cli import REPO, wipe_hosts

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]
WORKDIR = ".local/share/u7s/u7s"


@pytest.fixture
def two_hosts(lab):
    hosts = lab.hosts[:2]
    wipe_hosts(lab, hosts)
    yield hosts
    wipe_hosts(lab, hosts)
    for h in hosts:
        h.ssh(["rm", "-rf", WORKDIR], check=False)


def fab(hosts, *args, home: Path):
    """fab from the checkout (its fabfile.py and fabric.yaml), as a user on the controller runs it."""
    (home / ".ssh").mkdir(exist_ok=True)
    known = (home / ".ssh" / "known_hosts")
    known.write_text("".join(Path(h.known_hosts).read_text() for h in hosts))
    targets = ",".join(f"{h.ssh_user}@{h.address}:{h.ssh_port}" for h in hosts)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("U7S_", "KUBECONFIG"))},
           "HOME": str(home), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "fabric", "-H", targets, "-i", hosts[0].key, *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=600)


def test_fab_runs_a_task_on_each_named_host_with_its_files_there(lab, two_hosts, tmp_path):
    h1, h2 = two_hosts
    shown = fab(two_hosts, "render", home=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert f'HOST_IP: "{h1.address}"' in shown.stdout and f'HOST_IP: "{h2.address}"' in shown.stdout

    up = fab(two_hosts, "up", "--skip-preflight", "--set", f"NODE_IMAGE={lab.node_image}", home=tmp_path)
    assert up.returncode == 0, up.stderr
    for h in two_hosts:
        assert h.ssh(["test", "-f", f"{WORKDIR}/docker-compose.yaml"], check=False).returncode == 0, h.name
        state = h.docker(["exec", "u7s-node", "systemctl", "is-system-running"], check=False).stdout.strip()
        assert state in ("running", "degraded")
    assert not (tmp_path / ".local").exists()  # nothing of the hosts' files on the controller
    # In parallel: both hosts started before either had booted its node (fab alone runs them in turn).
    lines = up.stderr.splitlines()
    booted = next(i for i, line in enumerate(lines) if "booted" in line)
    for h in two_hosts:
        assert any(line.startswith(h.address) for line in lines[:booted]), up.stderr

    down = fab(two_hosts, "down-v", home=tmp_path)
    assert down.returncode == 0, down.stderr
    for h in two_hosts:
        assert h.docker(["ps", "-aq"]).stdout.strip() == ""


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    section = text.split("## Reusing the tasks in another invoke project", 1)[1]
    return re.search(r"```python\n(# tasks\.py.*?)```", section, re.S).group(1)


def test_the_readme_reuse_example_creates_a_cluster_from_its_own_task(lab, lab_host):
    h = lab_host
    wipe_hosts(lab, [h])
    project = "reuse-example"
    try:
        h.ssh(["mkdir", "-p", project])
        h.ssh(["sh", "-c", f"cat > {project}/tasks.py"], input=readme_example())
        r = h.ssh(["sh", "-c", f"cd {project} && exec inv deploy"], env={"NODE_IMAGE": lab.node_image}, check=False,
                  timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "cluster ready:" in r.stdout
        merged = yaml.safe_load(h.ssh(["cat", ".kube/config"]).stdout)
        assert merged["current-context"] == "u7s-h1"
        servers = {c["name"]: c["cluster"]["server"] for c in merged["clusters"]}
        assert servers == {"u7s-h1": "https://127.0.0.1:16443"}  # the port the example configures
        listed = h.ssh(["sh", "-c", f"cd {project} && exec inv --list"]).stdout
        assert "u7s.create" in listed and "deploy" in listed
        helped = h.ssh(["sh", "-c", f"cd {project} && exec inv u7s"]).stdout
        assert "inv u7s.create" in helped
    finally:
        wipe_hosts(lab, [h])
        h.ssh(["rm", "-rf", project, ".kube", WORKDIR], check=False)


def test_a_parent_projects_u7s_error_is_one_line_on_the_host(lab, lab_host):
    h = lab_host
    tasks = ("from invoke import Collection, task\nimport u7s.tasks\n\n@task\ndef go(c):\n"
             "    u7s.tasks.up(c, set_={'PORT_ETCD': 0})\n\nns = Collection(go)\n")
    try:
        h.ssh(["mkdir", "-p", "bad-example"])
        h.ssh(["sh", "-c", "cat > bad-example/tasks.py"], input=tasks)
        r = h.ssh(["sh", "-c", "cd bad-example && exec inv go"], check=False)
        assert r.returncode == 1 and r.stderr.splitlines() == [
            "u7s: PORT_ETCD=0 (from --set): out of range for a port; use a whole number from 1 to 65535"]
    finally:
        h.ssh(["rm", "-rf", "bad-example"], check=False)


def test_init_host_dry_run_changes_nothing_on_any_host(lab, tmp_path):
    from u7s_cli import WORKDIR as CLUSTER_WORKDIR, inventory, u7s

    path = inventory(lab, tmp_path)
    uploaded = {h.name: f"{CLUSTER_WORKDIR}/{h.name}/init-host" for h in lab.hosts}
    for h in lab.hosts:
        h.ssh(["rm", "-rf", uploaded[h.name]])
    r = u7s("cluster.init-host", "--dry-run", "--inventory", str(path), cwd=tmp_path)
    for h in lab.hosts:
        text = "\n".join(line for line in r.stderr.splitlines() if line.startswith(h.name))
        assert "dry run" in text and "init-host:" in text, r.stderr
        assert h.ssh(["test", "-e", uploaded[h.name]], check=False).returncode != 0  # nothing uploaded there
        left = h.ssh(["sh", "-c", "ls -d /tmp/u7s-init-host.* 2>/dev/null || true"]).stdout
        assert left == ""  # and the scripts' temporary copies are gone
