"""`inv dev` as a user runs it: a real process on a temp copy of the context, the real
engine, real saves, Ctrl-C as SIGINT. What is served is read from the app itself (/healthz
reports the version each cycle bakes in) and from the engine, never from timing."""
import json
import queue
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import docker
import pytest

from tests.integration.helpers import IMAGE, ROOT

VERSION_LABEL = "org.opencontainers.image.version"
WAIT = 300   # seconds: the first build may be cold on a fresh engine


class Dev:
    """A running `inv dev --json`: its records as they come, its stderr kept for failures."""

    def __init__(self, inv, context, **env):
        self.proc = subprocess.Popen(
            inv.command("dev", "--offline", "--json"), cwd=ROOT,
            env={**inv.env, "INVOKE_TASKY_CONTEXT": str(context), **env},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.records, self.stderr = queue.Queue(), []
        self.readers = [threading.Thread(target=self._read, args=(stream, put), daemon=True)
                        for stream, put in ((self.proc.stdout, self.records.put),
                                            (self.proc.stderr, self.stderr.append))]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _read(stream, put):
        for line in stream:
            put(line.rstrip("\n"))

    def next(self, timeout=WAIT):
        """The next cycle record; fails with what the process said if none comes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.records.get(timeout=1)
            except queue.Empty:
                if self.proc.poll() is not None and self.records.empty():
                    break
                continue
            try:
                return json.loads(line)
            except ValueError:
                pytest.fail(f"inv dev printed a line that is not a record: {line!r}")
        pytest.fail(f"no cycle record from inv dev (exit {self.proc.poll()}):\n"
                    + "\n".join(self.stderr[-30:]))

    def interrupt(self, signum=signal.SIGINT):
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout=120)
        for reader in self.readers:   # every line it wrote, read before the test looks
            reader.join(timeout=10)
        return code

    def said(self, text, timeout=10):
        """Whether a stderr line holds text, waited for: stdout's record can be read before
        the progress lines written ahead of it on the other pipe."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.stderr):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def kill(self):
        """After a failed test: Ctrl-C first, so the loop removes what it made (its builder
        too); SIGKILL only when that does not end it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


@pytest.fixture
def context(tmp_path):
    copy = tmp_path / "app"
    shutil.copytree(ROOT / "app", copy, ignore=shutil.ignore_patterns("vendor"))
    return copy


@pytest.fixture
def dev(inv, context, container_cleanup):
    container_cleanup.append(inv.container)   # whatever happens, the container goes
    running = Dev(inv, context)
    yield running
    running.kill()


def get(inv, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{inv.port}{path}", timeout=5) as response:
        return response.read().decode()


def served_version(inv):
    return json.loads(get(inv, "/healthz"))["version"]


def dev_images(engine):
    """The images dev loops of this session built: our name, a per-cycle version."""
    return [image for image in engine.images.list(filters={"label": f"org.tasky-ops.image={IMAGE}"})
            if "+dev." in (image.labels or {}).get(VERSION_LABEL, "")]


def edit(path, text):
    path.write_text(path.read_text() + text)


def builders(engine):
    """The fast path's builder containers of this session's image."""
    return engine.containers.list(all=True, filters={"label": [
        "org.tasky-ops.role=dev-builder", f"org.tasky-ops.image={IMAGE}"]})


def gone(engine, containers):
    """Whether every one of these containers is gone from the engine."""
    for container in containers:
        try:
            engine.containers.get(container.id)
            return False
        except docker.errors.NotFound:
            pass
    return True


def test_a_go_edit_takes_the_fast_path_asset_edits_are_mounted_ctrl_c_cleans_up(
        inv, engine, dev, context):
    first = dev.next()
    assert first["action"] == "started", first
    assert first["builder"].startswith("BuildKit")   # the engine here has it
    assert served_version(inv) == first["version"]
    container = engine.containers.get(inv.container)
    first_image = container.image.id
    [builder] = builders(engine)   # this loop's: another test's are gone by now
    folder = next(m["Source"] for m in container.attrs["Mounts"]
                  if m["Destination"] == "/tasky-dev/bin")

    edit(context / "store.go", "\n// an edit inv dev must see\n")
    second = dev.next()
    assert (second["action"], second["changed"], second["path"]) == (
        "rebuilt", ["store.go"], "go build"), second
    assert "line" in second["builder"] and second["version"] != first["version"]
    assert served_version(inv) == second["version"]   # -X version, from the Dockerfile's line
    same = engine.containers.get(inv.container)
    assert same.id == container.id and same.image.id == first_image   # restarted in place
    assert same.attrs["Config"]["User"] == "10001:10001"   # the release stage's user
    users = [row[1] for row in same.top(ps_args="-o pid,user")["Processes"]]
    assert len(users) == 2 and set(users) == {"10001"}   # the supervisor and the app
    assert str(context / "assets") in [m["Source"] for m in same.attrs["Mounts"]]

    edit(context / "assets" / "style.css", "\n/* served live */\n")
    third = dev.next()
    assert (third["action"], third["changed"]) == ("mounted", ["assets/style.css"]), third
    assert get(inv, "/style.css").endswith("/* served live */\n")
    assert served_version(inv) == second["version"]    # no rebuild for an asset

    assert dev.interrupt() == 130
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(inv.container)
    assert gone(engine, [builder]) and not Path(folder).parent.exists()
    left = dev_images(engine)
    assert [image.labels[VERSION_LABEL] for image in left] == [first["version"]]
    assert left[0].tags == [f"{IMAGE}:dev"]
    assert "Traceback" not in "\n".join(dev.stderr)


def test_a_go_mod_change_falls_back_to_the_image_build_saying_so(inv, engine, dev, context):
    first = dev.next()
    assert first["action"] == "started", first
    serving = engine.containers.get(inv.container)

    edit(context / "go.mod", "\n")
    second = dev.next()
    assert (second["action"], second["path"], second["changed"]) == (
        "rebuilt", "image", ["go.mod"]), second
    assert second["builder"].startswith("BuildKit")
    assert dev.said("go.mod is not Go source outside vendor/: the fast path cannot take it; "
                    "rebuilding the image"), dev.stderr[-5:]
    container = engine.containers.get(inv.container)
    assert container.id != serving.id
    assert container.image.labels[VERSION_LABEL] == second["version"]
    assert served_version(inv) == second["version"]

    edit(context / "store.go", "\n// the fast path again, on the new image\n")
    third = dev.next()
    assert third["path"] == "go build" and served_version(inv) == third["version"]
    ours = builders(engine)
    assert dev.interrupt() == 130
    assert [image.labels[VERSION_LABEL] for image in dev_images(engine)] == [second["version"]]
    assert ours and gone(engine, ours)


def test_a_dockerfile_the_fast_path_cannot_read_rebuilds_the_image_on_every_save(
        inv, engine, context, tmp_path, container_cleanup):
    container_cleanup.append(inv.container)
    theirs = tmp_path / "Dockerfile"
    theirs.write_text((ROOT / "Dockerfile").read_text().replace(
        'ENTRYPOINT ["/app/tasky"]', "ENTRYPOINT /app/tasky"))
    running = Dev(inv, context, INVOKE_TASKY_DOCKERFILE=str(theirs))
    try:
        assert running.next()["action"] == "started"
        edit(context / "store.go", "\n// no fast path for this Dockerfile\n")
        second = running.next()
        assert (second["action"], second["path"]) == ("rebuilt", "image"), second
        assert served_version(inv) == second["version"]
        said = [line for line in running.stderr if "fast path off" in line]
        assert said == ["dev: fast path off (Dockerfile: its last stage does not run "
                        "/app/tasky in the exec form (ENTRYPOINT [\"...\"])): every save "
                        "rebuilds the image"], running.stderr
        assert running.interrupt() == 130
    finally:
        running.kill()


def test_a_failed_build_keeps_the_last_good_container_serving(inv, engine, dev, context):
    first = dev.next()
    assert first["action"] == "started", first
    serving = engine.containers.get(inv.container).id

    store = context / "store.go"
    good = store.read_text()
    edit(store, "\nthis is not Go(\n")
    failed = dev.next()
    assert failed["action"] == "build-failed", failed
    assert "go build" in failed["error"] and "exit code" in failed["error"]
    assert failed["serving"] == first["version"]
    assert dev.said("syntax error")   # the compiler's own words
    assert engine.containers.get(inv.container).id == serving
    assert served_version(inv) == first["version"]   # the old binary still serves

    store.write_text(good)
    fixed = dev.next()
    assert (fixed["action"], fixed["path"]) == ("rebuilt", "go build"), fixed
    assert served_version(inv) == fixed["version"] != first["version"]

    assert dev.interrupt() == 130
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(inv.container)
    assert [image.labels[VERSION_LABEL] for image in dev_images(engine)] == [first["version"]]


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_end_dev_like_every_task_leaving_only_the_dev_image(
        inv, engine, dev, context, signum, code):
    first = dev.next()
    assert first["action"] == "started", first
    edit(context / "store.go", "\n// a second cycle, on the fast path\n")
    second = dev.next()
    assert (second["action"], second["path"]) == ("rebuilt", "go build"), second
    ours = builders(engine)
    assert ours

    assert dev.interrupt(signum) == code
    name = signal.Signals(signum).name
    assert any(f"interrupted ({name})" in line for line in dev.stderr), dev.stderr[-5:]
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(inv.container)
    assert gone(engine, ours)
    left = dev_images(engine)
    assert [image.labels[VERSION_LABEL] for image in left] == [first["version"]]
    assert left[0].tags == [f"{IMAGE}:dev"]
    assert "Traceback" not in "\n".join(dev.stderr)


def test_a_new_build_that_crashes_at_start_gives_way_to_the_previous_image(
        inv, engine, dev, context):
    first = dev.next()
    assert first["action"] == "started", first

    main = context / "main.go"
    good = main.read_text()
    assert "func main() {\n" in good
    main.write_text(good.replace("func main() {\n", "func main() {\n\tif len(os.Args) > 0 {\n"
                                 "\t\tos.Exit(3)\n\t}\n", 1))
    crashed = dev.next()
    assert (crashed["action"], crashed["path"]) == ("start-failed", "go build"), crashed
    assert "exited at start with code 3" in crashed["error"]
    assert crashed["serving"] == first["version"]
    assert served_version(inv) == first["version"]   # the previous binary, back
    running = engine.containers.get(inv.container)
    assert running.status == "running" and running.image.labels[VERSION_LABEL] == first["version"]
    assert engine.images.get(f"{IMAGE}:dev").id == running.image.id
    assert crashed["version"] not in [i.labels[VERSION_LABEL] for i in dev_images(engine)]

    main.write_text(good)   # the loop goes on from the previous binary
    fixed = dev.next()
    assert fixed["action"] == "rebuilt" and served_version(inv) == fixed["version"]
    assert dev.interrupt() == 130
    assert [image.labels[VERSION_LABEL] for image in dev_images(engine)] == [first["version"]]
