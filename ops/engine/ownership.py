"""What this checkout made on the engine: the one rule that says an object is ours.

THE RULE. An image, a container or a BuildKit cache record is ours (this checkout's to list,
stop, replace or remove) when, and only when, its engine id is in this checkout's record
(Ledger), written when the object was made. Nothing else decides "ours". Labels never do:
an image built FROM ours, an image committed from our container and every container of
either inherit all the labels we set, and anyone can copy them. A derived object has an id of
its own (image ids are digests of their config, container ids are new), so it is not in the
record, and neither is anything another checkout, another user or an older tasky-ops made.

The record is written at the moment of making, with one proof each for the two moments
when an id is not yet handed back:
- a container whose create call was interrupted before it returned: Owned finds it by this
  invocation's random nonce, and only on the container's own labels (a commit of ours would
  carry it inherited from its image);
- a build's BuildKit cache records: the engine (20.10) shows no cache mount id and no labels on
  them, so the build writes this checkout's cache scope (an HMAC of the record's own random key
  and the image name: Ledger.cache_scope) into the cache ids and the RUN line that makes
  them, and records, after the build, the records whose description names it and those built
  on them.
What was made before the record existed is not provably ours: `inv clean` says how to
remove it by hand. (Two checkouts building one image name on one engine share its tags, and
a build that reuses the other's cache may end at the other's image id: then both record it.)
The record lives under tasky.bases.cache_dir (~/.cache/tasky-ops): one file per
checkout, named by a hash of the checkout root, replaced atomically under a lock.

The labels below stay: they describe what an object is for people and `docker ps --filter`.
"""
import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path

from ops.core import files
from ops.core.errors import OpsError

MANAGED = "org.tasky-ops.managed"   # on images and containers the project made
ROLE = "org.tasky-ops.role"         # app, build-stage, base, verify, app-test, dev-builder
IMAGE = "org.tasky-ops.image"       # the repository name an app image was built as
STARTED = "org.tasky-ops.started"   # set at `docker run` time, never on an image we build
# Unique to one `inv` invocation: its clean-up finds what it created, and only that.
INVOCATION = "org.tasky-ops.invocation"
KEEP = 2000   # entries per kind; the oldest beyond that are forgotten (then not ours: safe)
ANCHOR = "ownership-records"


def for_container(role, image=None):
    labels = {MANAGED: "true", ROLE: role, STARTED: "true"}
    if image:
        labels[IMAGE] = image
    return labels


class Ledger:
    """This checkout's record of what it made: {kind: {engine id: {"role", "image", "at"}}}
    and the random key its cache scopes derive from."""

    def __init__(self, folder, root):
        self.root = str(Path(root).resolve())
        name = hashlib.sha256(self.root.encode()).hexdigest()[:16]
        self.path = Path(folder) / "ownership" / f"{name}.json"
        self._seen = (None, {})

    @classmethod
    def of(cls, settings):
        return cls(settings.bases.cache_path, settings.root)

    # -- the rule ---------------------------------------------------------------------
    def entry(self, kind, engine_id):
        """What the record says of this object, or None: None means not ours."""
        return self._read().get(kind, {}).get(engine_id) if engine_id else None

    def owns(self, kind, engine_id):
        return self.entry(kind, engine_id) is not None

    def owns_container(self, container):
        return self.owns("container", getattr(container, "id", None))

    def owns_image(self, image_id):
        return self.owns("image", image_id)

    def entries(self, kind):
        return dict(self._read().get(kind, {}))

    # -- writing ----------------------------------------------------------------------
    def record(self, kind, ids, role=None, image=None):
        ids = [i for i in ids if i]
        if not ids or all(self.entry(kind, i) is not None for i in ids):
            return
        with self._changing() as data:
            found = data.setdefault(kind, {})
            for engine_id in ids:
                found.setdefault(engine_id, {"role": role, "image": image or "",
                                             "at": round(time.time(), 3)})
            if len(found) > KEEP:
                newest = sorted(found.items(), key=lambda item: item[1].get("at", 0))[-KEEP:]
                data[kind] = dict(newest)

    def forget(self, kind, ids):
        ids = [i for i in ids if self.entry(kind, i) is not None]
        if ids:
            with self._changing() as data:
                for engine_id in ids:
                    data.get(kind, {}).pop(engine_id, None)

    def cache_scope(self, image):
        """This checkout's cache scope for `image`: 20 hex digits nobody else can derive."""
        key = self._read().get("key")
        if not key:
            with self._changing() as data:
                key = data.setdefault("key", secrets.token_hex(16))
        return hmac.new(bytes.fromhex(key), image.encode(), hashlib.sha256).hexdigest()[:20]

    # -- the file ---------------------------------------------------------------------
    def _read(self):
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise self._failed("read", exc) from exc
        if self._seen[0] != (stat.st_mtime_ns, stat.st_size, stat.st_ino):
            self._seen = ((stat.st_mtime_ns, stat.st_size, stat.st_ino), self._parsed())
        return self._seen[1]

    def _parsed(self):
        """The file's record as a new dict ({} when there is none): a copy nobody else holds."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise self._failed("read", exc) from exc
        return data if isinstance(data, dict) else {}

    def _changing(self):
        return _Change(self)

    def _failed(self, doing, exc):
        reason = getattr(exc, "strerror", None) or str(exc)
        return OpsError(f"cannot {doing} this checkout's ownership record {self.path} "
                        f"({reason[:160]})", fix="make tasky.bases.cache_dir writable, or move "
                        "a damaged file aside (what it named is then not provably ours)",
                        anchor=ANCHOR)


class _Change:
    """Read, change and write the record under an exclusive lock, so two `inv` runs in one
    checkout never lose each other's entries."""

    def __init__(self, ledger):
        self.ledger, self.lock = ledger, None

    def __enter__(self):
        import fcntl

        ledger = self.ledger
        try:
            ledger.path.parent.mkdir(parents=True, exist_ok=True)
            self.lock = open(ledger.path.with_suffix(".lock"), "a")
            fcntl.flock(self.lock, fcntl.LOCK_EX)
        except OSError as exc:
            self._close()
            raise ledger._failed("write", exc) from exc
        ledger._seen = (None, {})
        self.data = ledger._parsed()   # read under the lock, a copy to change (a write that
        # fails leaves the cached record as it was)
        self.data["root"] = ledger.root
        return self.data

    def __exit__(self, kind, error, traceback):
        try:
            if kind is None:
                text = json.dumps(self.data, indent=1, sort_keys=True) + "\n"
                files.write_atomically(self.ledger.path, text)
                self.ledger._seen = (None, {})
        except OpsError as error:   # the one writer's line, worded as the record's
            cause = error.__context__
            if not isinstance(cause, OSError):
                raise
            raise self.ledger._failed("write", cause) from error
        finally:
            self._close()
        return False

    def _close(self):
        if self.lock is not None:
            self.lock.close()   # closing releases the lock


