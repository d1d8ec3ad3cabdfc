"""One run at a time per cluster, and interrupted runs converge, on the three-host lab.

Real SSH to the lab's hosts; kubeadm/kubectl/helm in the nodes are the lab image's
TEST STAND-INS (see test_cluster.py). The controller's lock lives under the
controller's HOME (the test's tmp_path); each host's lock in its working directory.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from u7s_cli import NODE, REPO, WORKDIR, u7s

from test_cluster import calls, cluster_inventory  # noqa: F401  (the fixture wipes the lab before and after)

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]


class Started:
    """`u7s ARGS` running in the background, its stderr read line by line as it comes."""

    def __init__(self, *args, cwd):
        env = {**os.environ, "HOME": str(cwd), "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen([sys.executable, "-m", "u7s", *args], cwd=cwd, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self.seen = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            with self.seen:
                self.lines.append(line)
                self.seen.notify_all()

    def wait_for(self, pattern: str, timeout: float = 300) -> str:
        """Block until a stderr line matches (polling the lines as they arrive)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.seen:
            while True:
                found = next((line for line in self.lines if rx.search(line)), None)
                if found:
                    return found
                left = deadline - time.monotonic()
                assert left > 0 and self.proc.poll() is None, \
                    f"no line matching {pattern!r}; exit {self.proc.poll()}\n{''.join(self.lines)}"
                self.seen.wait(min(left, 1.0))

    def finish(self, timeout: float = 600) -> int:
        code = self.proc.wait(timeout)
        time.sleep(0)  # let the reader thread drain
        return code

    def stderr(self) -> str:
        return "".join(self.lines)


def test_a_second_run_is_refused_naming_the_holder_on_the_controller_and_on_the_hosts(
        lab, cluster_inventory, tmp_path):
    first = Started("cluster.create", "--inventory", str(cluster_inventory), cwd=tmp_path)
    try:
        first.wait_for(r"== up ")  # past connecting: it holds the cluster's lock and every host's
        # Same inventory: the controller's lock refuses before any host is touched.
        same = u7s("cluster.up", "--inventory", str(cluster_inventory), cwd=tmp_path, check=False)
        assert same.returncode == 1, same.stderr
        assert re.search(rf"cluster lab \(.*\) is in use by `u7s cluster.create .*` \(pid {first.proc.pid} on "
                         r"\S+, since [0-9-]+ [0-9:]+", same.stderr), same.stderr
        assert "Traceback" not in same.stderr and "== " not in same.stderr
        # A copy of the inventory elsewhere (another controller, in effect): the hosts' locks refuse.
        other = tmp_path / "elsewhere"
        other.mkdir()
        copy = other / "hosts.yaml"
        shutil.copy(cluster_inventory, copy)
        second = u7s("cluster.down", "--inventory", str(copy), cwd=other, check=False)
        assert second.returncode == 1, second.stderr
        for h in lab.hosts:
            assert re.search(rf"{h.name}: \S+ is in use by `u7s cluster.create .*` \(pid {first.proc.pid}",
                             second.stderr), second.stderr
        assert "== down" not in second.stderr and "Traceback" not in second.stderr
    finally:
        code = first.finish()
    assert code == 0, first.stderr()
    # Read-only tasks need no lock, and the locks are free again afterwards.
    u7s("cluster.status", "--json", "--inventory", str(cluster_inventory), cwd=tmp_path)


def test_a_killed_run_leaves_a_stale_lock_that_the_next_run_takes_over(lab, cluster_inventory, tmp_path):
    killed = Started("cluster.create", "--inventory", str(cluster_inventory), cwd=tmp_path)
    killed.wait_for(r"== up ")
    killed.proc.send_signal(signal.SIGKILL)
    killed.finish()
    again = u7s("cluster.create", "--inventory", str(cluster_inventory), cwd=tmp_path)
    assert re.search(rf"took over the lock of `u7s cluster.create .*` \(pid {killed.proc.pid} ", again.stderr), \
        again.stderr


@pytest.mark.extended  # 38 s; Ctrl-C during the network check runs by default
def test_sigint_during_join_then_a_rerun_converges(lab, cluster_inventory, tmp_path):
    cp, *workers = lab.hosts
    run = Started("cluster.create", "--inventory", str(cluster_inventory), cwd=tmp_path)
    run.wait_for(r"== join ")
    run.proc.send_signal(signal.SIGINT)
    code = run.finish()
    assert code == 130, run.stderr()
    assert "u7s: interrupted" in run.stderr() and "Traceback" not in run.stderr()
    assert "== sync-external-ip" not in run.stderr()  # nothing after the interrupted phase started
    for w in workers:  # a join under way finished its script, which is removed; no temporary file left
        workdir = f"{WORKDIR}/{w.name}"
        left = w.ssh(["sh", "-c", f"ls -A {workdir}"]).stdout.split()
        # no half-written file (u7s writes NAME.u7s-RANDOM, then renames it)
        assert "join-command" not in left and not [f for f in left if re.search(r".\.u7s-[0-9a-f]{8}$", f)], left
    again = u7s("cluster.create", "--inventory", str(cluster_inventory), cwd=tmp_path)
    assert "took over" not in again.stderr  # Ctrl-C released the locks
    for w in workers:
        joins = [c for c in calls(w) if c["prog"] == "kubeadm" and c["argv"][0] == "join" and c["rc"] == 0]
        assert len(joins) == 1
    assert any(c["argv"][:2] == ["upgrade", "--install"] for c in calls(cp) if c["prog"] == "helm")


def test_sigint_during_the_network_check_removes_its_listeners_and_device(lab, cluster_inventory, tmp_path):
    run = Started("cluster.create", "--inventory", str(cluster_inventory), cwd=tmp_path)
    run.wait_for(r"== check-network ")
    run.proc.send_signal(signal.SIGINT)
    assert run.finish() == 130, run.stderr()
    assert "== join" not in run.stderr(), "the interrupt came after the check; it proves nothing"
    for h in lab.hosts:
        device = h.docker(["exec", NODE, "ip", "link", "show", "u7s-netcheck"], check=False)
        assert device.returncode != 0, f"{h.name}: the test VXLAN device is left"
        socats = h.docker(["exec", NODE, "sh", "-c", "cat /proc/[0-9]*/comm 2>/dev/null | grep -c '^socat$'"],
                          check=False).stdout.strip()
        assert socats == "0", f"{h.name}: {socats} socat listener(s) left"
    u7s("cluster.create", "--inventory", str(cluster_inventory), cwd=tmp_path)
