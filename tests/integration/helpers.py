"""What integration tests share: the session's names and a way to run `inv`."""
import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

from tests.support import free_port  # noqa: F401  (re-exported for the tests)

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = uuid.uuid4().hex[:8]
IMAGE = f"tasky-it-{RUN_ID}"
SECRET_MARKERS = ("jwt-" + RUN_ID, "pw-" + RUN_ID)


def docker_required():
    flag = os.environ.get("TASKY_REQUIRE_DOCKER") or os.environ.get("CI") or ""
    return flag.lower() not in ("", "0", "false", "no")


class Inv:
    """Runs `inv` as a user would, with this session's image, container and port."""

    def __init__(self):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_TASKY_")}
        self.env.pop("CI", None)  # tests read progress-free output either way
        self.env.update(INVOKE_TASKY_IMAGE=IMAGE, INVOKE_TASKY_CONTAINER=f"{IMAGE}-app",
                        INVOKE_TASKY_PORT=str(free_port()))

    cwd = ROOT

    @staticmethod
    def command(*args):
        return [sys.executable, "-m", "invoke", *args]

    def __call__(self, *args, env=None, cwd=ROOT, timeout=600):
        proc = subprocess.run(self.command(*args), cwd=cwd,
                              env={**self.env, **(env or {})}, capture_output=True,
                              text=True, timeout=timeout)
        proc.output = proc.stdout + proc.stderr
        return proc

    def json(self, *args, **kw):
        proc = self(*args, "--json", **kw)
        assert proc.returncode == 0, proc.output
        return json.loads(proc.stdout)

    @property
    def port(self):
        return int(self.env["INVOKE_TASKY_PORT"])

    @property
    def container(self):
        return self.env["INVOKE_TASKY_CONTAINER"]




class EngineRelay:
    """A tcp:// address for the real engine (dockerd here listens on its unix socket only).
    Each connection is relayed byte for byte to /var/run/docker.sock, unless `answer` (given
    the request's head) returns bytes to send back instead: an engine configured otherwise."""

    def __init__(self, answer=None):
        self.answer = answer or (lambda head: None)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.host = f"tcp://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(client,), daemon=True).start()

    def serve(self, client):
        head = b""
        while b"\r\n\r\n" not in head:
            block = client.recv(65536)
            if not block:
                client.close()
                return
            head += block
        reply = self.answer(head)
        if reply is not None:
            client.sendall(reply)
            client.close()
            return
        engine = socket.socket(socket.AF_UNIX)
        engine.connect("/var/run/docker.sock")
        engine.sendall(head)
        threading.Thread(target=self.relay, args=(engine, client), daemon=True).start()
        self.relay(client, engine)

    @staticmethod
    def relay(source, sink):
        try:
            while block := source.recv(65536):
                sink.sendall(block)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        self.server.close()


# --- what this session made: ops/engine/ownership.py's rule, asked of the session's records --

def project_ledger(root=ROOT):
    """The ownership record `inv` writes for the checkout at `root` (default cache folder)."""
    from ops.engine.ownership import Ledger
    from ops.settings.config import Settings

    return Ledger(Settings().bases.cache_path, root)


