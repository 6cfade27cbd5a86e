"""The signal that ended a task decides its exit code, even when a library swallowed ours."""
import os
import signal
import time

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


# --- issue 17: held steps, refused writes, the exit outside a task ------------------------

@pytest.fixture
def handled():
    """Our handlers installed in this (main) thread, Python's own restored afterwards."""
    signals.install()
    yield
    for signum in signals.HANDLED:
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT
                      else signal.SIG_DFL)
    signals._State.received, signals._State.pending, signals._State.holding = [], None, 0


def test_a_signal_inside_a_held_step_is_raised_as_the_step_ends(handled):
    done = []
    with pytest.raises(signals.Interrupted) as caught:
        with signals.held():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)   # where an unheld signal would have raised
            done.append("the rest of the step")
        done.append("after the step")
    assert done == ["the rest of the step"] and caught.value.code == 143


def test_a_signal_outside_any_held_step_is_raised_at_once(handled):
    with pytest.raises(signals.Interrupted):
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(5)


def test_a_write_is_refused_once_a_signal_has_arrived(handled, monkeypatch):
    assert not signals.cancelled()
    with signals.writing():
        pass
    monkeypatch.setattr(signals._State, "received", [signal.SIGINT])   # swallowed by a library
    assert signals.cancelled()
    wrote = []
    with pytest.raises(signals.Interrupted) as caught:
        with signals.writing():
            wrote.append("vendor/")
    assert wrote == [] and caught.value.code == 130
    with pytest.raises(signals.Interrupted):
        signals.checkpoint()


def test_outside_an_inv_process_the_test_runner_keeps_its_own_ctrl_c():
    before = signal.getsignal(signal.SIGINT)
    assert signals.install_outside_task() is False
    assert signal.getsignal(signal.SIGINT) is before
