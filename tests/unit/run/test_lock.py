"""One run at a time: the controller's cluster lock and a host's lock on this machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from u7s.run import hostlock, lock
from u7s.run.hosts import LocalHost

ROOT = Path(__file__).resolve().parents[3]


def test_a_second_run_is_refused_naming_the_holder(tmp_path):
    path = str(tmp_path / "locks" / "c.lock")
    first = lock.FileLock(path, "cluster demo").acquire("u7s cluster.create")
    try:
        with pytest.raises(lock.LockHeld) as caught:
            lock.FileLock(path, "cluster demo").acquire("u7s cluster.up")
        message = str(caught.value)
        assert "cluster demo is in use by `u7s cluster.create`" in message
        assert f"pid {os.getpid()}" in message and "since " in message
        assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    finally:
        first.release()
    again = lock.FileLock(path, "cluster demo").acquire()
    assert again.took_over is None  # a clean end leaves nothing behind
    again.release()


def test_a_lock_left_by_a_killed_run_is_taken_over_and_named(tmp_path):
    path = tmp_path / "c.lock"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from u7s.run import lock
        lock.FileLock({str(path)!r}, "cluster demo").acquire("u7s cluster.create")
        print("held", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(lock.LockHeld, match=f"pid {holder.pid} "):
            lock.FileLock(str(path), "cluster demo").acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    taken = lock.FileLock(str(path), "cluster demo").acquire()
    try:
        assert taken.took_over["pid"] == holder.pid
        assert taken.took_over["command"] == "u7s cluster.create"
    finally:
        taken.release()


def test_the_cluster_lock_is_per_inventory_path_and_cluster_name(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    a = lock.cluster_lock_path(str(tmp_path / "a" / "hosts.yaml"), "demo")
    assert a == lock.cluster_lock_path(str(tmp_path / "a" / ".." / "a" / "hosts.yaml"), "demo")
    assert a != lock.cluster_lock_path(str(tmp_path / "b" / "hosts.yaml"), "demo")
    assert a != lock.cluster_lock_path(str(tmp_path / "a" / "hosts.yaml"), "other")
    assert a.startswith(str(tmp_path / ".local/state/u7s/locks/demo-"))


def test_release_all_ends_every_lock_of_the_task(tmp_path):
    host = LocalHost(None, "h1")
    hostlock.take(host, str(tmp_path / "work"))
    with pytest.raises(lock.LockHeld, match="h1: .*work is in use by"):
        hostlock.take(host, str(tmp_path / "work"))
    lock.release_all()
    hostlock.take(host, str(tmp_path / "work")).release()


def test_the_process_start_time_tells_a_reused_pid_apart():
    assert lock.process_start(os.getpid()) == lock.process_start(os.getpid()) is not None
    assert lock.process_start(2 ** 22 + 1) is None
