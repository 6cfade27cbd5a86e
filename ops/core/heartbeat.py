"""A progress line while a blocking call waits, so no task is silent for more than a few seconds.

A registry or endpoint that accepts the connection and never answers would otherwise leave the
terminal quiet until a timeout tens of seconds later; the line says what is awaited, and since
when, so a person can tell a slow network from a hang and press Ctrl-C knowingly.
"""
import threading
import time

EVERY = 4.0   # seconds of silence before a line: under the 5 s a person waits before worrying


class Heartbeat:
    """`with Heartbeat("ECR DescribeRepositories"):` prints 'still waiting' while it blocks;
    beat() says something else was just shown, restarting the quiet interval."""

    def __init__(self, what, progress=None, every=EVERY):
        from ops.core.console import progress as to_stderr

        self.what, self.progress, self.every = what, progress or to_stderr, every
        self._stop = threading.Event()
        self._last = self._started = time.monotonic()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def beat(self):
        self._last = time.monotonic()

    def _watch(self):
        while not self._stop.wait(min(0.5, self.every / 4)):
            now = time.monotonic()
            if now - self._last >= self.every:
                self._last = now
                self.progress(f"{self.what}: still waiting ({now - self._started:.0f}s)")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=1)
        return False