class SessionRecords:
    """The records that say what this session made: `inv`'s in this checkout (entries for the
    session's image names, and stand-in bases), the tests' own (what they made through
    docker-py, recorded as they made it, in a record of the session's own that `inv` never
    reads), and those of the checkout copies tests register."""

    def __init__(self, folder):
        from ops.engine.ownership import Ledger

        self.tests = Ledger(folder, ROOT)
        self.copies = []

    def ledgers(self):
        return [(project_ledger(), self.of_session), (self.tests, None),
                *[(ledger, None) for ledger in self.copies]]

    @staticmethod
    def of_session(entry):
        return (entry.get("image") or "").startswith(IMAGE) or entry.get("role") == "base"

    def entry(self, kind, engine_id):
        for ledger, wanted in self.ledgers():
            found = ledger.entry(kind, engine_id)
            if found is not None and (wanted is None or wanted(found)):
                return ledger
        return None

    def recording(self):
        """While open, what tests make through docker-py (build, create/run, commit) or
        through ops directly (a BuildKit build, the stand-in bases) is recorded as this
        session's."""
        import contextlib

        from docker.models.containers import Container, ContainerCollection
        from docker.models.images import ImageCollection

        from ops.image import buildkit, standins

        tests = self.tests
        build, create, commit = ImageCollection.build, ContainerCollection.create, \
            Container.commit
        buildkit_build, ensure = buildkit.build, standins.ensure

        def recorded_buildkit_build(*args, **kwargs):
            out = buildkit_build(*args, **kwargs)
            tests.record("image", [out["image_id"]], role="test", image=IMAGE)
            return out

        def recorded_ensure(*args, **kwargs):
            return ensure(*args, **{"ledger": tests, **kwargs})

        def recorded_build(collection, **kwargs):
            image, logs = build(collection, **kwargs)
            tests.record("image", [image.id], role="test", image=IMAGE)
            return image, logs

        def recorded_create(collection, image, command=None, **kwargs):
            made = create(collection, image, command, **kwargs)
            tests.record("container", [made.id], role="test", image=IMAGE)
            return made

        def recorded_commit(container, *args, **kwargs):
            made = commit(container, *args, **kwargs)
            tests.record("image", [made.id], role="test", image=IMAGE)
            return made

        @contextlib.contextmanager
        def patched():
            ImageCollection.build, ContainerCollection.create = recorded_build, recorded_create
            Container.commit = recorded_commit
            buildkit.build, standins.ensure = recorded_buildkit_build, recorded_ensure
            try:
                yield self
            finally:
                ImageCollection.build, ContainerCollection.create = build, create
                Container.commit = commit
                buildkit.build, standins.ensure = buildkit_build, ensure

        return patched()

    @staticmethod
    def snapshot(engine):
        """What the engine holds now: image, container and build-cache record ids."""
        from ops.image import build_cache

        # Summaries, one call each: docker-py's models inspect every object, and on a shared
        # engine one removed meanwhile would fail the whole list.
        return ({image["Id"] for image in engine.api.images(all=True)},
                {c["Id"] for c in engine.api.containers(all=True)},
                {record["ID"] for record in build_cache.all_records(engine)})

    def clean(self, engine, before):
        """Remove what the records say this session made and that did not exist `before` (a
        snapshot; a record of this checkout may name older things of the developer's):
        containers, images, and the BuildKit cache its builds recorded. Nothing else,
        whatever its labels or name. Returns the ids removed."""
        import docker

        from ops.image import build_cache

        before_images, before_containers, before_records = before
        removed = []
        for container_id in [c["Id"] for c in engine.api.containers(all=True)]:
            ledger = self.entry("container", container_id)
            if container_id not in before_containers and ledger is not None:
                try:   # one that is going away already must not stop the rest
                    engine.api.remove_container(container_id, force=True)
                    removed.append(container_id)
                except docker.errors.APIError:
                    pass
                ledger.forget("container", [container_id])
        pending = [image["Id"] for image in engine.api.images(all=True)
                   if image["Id"] not in before_images and self.entry("image", image["Id"])]
        while pending:   # an image with children of ours goes once they have
            kept = []
            for image_id in pending:
                ledger = self.entry("image", image_id)
                try:
                    engine.api.remove_image(image_id, force=True)
                    removed.append(image_id)
                except docker.errors.ImageNotFound:
                    pass   # a parent removed with its child
                except docker.errors.APIError:
                    kept.append(image_id)
                    continue
                ledger.forget("image", [image_id])
            if len(kept) == len(pending):
                break
            pending = kept
        for ledger, _ in self.ledgers():   # builds leave finding their records to clean
            names = {e.get("image") for kind in ("image", "cache")
                     for e in ledger.entries(kind).values()}
            for name in sorted(n for n in names if n and n.startswith(IMAGE)):
                build_cache.record_made(engine, ledger, ledger.cache_scope(name), name)
        records = [r for r in build_cache.all_records(engine)
                   if r["ID"] not in before_records and self.entry("cache", r["ID"])]
        if records:
            removed += build_cache.prune_records(engine, records)["ids"]
            for ledger, _ in self.ledgers():
                ledger.forget("cache", [r["ID"] for r in records])
        # What the session's names were given and is gone already (a test removed it, or it
        # went with its child): the checkout's record need not keep it.
        project, present = project_ledger(), dict(zip(("image", "container", "cache"),
                                                      self.snapshot(engine)))
        for kind, here in present.items():
            project.forget(kind, [engine_id for engine_id, entry in project.entries(kind).items()
                                  if (entry.get("image") or "").startswith(IMAGE)
                                  and engine_id not in here])
        return removed
