"""`fab` in a checkout: the fabfile lists u7s's tasks; a host that cannot be reached is one line; cluster tasks refused.

Runs against the lab (files written on the hosts, hosts in parallel) are in
tests/integration/test_invoke_and_fab.py.
"""

import subprocess
import sys

from tests.unit.tasks.test_tasks_cli import GIVEN, ROOT, clean_env, home  # noqa: F401  (home: a fixture)


def fab(*args, home):
    return subprocess.run([sys.executable, "-m", "fabric", *args], cwd=ROOT, env=clean_env(home, **GIVEN),
                          capture_output=True, text=True, timeout=60)


def test_the_fabfile_lists_u7s_tasks(home):
    r = fab("--list", home=home)
    assert r.returncode == 0, r.stderr
    assert "  render " in r.stdout and "  cluster.create " in r.stdout


def test_hosts_that_cannot_be_reached_are_one_line_each_without_a_traceback(home):
    r = fab("-H", "127.0.0.1:1,127.0.0.2:1", "render", home=home)
    assert r.returncode == 1 and "Traceback" not in r.stderr and "paramiko" not in r.stderr
    assert r.stderr.splitlines() == [
        "u7s: render failed on 2 of 2 hosts:",
        "u7s: 127.0.0.1:1: connection refused by 127.0.0.1:1; is sshd running there, and is the port right "
        "(-H HOST:PORT)?",
        "u7s: 127.0.0.2:1: connection refused by 127.0.0.2:1; is sshd running there, and is the port right "
        "(-H HOST:PORT)?",
    ]
    one = fab("-H", "127.0.0.1:1", "settings", home=home)
    assert one.returncode == 1 and one.stderr.startswith("u7s: 127.0.0.1:1: connection refused")
    assert len(one.stderr.splitlines()) == 1


def test_cluster_tasks_under_fab_h_are_refused_with_the_reason(home):
    r = fab("-H", "127.0.0.1:1", "cluster.up", home=home)
    assert r.returncode == 1
    assert r.stderr == ("u7s: cluster.up under fab -H: cluster tasks reach their hosts themselves, from an "
                        "inventory (hosts.yaml, --inventory); run `fab cluster.up` without -H, or "
                        "`u7s cluster.up`\n")


def test_without_hosts_fab_runs_the_tasks_here_as_inv_does(home):
    r = fab("render", "--kubeadm-config", home=home)
    assert r.returncode == 0, r.stderr
    assert "kind: ClusterConfiguration" in r.stdout
