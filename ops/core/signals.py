"""SIGINT, SIGTERM and SIGHUP all end a task the same way: as an exception.

Python turns only SIGINT into KeyboardInterrupt; SIGTERM (docker stop, CI cancel, systemd) and
SIGHUP (a closed terminal) kill the process outright, so no `finally` runs and whatever the
task made stays behind. Here all three raise Interrupted, a KeyboardInterrupt, so every
clean-up written for Ctrl-C runs for them too, and the exit code is 128 + the signal.
A second signal while cleaning up is ignored (the clean-up is short); a third quits at once.

Before a task begins (from tasks.py's import, while Invoke parses) and after it ends, a signal
ends the process with the same exit code at once: nothing is made then, and Invoke itself
would turn the interrupt into exit 1.

Once a signal has arrived the task is cancelled: it writes nothing more. A write of what the
task makes goes through writing(), which refuses once cancelled; a step that must not be cut
in two (a container created and registered for clean-up; two renames) runs under held(),
and a signal that arrives inside it is raised as soon as it ends.
"""
import contextlib
import os
import signal
import sys
import threading

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def code(self):
        return 128 + self.signum


class _State:
    received = []
    holding = 0       # depth of held() sections in the main thread
    pending = None    # a signal that arrived in one, raised when the outermost ends


def _handler(signum, frame):
    _State.received.append(signum)
    if len(_State.received) == 1:
        if _State.holding:
            _State.pending = signum
            return
        raise Interrupted(signum)
    if len(_State.received) == 2:
        print("still cleaning up what this task made; signal again to quit without it",
              file=sys.stderr, flush=True)
        return
    os._exit(128 + signum)


def _outside_task(signum, frame):
    """Before the task begins or after it ended: nothing of it to clean up, so exit now with
    the signal's code. An exception would not do: Invoke turns a KeyboardInterrupt into exit
    1, and one raised in an exit-time finalizer is printed as a traceback and ignored."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, RuntimeError):   # closed, or cut mid-write by us
            pass
    os.write(2, f"interrupted ({signal.Signals(signum).name})\n".encode())
    os._exit(128 + signum)


def install():
    """Route the three signals to Interrupted (main thread only, as Python requires)."""
    _State.received, _State.holding, _State.pending = [], 0, None
    return _route(_handler)


def install_outside_task():
    """From tasks.py's import on, in an `inv` process only (a test runner importing tasks.py
    keeps its own Ctrl-C): a signal exits at once with 128 + its number."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if (spec is not None and spec.name.startswith("invoke")) or \
            os.path.basename(sys.argv[0] if sys.argv else "") in ("inv", "invoke"):
        return _route(_outside_task)
    return False


def _route(handler):
    for signum in HANDLED:
        try:
            signal.signal(signum, handler)
        except ValueError:   # not the main thread (a test runner's worker): leave as is
            return False
    return True


def cancelled():
    """True once a signal has arrived in this task."""
    return bool(_State.received)


def checkpoint():
    """Raise Interrupted when a signal has arrived: the task stops before its next step,
    even where the first one was swallowed (a library catching KeyboardInterrupt)."""
    if _State.received:
        raise Interrupted(_State.received[0])


@contextlib.contextmanager
def held():
    """A step that no signal cuts in two: one arriving inside is raised as the step ends.
    For short steps only (an engine call bounded by its timeout, a rename); in a thread
    other than the main one, signals never land anyway."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _State.holding += 1
    try:
        yield
    finally:
        _State.holding -= 1
        if not _State.holding and _State.pending is not None:
            signum, _State.pending = _State.pending, None
            raise Interrupted(signum)


@contextlib.contextmanager
def writing():
    """A write of what the task makes (a file, a folder moved into place): refused once a
    signal has arrived, and never cut in two by one."""
    with held():
        checkpoint()
        yield


def received(exc):
    """(name, exit code) of the signal that ended the task: 130 for Ctrl-C, 143 for SIGTERM,
    129 for SIGHUP. A library that turns our Interrupted into a KeyboardInterrupt of its own
    (watchfiles does, in inv dev) loses the signal: the first one received still says it."""
    signum = getattr(exc, "signum", None) or (_State.received[0] if _State.received
                                              else signal.SIGINT)
    return signal.Signals(signum).name, 128 + signum