class Owned:
    """The containers one task creates: removed by id when the task fails or is interrupted
    (SIGINT, SIGTERM, SIGHUP: see ops.core.signals), kept after release().

    With a ledger, each is recorded as this checkout's the moment its id is known. Each
    carries a label unique to this invocation, so one created by a create call that was
    interrupted before it returned (no id yet) is still found and removed, and nobody
    else's container ever is: the label must be the container's own, not its image's.
    """

    def __init__(self, engine, role, image=None, progress=None, ledger=None):
        import uuid

        from ops.core.console import progress as to_stderr

        self.engine, self.ids, self.recorded, self.kept = engine, [], [], False
        self.role, self.image, self.ledger = role, image, ledger
        self.progress = progress or to_stderr
        self.invocation = uuid.uuid4().hex
        self.labels = {**for_container(role, image), INVOCATION: self.invocation}

    def create(self, image, command=None, **options):
        """A new container of ours (docker-py's containers.create, with our labels), its id
        registered before anything else can happen: a signal that lands while the engine
        creates it is held until then (signals.held). Cut short instead, the create left a
        container the engine finished making after the clean-up had looked for it.
        Start it only after this returns: create, register, start."""
        from ops.core import signals

        labels = {**options.pop("labels", {}), **self.labels}
        with signals.held():
            return self.keep(self.engine.containers.create(image, command, labels=labels,
                                                           **options))

    def keep(self, container):
        self.ids.append(container.id)
        if self.ledger is not None:
            self.ledger.record("container", [container.id], role=self.role, image=self.image)
            self.recorded.append(container.id)
        return container

    def release(self):
        self.kept = True

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if not self.kept:
            self.remove()
        return False

    def made_here(self, container):
        """The proof for a container whose create never returned: this invocation's nonce
        on the container's own labels, not inherited from its image."""
        if (getattr(container, "labels", None) or {}).get(INVOCATION) != self.invocation:
            return False
        import docker
        import requests

        image_id = (getattr(container, "attrs", None) or {}).get("Image")
        try:
            config = self.engine.api.inspect_image(image_id).get("Config") or {}
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            return False   # its image is gone or unreadable: the label cannot be told apart
        return (config.get("Labels") or {}).get(INVOCATION) != self.invocation

    def remove(self):
        """Remove every container of ours; one that could not be is named with the engine's
        reason and the command that removes it, since nothing else will ever mention it."""
        import docker
        import requests

        # docker-py lets a dropped connection through as requests' own exception.
        failed = (docker.errors.DockerException, requests.exceptions.RequestException)
        found = set(self.ids)
        try:
            found |= {c.id for c in self.engine.containers.list(
                all=True, filters={"label": f"{INVOCATION}={self.invocation}"})
                if c.id in found or self.made_here(c)}
        except failed as exc:
            # Only a create interrupted before it returned an id is lost this way.
            self.progress(f"could not look for this task's containers ({_reason(exc)}); "
                          f"check: docker ps -a --filter label={INVOCATION}={self.invocation}")
        gone = []
        for container_id in sorted(found):
            try:
                self.engine.api.remove_container(container_id, force=True)
                gone.append(container_id)
            except docker.errors.NotFound:
                gone.append(container_id)   # already gone: what we wanted
            except docker.errors.APIError as exc:
                if exc.status_code == 409:   # the engine is already removing it
                    continue
                self._unremoved(container_id, exc)
            except failed as exc:
                self._unremoved(container_id, exc)
        if self.ledger is not None and set(gone) & set(self.recorded):
            try:
                self.ledger.forget("container", sorted(set(gone) & set(self.recorded)))
            except OpsError as error:   # a clean-up that cannot write still removed them
                self.progress(error.line())

    def _unremoved(self, container_id, exc):
        short = container_id[:12]
        self.progress(f"could not remove container {short} ({_reason(exc)}); "
                      f"remove it by hand: docker rm -f {short}")


def _reason(exc):
    return " ".join(str(getattr(exc, "explanation", None) or exc).split())[:200]
