"""ops/core/waiting.wait_until: the one poll loop is bounded, backs off and sees a late state."""
from hypothesis import given, settings
from hypothesis import strategies as st

from ops.core.waiting import wait_until


class Clock:
    def __init__(self):
        self.now, self.pauses = 0.0, []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.pauses.append(seconds)
        self.now += seconds


def test_returns_the_first_value_that_is_not_none():
    clock, answers = Clock(), iter([None, None, "healthy"])
    waited = wait_until(lambda: next(answers), timeout=10, what="x", clock=clock,
                        sleep=clock.sleep, heartbeat=False)
    assert waited and waited.value == "healthy" and clock.pauses == [0.1, 0.2]


def test_a_state_reached_during_the_last_pause_is_seen_at_the_deadline():
    clock = Clock()
    waited = wait_until(lambda: "up" if clock.now >= 1.0 else None, timeout=1.0, what="x",
                        clock=clock, sleep=clock.sleep, heartbeat=False)
    assert waited.value == "up" and clock.now == 1.0


@settings(max_examples=200)
@given(timeout=st.floats(0, 120), first=st.floats(0.01, 2), most=st.floats(0.01, 5))
def test_never_waits_past_the_timeout_and_never_pauses_longer_than_most(timeout, first, most):
    clock = Clock()
    waited = wait_until(lambda: None, timeout=timeout, what="x", first=first, most=most,
                        clock=clock, sleep=clock.sleep, heartbeat=False)
    assert waited.timed_out and waited.value is None
    assert clock.now <= timeout + 1e-9
    assert all(p <= max(first, most) + 1e-9 for p in clock.pauses)


def test_the_heartbeat_names_what_is_awaited_during_a_long_wait():
    import time

    lines = []
    start = time.monotonic()
    waited = wait_until(lambda: "done" if time.monotonic() - start > 0.8 else None, timeout=5,
                        what="registry 127.0.0.1:5000", progress=lines.append, every=0.2)
    assert waited.value == "done"
    assert lines and all(line.startswith("registry 127.0.0.1:5000: still waiting")
                         for line in lines)
