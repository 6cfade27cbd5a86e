"""A progress line while a blocking call waits, so no task is silent for more than a few seconds.

A registry or endpoint that accepts the connection and never answers would otherwise leave the
terminal quiet until a timeout tens of seconds later; the line says what is awaited, and since
when, so a person can tell a slow network from a hang and press Ctrl-C knowingly.

Heartbeats share one clock of silence, console.SHOWN: when stderr last showed a person
anything (a progress line, a heartbeat, a beat() for a line shown elsewhere) or, before that,
when the task began. A heartbeat speaks once that silence reaches `every` seconds, so nested
waits (an HTTP call inside a push) print one line per interval, not one each, and a wait that
begins after silent work speaks sooner, though never in its first quarter interval. `what`
may change while it runs (the build names its step).
"""
import threading
import time

from ops.core import console

EVERY = 4.0   # seconds of silence before a line: under the 5 s a person waits before worrying


class Heartbeat:
    """`with Heartbeat("ECR DescribeRepositories"):` prints 'still waiting' while it blocks;
    beat() says something else was just shown, restarting the quiet interval."""

    def __init__(self, what, progress=None, every=None):
        self.what, self.progress = what, progress or console.progress
        self.every = EVERY if every is None else every
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def beat(self):
        console.SHOWN.at = time.monotonic()

    def relay(self, progress, show=True, name=None):
        """A progress function for the task's own lines while this heartbeat runs: each line
        is shown when `show` (a beat); name(line), when given, says what is running after it
        (or None: nothing), which a "still waiting" line names, so a quiet build still says
        at which step it waits."""
        base = self.what

        def shown(line):
            if name is not None:
                running = name(line)
                self.what = f"{base} at {running[:100]}" if running else base
            if show:
                progress(line)
                self.beat()
        return shown

    def _watch(self):
        floor = self._started - self.every * 3 / 4   # never in its first quarter interval
        while not self._stop.wait(min(0.5, self.every / 4)):
            now = time.monotonic()
            if now - max(console.SHOWN.at, floor) >= self.every:
                console.SHOWN.at = now
                self.progress(f"{self.what}: still waiting ({now - self._started:.0f}s)")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=1)
        return False
