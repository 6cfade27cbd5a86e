"""Issue 17, class "interrupts": a signal at a random instant of a real `inv vendor`,
`inv app-test` or `inv demo` leaves nothing the run made, writes nothing after the
"interrupted" line, and exits 128 + the signal.

The instants come from random.Random(seed), drawn over the length of an uninterrupted run of
the same task, counted from the moment the `inv` process has its signal handlers (tasks.py's
import: before that, Python and Invoke themselves answer a signal). The seed is in every
assertion message; TASKY_INTERRUPT_SEED=N replays a run. Five instants a task.

What the run made: containers mounting the run's temporary folders, named or built from the
session's image, and the session's images (ids and tags), compared before and after; for
vendor, the vendor/ folder, snapshotted when the "interrupted" line arrives and again after.
"""
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.integration.helpers import IMAGE, ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "thirdparty-app"
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
INSTANTS = 5
SEED = int(os.environ.get("TASKY_INTERRUPT_SEED") or random.SystemRandom().randrange(10**6))


@pytest.fixture(scope="module")
def scratch():
    """Temporary folders outside pytest's 0700 ones: the Go container runs as their owner."""
    folder = Path(tempfile.mkdtemp(prefix=f"{IMAGE}-interrupts-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def handlers_installed(pid):
    """True once the process catches SIGHUP and SIGTERM (ops.core.signals at tasks.py's
    import); None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    mask = int(line.split()[1], 16)
                    return all(mask & (1 << (s - 1)) for s in (signal.SIGHUP, signal.SIGTERM))
    except OSError:
        return None
    return False


class Made:
    """What carries this session's marks on the engine: containers and images."""

    def __init__(self, engine, folders):
        self.engine, self.folders = engine, [str(f) for f in folders]

    def containers(self):
        found = set()
        for c in self.engine.api.containers(all=True):
            mounts = [m.get("Source") or "" for m in c.get("Mounts") or []]
            names = c.get("Names") or []
            if (any(s.startswith(f) for s in mounts for f in self.folders)
                    or any(n.lstrip("/").startswith(IMAGE) for n in names)
                    or (c.get("Image") or "").startswith(IMAGE)
                    or (c.get("Labels") or {}).get("org.tasky-ops.image") == IMAGE):
                found.add((c["Id"][:12], tuple(names), c.get("State")))
        return found

    def images(self):
        return {(i["Id"], tuple(sorted(i.get("RepoTags") or [])))
                for i in self.engine.api.images(all=True)
                if any(t.startswith(f"{IMAGE}:") for t in i.get("RepoTags") or [])
                or (i.get("Labels") or {}).get("org.tasky-ops.image") == IMAGE}

    def snapshot(self):
        return self.containers(), self.images()

    def settled(self, before, limit=5.0):
        """The state once the engine has finished what it was asked (a removal it had
        under way answers 409 and ends a moment later)."""
        deadline = time.monotonic() + limit
        while True:
            now = self.snapshot()
            if now == before or time.monotonic() > deadline:
                return now
            time.sleep(0.2)


def tree(folder):
    """vendor/ as files and sizes, or None when absent."""
    if not folder.exists():
        return None
    return sorted((str(p.relative_to(folder)), p.stat().st_size if p.is_file() else -1)
                  for p in folder.rglob("*"))


class Run:
    """One `inv TASK` with a signal at `delay` seconds after its handlers are in place."""

    def __init__(self, inv, task, env, watch=None):
        self.proc = subprocess.Popen(inv.command(task), cwd=ROOT, env={**inv.env, **env},
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.watch, self.at_line, self.err = watch, "unseen", []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        deadline = time.monotonic() + 60
        while handlers_installed(self.proc.pid) is False and time.monotonic() < deadline:
            time.sleep(0.002)

    def _read(self):
        for line in self.proc.stderr:
            if line.startswith("interrupted (") and self.watch is not None:
                self.at_line = tree(self.watch)
            self.err.append(line)

    def signal_after(self, delay, signum):
        time.sleep(delay)
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        out = self.proc.stdout.read()
        self.proc.wait(timeout=180)
        self.reader.join(timeout=10)
        return self.proc.returncode, out, "".join(self.err)


def timed(inv, task, env):
    started = time.monotonic()
    proc = inv(task, env=env, timeout=300)
    assert proc.returncode == 0, proc.output
    return time.monotonic() - started


def interrupt_at_random(inv, made, task, env, span, check=None, watch=None, prepare=None,
                        after_success=None):
    rng = random.Random(f"{SEED}-{task}")
    for number in range(INSTANTS):
        delay, signum = rng.uniform(0.0, span), rng.choice(SIGNALS)
        said = f"seed {SEED}: inv {task}, {signal.Signals(signum).name} at {delay:.3f} s " \
               f"(instant {number + 1} of {INSTANTS})"
        if prepare:
            prepare(number)
        before = made.snapshot()
        watched = tree(watch) if watch else None
        run = Run(inv, task, env, watch)
        code, out, err = run.signal_after(delay, signum)
        assert "Traceback" not in err, f"{said}\n{err}"
        # Finished before the signal, or killed by it in Python's own exit once the result
        # was out (a shell says 128 + the signal then too): what success keeps is allowed.
        if code == 0 or (code == -signum and out.strip()):
            if after_success:
                after_success()
        else:
            assert code == 128 + signum, f"{said}: exit {code}\n{err}"
            assert f"interrupted ({signal.Signals(signum).name})" in err, f"{said}\n{err}"
        after = made.settled(before)
        assert after[0] - before[0] == set(), f"{said}: containers left {after[0] - before[0]}"
        assert after[1] == before[1], f"{said}: images changed {after[1] ^ before[1]}"
        if check:
            check(said, watched, run)


def test_signals_during_vendor_leave_nothing_and_vendor_as_it_was_or_whole(
        inv, engine, proxy, scratch):
    app = scratch / "vendor-app"
    shutil.copytree(FIXTURE, app)
    env = {"INVOKE_TASKY_CONTEXT": str(app), "GOPROXY": f"file://{proxy}"}
    made = Made(engine, [scratch])
    span = timed(inv, "vendor", env)
    whole = tree(app / "vendor")
    assert whole and ("modules.txt", (app / "vendor" / "modules.txt").stat().st_size) in whole

    def prepare(number):   # every other run starts with no vendor/ at all
        if number % 2:
            shutil.rmtree(app / "vendor", ignore_errors=True)

    def check(said, before, run):
        now = tree(app / "vendor")
        assert now in (before, whole), f"{said}: vendor/ half written"
        assert run.at_line in ("unseen", now), f"{said}: vendor/ changed after the line"
        assert not list(app.glob(".tasky-vendor-*")), f"{said}: staging folder left"
        time.sleep(1.0)
        assert tree(app / "vendor") == now, f"{said}: vendor/ changed after the process ended"

    interrupt_at_random(inv, made, "vendor", env, span, check=check, watch=app / "vendor",
                        prepare=prepare)


def test_signals_during_app_test_leave_nothing(inv, engine, scratch):
    app = scratch / "app-test-app"
    shutil.copytree(ROOT / "app", app)
    env = {"INVOKE_TASKY_CONTEXT": str(app)}
    made = Made(engine, [scratch])
    span = timed(inv, "app-test", env)
    interrupt_at_random(inv, made, "app-test", env, span)


def test_signals_during_demo_leave_nothing_running(inv, engine, built, scratch):
    made = Made(engine, [scratch])

    def stop():
        assert inv("stop").returncode == 0

    span = timed(inv, "demo", {})   # warm: the image and its tags exist before the signals
    stop()
    interrupt_at_random(inv, made, "demo", {}, span, after_success=stop)
    assert made.containers() == set(), f"seed {SEED}: {made.containers()}"
