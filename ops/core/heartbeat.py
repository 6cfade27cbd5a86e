"""A progress line while a blocking call waits, so no task is silent for more than a few seconds.

A registry or endpoint that accepts the connection and never answers would otherwise leave the
terminal quiet until a timeout tens of seconds later; the line says what is awaited, and since
when, so a person can tell a slow network from a hang and press Ctrl-C knowingly.

Heartbeats share one clock of silence: a line any of them prints, or a beat() (a task's own
progress line), quiets them all, so nested waits (an HTTP call inside a push) print one line
per interval, not one each. `what` may change while it runs (the build names its step).
"""
import threading
import time

EVERY = 4.0   # seconds of silence before a line: under the 5 s a person waits before worrying


class _Shown:
    """When any heartbeat last printed, or was told something else was shown."""
    at = 0.0


class Heartbeat:
    """`with Heartbeat("ECR DescribeRepositories"):` prints 'still waiting' while it blocks;
    beat() says something else was just shown, restarting the quiet interval."""

    def __init__(self, what, progress=None, every=None):
        from ops.core.console import progress as to_stderr

        self.what, self.progress = what, progress or to_stderr
        self.every = EVERY if every is None else every
        self._stop = threading.Event()
        self._last = self._started = time.monotonic()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def beat(self):
        self._last = _Shown.at = time.monotonic()

    def relay(self, progress, show=True):
        """A progress function for the task's own lines while this heartbeat runs: each line
        is shown when `show` (a beat), and is what a "still waiting" line names either way,
        so a quiet build still says at which step it waits."""
        base = self.what

        def shown(line):
            self.what = f"{base} ({line[:100]})"
            if show:
                progress(line)
                self.beat()
        return shown

    def _watch(self):
        while not self._stop.wait(min(0.5, self.every / 4)):
            now = time.monotonic()
            if now - max(self._last, _Shown.at) >= self.every:
                self._last = _Shown.at = now
                self.progress(f"{self.what}: still waiting ({now - self._started:.0f}s)")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=1)
        return False
