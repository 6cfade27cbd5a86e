"""A progress line while a blocking call waits, so no task is silent for more than a few seconds.

A registry or endpoint that accepts the connection and never answers would otherwise leave the
terminal quiet until a timeout tens of seconds later; the line says what is awaited, and since
when, so a person can tell a slow network from a hang and press Ctrl-C knowingly.

Heartbeats share one clock of silence, console.SHOWN: when stderr last showed a person
anything (a progress line, a heartbeat, a beat() for a line shown elsewhere) or, before that,
when the task began. A heartbeat speaks once that silence reaches `every` seconds, so nested
waits (an HTTP call inside a push) print one line per interval, not one each, and a wait that
begins after silent work speaks sooner, though never in its first quarter interval. `what`
may change while it runs (the build names its step). One watcher thread serves them all.
"""
import _thread
import threading
import time

from ops.core import console

EVERY = 4.0   # seconds of silence before a line: under the 5 s a person waits before worrying
IDLE = 0.5    # the watcher's pause when no heartbeat asks for a shorter one


class Heartbeat:
    """`with Heartbeat("ECR DescribeRepositories"):` prints 'still waiting' while it blocks;
    beat() says something else was just shown, restarting the quiet interval."""

    def __init__(self, what, progress=None, every=None):
        self.what, self.progress = what, progress or console.progress
        self.every = EVERY if every is None else every
        self.pause = min(IDLE, self.every / 4)
        self.done = False
        self._started = time.monotonic()

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

    def _due(self, now):
        """Speak when the silence has reached `every`, never in the first quarter interval."""
        floor = self._started - self.every * 3 / 4
        if not self.done and now - max(console.SHOWN.at, floor) >= self.every:
            console.SHOWN.at = now
            self.progress(f"{self.what}: still waiting ({now - self._started:.0f}s)")

    def __enter__(self):
        WATCHER.add(self)
        return self

    def __exit__(self, *exc):
        self.done = True   # no line from here on, even one the watcher is about to print
        WATCHER.remove(self)
        return False


class Watcher:
    """One thread for every heartbeat of the process, started with the first: a wait costs
    no thread start (Thread.start() waits for the new thread to run, which on a busy machine
    is milliseconds, and inv build makes a request per engine call). It looks at the open
    heartbeats, oldest first, every `pause` of the shortest; a line is printed under its lock,
    so a heartbeat that has ended prints nothing after its `with` block."""

    def __init__(self):
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.open = {}   # heartbeat -> None, in the order they began
        self.pause = IDLE
        self.started = False

    def add(self, heartbeat):
        with self.lock:
            self.open[heartbeat] = None
            if not self.started:
                self.started = True
                _thread.start_new_thread(self._run, ())
            elif heartbeat.pause < self.pause:
                self.wake.set()   # it asks for a shorter pause than the watcher sleeps

    def remove(self, heartbeat):
        if self.lock.acquire(timeout=1):   # a line being printed may hold it
            try:
                self.open.pop(heartbeat, None)
            finally:
                self.lock.release()

    def _run(self):
        try:
            while True:
                self.wake.wait(self.pause)
                self.wake.clear()
                with self.lock:
                    now = time.monotonic()
                    for heartbeat in list(self.open):
                        try:
                            heartbeat._due(now)
                        except (OSError, ValueError):   # its stream is gone: it falls silent
                            heartbeat.done = True
                            self.open.pop(heartbeat, None)
                    self.pause = min([IDLE] + [heartbeat.pause for heartbeat in self.open])
        finally:   # ended by a bug in a progress function: the next heartbeat starts another
            with self.lock:
                self.started = False


WATCHER = Watcher()
