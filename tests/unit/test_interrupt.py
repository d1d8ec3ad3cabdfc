"""Ctrl-C and SIGTERM: steps under way finish, hosts not started are not started, locks are released."""

from __future__ import annotations

import os
import signal
import time

import pytest

from u7s import program, session
from u7s.run import parallel
from u7s.run import lock
from u7s.ui.report import Reporter


class Spec:
    def __init__(self, name):
        self.name = name


def test_an_interrupt_lets_running_hosts_finish_and_starts_no_other():
    started, finished = [], []

    def action(member):
        started.append(member.name)
        if member.name == "h0":
            time.sleep(0.1)  # the main thread is waiting for results by now
            os.kill(os.getpid(), signal.SIGINT)  # as if the user pressed Ctrl-C
            time.sleep(0.3)
        finished.append(member.name)
        return ""

    members = [session.Member(Spec(f"h{i}"), Reporter(f"h{i}")) for i in range(3)]
    with pytest.raises(KeyboardInterrupt):
        parallel.run_parallel(members, action, limit=1)
    assert started == ["h0"] and finished == ["h0"]


def test_sigterm_takes_the_ctrl_c_path():
    with pytest.raises(KeyboardInterrupt):
        program._terminate(signal.SIGTERM, None)


def test_a_task_that_is_interrupted_releases_its_locks(tmp_path):
    from u7s.tasks._common import clean_errors
    from invoke import Exit

    path = str(tmp_path / "c.lock")

    @clean_errors
    def body():
        lock.FileLock(path, "cluster demo").acquire()
        raise KeyboardInterrupt

    with pytest.raises(Exit) as caught:
        body()
    assert caught.value.code == 130
    lock.FileLock(path, "cluster demo").acquire().release()  # free again
