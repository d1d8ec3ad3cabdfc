"""wait_for with a fake clock: no real sleeping."""

import pytest

from u7s.errors import WaitTimeout
from u7s.run.poll import wait_for


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds


def answers(*results):
    it = iter(results)
    calls = []

    def check():
        calls.append(1)
        return next(it)

    return check, calls


def test_returns_at_once_when_the_condition_holds():
    t = FakeTime()
    check, calls = answers((True, "ready"))
    assert wait_for(check, what="x", timeout=10, clock=t.clock, sleep=t.sleep) == "ready"
    assert t.sleeps == [] and len(calls) == 1


def test_polls_until_true_and_backs_off():
    t = FakeTime()
    check, calls = answers((False, "a"), (False, "b"), (False, "c"), (True, "done"))
    assert wait_for(check, what="x", timeout=60, clock=t.clock, sleep=t.sleep) == "done"
    assert t.sleeps == [0.25, 0.375, 0.5625]
    assert len(calls) == 4


def test_back_off_is_capped():
    t = FakeTime()
    check, _ = answers(*[(False, "no")] * 30, (True, "yes"))
    wait_for(check, what="x", timeout=600, clock=t.clock, sleep=t.sleep, max_interval=3.0)
    assert max(t.sleeps) == 3.0
    assert t.sleeps == sorted(t.sleeps)
    assert t.sleeps[-5:] == [3.0] * 5


def test_times_out_naming_what_was_awaited_and_the_last_detail():
    t = FakeTime()

    def never():
        return False, f"systemd is starting (t={t.now - 1000:g})"

    with pytest.raises(WaitTimeout) as caught:
        wait_for(never, what="the node's systemd to boot", timeout=5, clock=t.clock, sleep=t.sleep)
    message = str(caught.value)
    assert message.startswith("timed out after 5s waiting for the node's systemd to boot")
    assert "(last seen: systemd is starting (t=5))" in message
    assert "U7S_TIMEOUT" in message
    # never sleeps past the deadline, and checks once more at the deadline
    assert sum(t.sleeps) == pytest.approx(5)
    assert t.now == pytest.approx(1005)


def test_a_zero_timeout_checks_once():
    t = FakeTime()
    check, calls = answers((False, "not yet"))
    with pytest.raises(WaitTimeout, match="waiting for x"):
        wait_for(check, what="x", timeout=0, clock=t.clock, sleep=t.sleep)
    assert len(calls) == 1 and t.sleeps == []
