"""ops/engine/throwaway on an engine in memory: a throwaway container is removed on every
exit path, its output streamed and masked, its command ended by a timeout."""
import time

import pytest

from ops.engine import ownership, throwaway
from tests.unit.fake_engine import Engine, Forever


def run(engine, **options):
    said = []
    result = throwaway.run(engine, "builder", ["go", "test"], role="app-test",
                           progress=said.append, **options)
    return result, said


def test_a_command_that_succeeds_gives_its_lines_and_leaves_nothing():
    engine = Engine(chunks=[b"go version go1.19\nok  ", b"tasky 0.1s\n"], code=0)
    (code, lines), said = run(engine, working_dir="/src")
    assert code == 0 and lines == ["go version go1.19", "ok  tasky 0.1s"] and said == lines
    assert engine.existing == {} and len(engine.removed) == 1
    image, command, options = engine.created[0]
    assert (image, command, options["working_dir"]) == ("builder", ["go", "test"], "/src")
    assert options["labels"][ownership.ROLE] == "app-test"
    assert ownership.INVOCATION in options["labels"]


def test_a_failing_command_gives_its_code_and_is_removed():
    engine = Engine(chunks=[b"FAIL\n"], code=2)
    (code, lines), _ = run(engine)
    assert (code, lines) == (2, ["FAIL"]) and engine.existing == {}


def test_lines_are_masked_before_they_are_kept_or_shown_even_split_across_chunks():
    engine = Engine(chunks=[b"proxy https://u:hunt", b"er2@host/ unreachable\n"])
    (_, lines), said = run(engine, mask=lambda line: line.replace("hunter2", "***"))
    assert lines == said == ["proxy https://u:***@host/ unreachable"]


def test_a_timeout_kills_the_command_gives_no_code_and_removes_it():
    engine = Engine(chunks=[b"downloading\n", Forever])
    started = time.monotonic()
    (code, lines), _ = run(engine, timeout=0.2)
    assert code is None and lines == ["downloading"]
    assert time.monotonic() - started < 5 and engine.existing == {}


def test_a_command_done_before_its_timeout_keeps_its_code():
    engine = Engine(chunks=[b"done\n"], code=1)
    (code, _), _ = run(engine, timeout=30)
    assert code == 1 and engine.existing == {}


def test_ctrl_c_while_the_output_streams_removes_the_container():
    engine = Engine(chunks=[b"compiling\n", KeyboardInterrupt()])
    with pytest.raises(KeyboardInterrupt):
        run(engine)
    assert engine.existing == {} and len(engine.removed) == 1


def test_ctrl_c_between_create_and_start_removes_the_container():
    engine = Engine(failures={"start": KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):
        run(engine)
    assert engine.existing == {} and len(engine.removed) == 1


def test_ctrl_c_inside_create_still_finds_the_container_by_its_label():
    engine = Engine(failures={"create": KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):
        run(engine)
    assert engine.existing == {} and len(engine.removed) == 1


def test_a_signal_while_the_engine_creates_is_held_until_the_id_is_registered():
    """The race of issue 17: a create cut short left a container the engine finished after
    the clean-up had looked. Held, the id is registered first, so it is removed by id even
    when the engine cannot list by label, and it is never started."""
    import os
    import signal

    import docker

    from ops.core import signals

    signals.install()
    try:
        engine = Engine(failures={
            "create": lambda: os.kill(os.getpid(), signal.SIGTERM),
            "list": docker.errors.DockerException("cannot list")})
        with pytest.raises(signals.Interrupted) as caught:
            run(engine)
        assert caught.value.code == 143
        assert engine.existing == {} and len(engine.removed) == 1
        assert not any(c.started for c in engine.created_containers)
    finally:
        for signum in signals.HANDLED:
            signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT
                          else signal.SIG_DFL)
        signals._State.received = []


def test_owned_create_puts_our_labels_over_the_callers():
    engine = Engine()
    with ownership.Owned(engine, "verify") as ours:
        ours.create("tasky", labels={"x": "1", ownership.ROLE: "spoofed"}, detach=True)
        assert ours.ids == [engine.created_containers[0].id]
    labels = engine.created[0][2]["labels"]
    assert labels["x"] == "1" and labels[ownership.ROLE] == "verify"
    assert engine.existing == {}
