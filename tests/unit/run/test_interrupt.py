"""Ctrl-C and SIGTERM: steps under way finish, hosts not started are not started, locks are released."""

from __future__ import annotations

import signal
import sys
import threading
import time

import pytest

from u7s import program, session
from u7s.run import parallel
from u7s.run import lock
from u7s.ui.report import Reporter


class Spec:
    def __init__(self, name):
        self.name = name


def main_thread_waits() -> bool:
    """Whether the main thread is waiting for the hosts' results (its stack is in as_completed)."""
    frame = sys._current_frames().get(threading.main_thread().ident)
    while frame is not None:
        if frame.f_code.co_name == "as_completed":
            return True
        frame = frame.f_back
    return False


def poll(condition, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_an_interrupt_lets_running_hosts_finish_and_starts_no_other():
    started, finished = [], []
    seen = threading.Event()

    def on_sigint(signum, frame):
        seen.set()
        raise KeyboardInterrupt

    def action(member):
        started.append(member.name)
        if member.name == "h0":
            assert poll(main_thread_waits), "the main thread never waited for the hosts"
            # As if the user pressed Ctrl-C: the kernel hands a terminal's SIGINT to the main thread.
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            # Still at work when the main thread takes the interrupt (no guess at how long that takes)...
            assert seen.wait(30), "the main thread never took the interrupt"
            time.sleep(0.2)  # ...and a moment after, while it cancels the hosts not started
        finished.append(member.name)
        return ""

    members = [session.Member(Spec(f"h{i}"), Reporter(f"h{i}")) for i in range(3)]
    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        with pytest.raises(KeyboardInterrupt):
            parallel.run_parallel(members, action, limit=1)
    finally:
        signal.signal(signal.SIGINT, previous)
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
