"""ops.engine.locks: one task per container name. Real processes hold real flocks here (no
engine is contacted): the second caller gets one line naming the holder's pid and task, a
lock ends with its holder however it ends, and run, dev and demo stop before touching
anything. A seeded random schedule of processes never has two holders at once."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from ops.core.errors import OpsError
from ops.engine import locks
from tests.unit.unit_support import ROOT

HOLDER = """import sys
from ops.engine import locks
with locks.holding(sys.argv[1], sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()
"""


class Holder:
    """Another process holding `name` for `task` until stopped."""

    def __init__(self, name, task="dev"):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, name, task], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "held"
        self.pid = self.proc.pid

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc.stdin.close()


@pytest.fixture
def holder():
    started = []

    def start(name="tasky-unit", task="dev"):
        started.append(Holder(name, task))
        return started[-1]
    yield start
    for one in started:
        if one.proc.poll() is None:
            one.kill()


def test_a_second_task_on_the_name_gets_one_line_naming_the_holder(holder):
    other = holder("tasky-unit", "dev")
    with pytest.raises(OpsError) as caught:
        with locks.holding("tasky-unit", "run"):
            pytest.fail("two holders of one name")
    assert caught.value.message == f"container name tasky-unit is in use by pid {other.pid} " \
                                   "(inv dev)"
    assert f"kill {other.pid}" in caught.value.fix and caught.value.anchor == "name-in-use"
    other.stop()
    with locks.holding("tasky-unit", "run"):   # free once the holder ended
        pass


def test_a_killed_holder_holds_nothing(holder):
    holder("tasky-unit").kill()
    with locks.holding("tasky-unit", "run"):
        pass


def test_other_names_and_other_engines_are_not_held(holder, monkeypatch):
    holder("tasky-unit")
    with locks.holding("tasky-other", "run"):
        pass
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.9:2375")
    with locks.holding("tasky-unit", "run"):
        pass


def test_the_holder_enters_again_and_says_who_it_is_while_it_holds():
    with locks.holding("tasky-unit", "demo"):
        with locks.holding("tasky-unit", "run"):   # demo starts the app itself
            written = json.loads(open(locks.lock_file("tasky-unit")).read())
        assert (written["pid"], written["task"]) == (os.getpid(), "inv demo")
    assert open(locks.lock_file("tasky-unit")).read() == ""   # nothing stale left behind


def test_a_lock_directory_others_can_write_is_refused(tmp_path, monkeypatch):
    shared = tmp_path / "tasky-ops"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    with pytest.raises(OpsError, match="is not a directory private to this user"):
        locks.lock_file("tasky-unit")


# --- run, dev and demo stop before touching anything ---------------------------------------

class Untouchable:
    """An engine whose image exists and which fails the test on anything else."""

    class Images:
        def get(self, ref):
            return object()

    images = Images()

    def __getattr__(self, name):
        pytest.fail(f"the engine was touched: {name}")


def test_run_dev_and_demo_stop_at_a_held_name_without_touching_anything(holder, monkeypatch):
    import dataclasses

    from ops.flows import demo, dev
    from ops.run import containers
    from ops.settings.config import Settings

    other = holder("tasky-unit", "dev")
    settings = Settings(container="tasky-unit")
    monkeypatch.setattr(dev.docker_build, "check_inputs", lambda s: None)
    calls = [lambda: containers.run(Untouchable(), settings),
             lambda: dev.dev(Untouchable(), settings, changes=[], report=print),
             lambda: demo.demo(Untouchable(), dataclasses.replace(settings), git=None)]
    for call in calls:
        with pytest.raises(OpsError) as caught:
            call()
        assert f"in use by pid {other.pid} (inv dev)" in caught.value.message


def test_verify_names_no_container_so_it_holds_no_name():
    """verify's one container is unnamed (Docker picks a name): nothing for two verifies, or a
    verify beside `inv dev`, to race for; its create call must stay without a name."""
    import ast

    source = (ROOT / "ops/gates/verify.py").read_text()
    creates = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)
               and getattr(node.func, "attr", None) == "create"]
    assert creates and all("name" not in {k.arg for k in node.keywords} for node in creates)


# --- a seeded random schedule of real processes ---------------------------------------------

WORKER = """import json, random, sys, time
from ops.core.errors import OpsError
from ops.engine import locks
seed, out = int(sys.argv[1]), open(sys.argv[2], "a")
rng = random.Random(seed)
for attempt in range(6):
    time.sleep(rng.uniform(0, 0.05))
    try:
        with locks.holding("tasky-race", "run"):
            start = time.time()
            time.sleep(rng.uniform(0, 0.04))
            out.write(json.dumps(["held", start, time.time()]) + "\\n")
            out.flush()
    except OpsError as error:
        out.write(json.dumps(["refused", time.time(), error.message]) + "\\n")
        out.flush()
"""


@pytest.mark.parametrize("seed", [1, 17, 2024])
def test_a_random_schedule_never_has_two_holders_and_each_refusal_names_a_real_holder(
        seed, tmp_path):
    rng = random.Random(seed)
    logs = [tmp_path / f"worker-{n}.log" for n in range(4)]
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(rng.randrange(10**6)),
                                 str(log)], cwd=ROOT) for log in logs]
    pids = [w.pid for w in workers]
    assert all(w.wait(timeout=60) == 0 for w in workers)
    holds, refusals = [], []
    for pid, log in zip(pids, logs):
        for line in log.read_text().splitlines():
            kind, *rest = json.loads(line)
            (holds if kind == "held" else refusals).append((pid, *rest))
    holds.sort(key=lambda hold: hold[1])
    for (_, _, end), (_, start, _) in zip(holds, holds[1:]):
        assert start >= end, "two processes held one name at once"
    assert holds and len(holds) + len(refusals) == 4 * 6
    for pid, at, message in refusals:
        named = int(message.split("in use by pid ")[1].split()[0])
        assert named != pid and named in pids, message
        # The named process held the name at some time around the refusal.
        assert any(holder == named and start - 0.5 <= at <= end + 0.5
                   for holder, start, end in holds), message


def test_signals_end_a_holder_too(holder):
    other = holder("tasky-unit")
    os.kill(other.pid, signal.SIGTERM)
    other.proc.wait(timeout=10)
    deadline = time.monotonic() + 5
    while True:
        try:
            with locks.holding("tasky-unit", "run"):
                break
        except OpsError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
