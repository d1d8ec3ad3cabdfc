"""A bound on hosts handled at once: `--forks`, `u7s.forks`, the inventory's `cluster.forks` (u7s/run/parallel.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from u7s import session
from u7s.config.inventory import parse
from u7s.errors import InventoryError
from u7s.run import parallel
from u7s.run.parallel import StepResult, run_parallel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HOSTS = [{"name": f"h{i}", "address": f"192.0.2.{i + 1}", "role": "control-plane" if i == 0 else "worker"}
         for i in range(9)]


class Seen:
    """A host's reporter that keeps what its live row was told."""

    def __init__(self):
        self.rows = []

    def waiting(self, text):
        self.rows.append(text)


class Host:
    def __init__(self, name):
        self.name, self.report, self.failed = name, Seen(), None


@pytest.fixture(autouse=True)
def default_forks():
    yield
    parallel.set_forks(None)


def peak_of(members, bound, limit=None):
    """The most actions seen running at once; a barrier of `bound` passes only when that many run together."""
    active, peak, lock = [0], [0], threading.Lock()
    together = threading.Barrier(bound, timeout=10)

    def action(m):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        together.wait()
        with lock:
            active[0] -= 1
        return ""

    result = run_parallel(members, action, limit=limit)
    assert not result.failed
    return peak[0]


def test_every_step_handles_at_most_forks_hosts_at_once_and_the_rest_wait_their_turn():
    parallel.set_forks(3)
    members = [Host(f"h{i}") for i in range(9)]
    assert peak_of(members, 3) == 3
    assert [m.report.rows for m in members[:3]] == [[], [], []]
    assert all(m.report.rows == ["waiting its turn (3 hosts at a time)"] for m in members[3:])


def test_the_default_bound_is_30_and_a_steps_own_limit_stays_lower():
    assert parallel.forks() == 30
    assert peak_of([Host(f"h{i}") for i in range(60)], 30) == 30
    parallel.set_forks(4)
    assert peak_of([Host(f"h{i}") for i in range(8)], 2, limit=2) == 2


def test_the_flag_beats_the_inventory_which_beats_the_default(monkeypatch):
    monkeypatch.setattr(session, "connect_all", lambda *a: StepResult())
    monkeypatch.setattr(session, "resolve_all", lambda *a: StepResult())
    inv = parse({"cluster": {"forks": 5}, "hosts": HOSTS})
    session.open_run(None, inv, {}, {}, False)
    assert parallel.forks() == 5
    session.open_run(None, inv, {}, {}, False, forks=2)
    assert parallel.forks() == 2
    session.open_run(None, parse({"hosts": HOSTS}), {}, {}, False)
    assert parallel.forks() == 30


@pytest.mark.parametrize("value", [0, 1001, "8", True])
def test_a_bad_cluster_forks_is_named_in_the_inventory(value):
    with pytest.raises(InventoryError, match=r"cluster\.forks: expected a whole number from 1 to 1000"):
        parse({"cluster": {"forks": value}, "hosts": HOSTS})


def u7s(tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM", "FLUX", "U7S_", "INVOKE_"))}
    env.update(HOME=str(tmp_path), PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "u7s", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)


def test_a_bad_forks_flag_is_one_line_and_no_host_is_opened(tmp_path):
    (tmp_path / "hosts.yaml").write_text("hosts:\n- {name: cp, address: 192.0.2.1, role: control-plane}\n")
    r = u7s(tmp_path, "cluster.status", "--forks", "0")
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        "u7s: --forks: 0 is out of range 1..1000; give how many hosts to handle at once, from 1 to 1000"]


def test_cluster_tasks_list_forks_in_their_help(tmp_path):
    r = u7s(tmp_path, "--help", "cluster.create")
    assert r.returncode == 0 and "--forks=" in r.stdout and "cluster.forks" in r.stdout
