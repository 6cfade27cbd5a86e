"""SIGINT, SIGTERM and SIGHUP all end a task the same way: as an exception.

Python turns only SIGINT into KeyboardInterrupt; SIGTERM (docker stop, CI cancel, systemd) and
SIGHUP (a closed terminal) kill the process outright, so no `finally` runs and whatever the
task made stays behind. Here all three raise Interrupted, a KeyboardInterrupt, so every
clean-up written for Ctrl-C runs for them too, and the exit code is 128 + the signal.
A second signal while cleaning up is ignored (the clean-up is short); a third quits at once.
"""
import os
import signal
import sys

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


def _handler(signum, frame):
    _State.received.append(signum)
    if len(_State.received) == 1:
        raise Interrupted(signum)
    if len(_State.received) == 2:
        print("still cleaning up what this task made; signal again to quit without it",
              file=sys.stderr, flush=True)
        return
    os._exit(128 + signum)


def install():
    """Route the three signals to Interrupted (main thread only, as Python requires)."""
    _State.received = []
    for signum in HANDLED:
        try:
            signal.signal(signum, _handler)
        except ValueError:   # not the main thread (a test runner's worker): leave as is
            return False
    return True


def received(exc):
    """(name, exit code) of the signal that ended the task: 130 for Ctrl-C, 143 for SIGTERM,
    129 for SIGHUP. A library that turns our Interrupted into a KeyboardInterrupt of its own
    (watchfiles does, in inv dev) loses the signal: the first one received still says it."""
    signum = getattr(exc, "signum", None) or (_State.received[0] if _State.received
                                              else signal.SIGINT)
    return signal.Signals(signum).name, 128 + signum
