"""The one poll loop: every wait for a state (a container healthy, a scan done, a registry
answering) goes through wait_until, so each is bounded, backs off the same way and is never
silent for more than the heartbeat's interval.
"""
import threading
import time

from ops.core.heartbeat import Heartbeat

FIRST, MOST = 0.1, 1.0   # seconds between polls: quick at first, then no faster than 1/s


class Waited:
    """What a wait ended with: the value ready() gave (None when it timed out), and when."""

    def __init__(self, value, seconds, timed_out):
        self.value, self.seconds, self.timed_out = value, seconds, timed_out

    def __bool__(self):
        return not self.timed_out


def wait_until(ready, *, timeout, what, progress=None, first=FIRST, most=MOST,
               clock=time.monotonic, sleep=time.sleep, heartbeat=True, every=None):
    """Call ready() until it returns something other than None, or until timeout seconds.

    ready() is always called at least once, and once more at the deadline, so a state
    reached during the last pause is seen. Pauses double from `first` up to `most`, never
    past the deadline. While waiting, a heartbeat line names `what` every few seconds.
    ready() may raise to end the wait early (a container that exited, say).
    """
    started = clock()
    deadline = started + max(0.0, timeout)
    pause = first
    beat = Heartbeat(what, progress, every) if heartbeat else None
    if beat is not None:
        beat.__enter__()
    try:
        while True:
            value = ready()
            now = clock()
            if value is not None:
                return Waited(value, now - started, False)
            if now >= deadline:
                return Waited(None, now - started, True)
            sleep(min(pause, max(0.0, deadline - now)))
            pause = min(pause * 2, most)
    finally:
        if beat is not None:
            beat.__exit__(None, None, None)


def within(seconds, call):
    """call()'s result, or None when it has not returned within `seconds`: one blocking call
    (a probe run in a container, say) that must not hold its caller past a deadline. It is
    left to finish on a daemon thread, which never holds the process open; what it raises is
    raised here when it raises in time."""
    done = {}

    def work():
        try:
            done["value"] = call()
        except Exception as exc:  # noqa: BLE001 (not swallowed: the waiting thread raises it)
            done["error"] = exc

    if seconds <= 0:
        return None
    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(seconds)
    if "error" in done:
        raise done["error"]
    return done.get("value")
