"""The signal that ended a task decides its exit code, even when a library swallowed ours."""
import signal

import pytest

from ops.core import signals


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143),
                                          (signal.SIGHUP, 129)])
def test_our_interrupt_carries_its_signal(signum, code):
    assert signals.received(signals.Interrupted(signum)) == (signal.Signals(signum).name, code)


def test_a_plain_keyboard_interrupt_after_sighup_still_exits_129(monkeypatch):
    """watchfiles raises a KeyboardInterrupt of its own when our handler raised Interrupted."""
    monkeypatch.setattr(signals._State, "received", [signal.SIGHUP])
    assert signals.received(KeyboardInterrupt()) == ("SIGHUP", 129)


def test_ctrl_c_with_no_handler_installed_is_sigint(monkeypatch):
    monkeypatch.setattr(signals._State, "received", [])
    assert signals.received(KeyboardInterrupt()) == ("SIGINT", 130)
