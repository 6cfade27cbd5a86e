"""`inv dev`: the inner loop. Run the app with app/assets mounted, watch the build context,
and on a change rebuild and wait until what serves is verified healthy. A save of Go source
alone takes the fast path (flows/dev_fast.py: the Dockerfile's `go build` line in a session
builder, the binary restarted in place in the release image's container); anything else
(go.mod, vendor/, the Dockerfile, ...) or an app whose Dockerfile it cannot read (said once)
rebuilds the image, with BuildKit whenever the engine can, tagged only IMAGE:dev (`latest`
and the SHA tags stay what `inv build` made), and replaces the container. Each cycle bakes
its own version (BASE+dev.N) into the binary, so the app says which edit it serves. Ctrl-C
removes what the loop made (container, builder, images) but the image IMAGE:dev names.
"""
import dataclasses
import json
import time
from pathlib import Path

from ops.core.errors import OpsError
from ops.engine import locks, ownership
from ops.engine.connection import EngineUnavailable
from ops.flows import dev_changes, dev_fast
from ops.image import context_tar, docker_build, dockerignore
from ops.run import containers, health

TAG = "dev"


class Loop:
    """The state of one `inv dev`: the images it built and the container it runs."""

    def __init__(self, engine, settings, git, env, offline, progress):
        self.engine, self.settings, self.env = engine, settings, env
        self.git, self.offline, self.progress = git, offline, progress
        self.ledger = ownership.Ledger.of(settings)   # the one word on what is ours
        self.ref = f"{settings.image}:{TAG}"
        self.cycle = 0
        self.serving = None      # (image id, version) of the container that answers now
        self.made = set()        # ids of the images this loop built and has not removed
        self.dropped = []        # ids of those it removed
        self.stale = self._previous_session_image()
        self.fast, self.fast_off = None, None   # the fast path, or why it is off

    def _previous_session_image(self):
        """An IMAGE:dev left by an earlier `inv dev` of this checkout: ours to remove once
        superseded. One built FROM it, or committed, or by another checkout, is not."""
        import docker

        try:
            image = self.engine.images.get(self.ref)
        except docker.errors.ImageNotFound:
            return set()
        return {image.id} if self.ledger.owns_image(image.id) else set()

    def rebuild(self, changed):
        """One cycle that builds the image: on success replace the container (its binary
        built by the fast path's builder when that can take this app) and wait until it is
        healthy. A failed build leaves the serving container alone; a new container that
        fails to start is removed and the previous image (and binary) started again."""
        self.cycle += 1
        started = time.monotonic()
        version = dev_changes.cycle_version(self.git.describe, self.cycle)
        record = {"cycle": self.cycle, "changed": changed, "version": version, "path": "image",
                  "url": f"http://localhost:{self.settings.port}/"}
        try:
            built = docker_build.build(self.engine, self.settings, self.git, version=version,
                                offline=self.offline, verbose=False, tags=[TAG],
                                progress=self.progress)
            self._prepare_fast()
            if self.fast:
                self.fast.go_build(version)
        except EngineUnavailable:
            raise
        except OpsError as error:
            return self._failed(record, "build-failed", error, started)
        new_id = self.engine.images.get(self.ref).id
        self.made.add(new_id)
        record.update(build_s=round(time.monotonic() - started, 2), builder=built["builder"],
                      image=f"{self.ref} ({built['id']})")
        previous = self.serving
        try:
            if self.fast:
                self.fast.install()
            healthy_s = self._replace(new_id)
        except EngineUnavailable:
            raise
        except OpsError as error:
            if self.fast:
                self.fast.undo()
            self._restart(previous)
            self._drop(new_id)
            return self._failed(record, "start-failed", error, started)
        self.serving = (new_id, version)
        for old in {previous[0] if previous else None, *self.stale} - {None, new_id}:
            self._drop(old)
        self.stale = set()
        record.update(action="rebuilt" if changed is not None else "started",
                      healthy_s=healthy_s, total_s=round(time.monotonic() - started, 2),
                      serving=version)
        return record

    def quick(self, changed):
        """One fast-path cycle: go build in the builder; on success restart the app's process
        on the new binary and wait until it is healthy. A failed build leaves the process
        alone; a binary that exits at start or is not healthy gives way to the previous one."""
        import docker

        self.cycle += 1
        started = time.monotonic()
        version = dev_changes.cycle_version(self.git.describe, self.cycle)
        record = {"cycle": self.cycle, "changed": changed, "version": version,
                  "path": "go build", "url": f"http://localhost:{self.settings.port}/",
                  "builder": f"go build ({self.settings.dockerfile_path.name} line "
                             f"{self.fast.step['line']}, in the builder container)"}
        try:
            self.fast.go_build(version)
        except EngineUnavailable:
            raise
        except OpsError as error:
            return self._failed(record, "build-failed", error, started)
        record["build_s"] = round(time.monotonic() - started, 2)
        try:
            container = self.engine.containers.get(self.settings.container)
        except docker.errors.NotFound:   # removed under the loop: a new one, from the image
            self.cycle -= 1
            return self.rebuild(changed)
        self.fast.install()
        try:
            healthy_s = self.fast.restart(container)
        except EngineUnavailable:
            raise
        except OpsError as error:
            self.fast.undo()
            try:
                self.fast.restart(container)
            except OpsError as again:
                self.serving = None
                self.progress(f"dev: the previous binary did not come back either: "
                              f"{again.line()}")
            return self._failed(record, "start-failed", error, started)
        self.serving = (self.serving[0], version)
        record.update(action="rebuilt", healthy_s=healthy_s, serving=version,
                      total_s=round(time.monotonic() - started, 2))
        return record

    def _prepare_fast(self):
        """The fast path's builder, asked again after every image build (the Dockerfile or
        go.mod may have changed); why it is off, said once in one line."""
        self.fast, reason = dev_fast.prepare(self.fast, self.engine, self.settings,
                                             self.offline, self.ledger, self.progress)
        if reason and reason != self.fast_off:
            self.progress(f"dev: fast path off ({reason}): every save rebuilds the image")
        self.fast_off = reason

    def _failed(self, record, action, error, started):
        for line in error.details[-20:]:
            self.progress("  | " + line)
        record.update(action=action, error=" ".join(error.message.split()),
                      build_s=record.get("build_s", round(time.monotonic() - started, 2)),
                      serving=self.serving[1] if self.serving else None)
        return record

    def _replace(self, image_id):
        """Swap the container for one of image_id; seconds from its start to healthy."""
        self._remove_container()
        self.engine.api.tag(image_id, self.settings.image, TAG)   # a rollback moved it
        started = time.monotonic()
        containers.run(self.engine, self.settings, tag=TAG, env=self.env, dev=True,
                       supervised=self.fast.options() if self.fast else None)
        health.health(self.engine, self.settings, wait=True)
        return round(time.monotonic() - started, 2)

    def _restart(self, previous):
        """Put the last good image back after a new one failed to start."""
        self._remove_container()
        if previous is None:
            return
        try:
            self._replace(previous[0])
        except OpsError as error:
            self.serving = None
            self.progress(f"dev: the previous image did not come back either: {error.line()}")

    def _remove_container(self):
        """Remove the container of this name when this loop started it (recorded as this
        checkout's, from one of its images): anything else there is not ours."""
        import docker

        try:
            container = self.engine.containers.get(self.settings.container)
        except docker.errors.NotFound:
            return
        # attrs, not container.image: that asks the engine for the image again, on every
        # cycle's critical path.
        if self.ledger.owns_container(container) and container.attrs["Image"] in self.made:
            container.remove(force=True)
            self.ledger.forget("container", [container.id])

    def _drop(self, image_id):
        """Remove an image this loop built (recorded as this checkout's) once nothing names or
        runs it; the parents stay (noprune): they are the build cache."""
        import docker

        try:
            if self.engine.images.get(image_id).tags or not self.ledger.owns_image(image_id):
                return
            self.engine.images.remove(image_id, noprune=True)
            self.ledger.forget("image", [image_id])
            self.dropped.append(image_id)
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as exc:   # a container of someone else uses it
            self.progress(f"dev: kept image {image_id[7:19]}: {exc.explanation or exc}")
        self.made.discard(image_id)

    def close(self):
        """Remove the container this loop started and its images but the one IMAGE:dev
        names (the last good build, for `inv run --tag dev`). Returns what went."""
        import docker

        self._remove_container()
        if self.fast:
            self.fast.close()
        try:
            keep = self.engine.images.get(self.ref).id
        except docker.errors.ImageNotFound:
            keep = None
        for image_id in sorted(self.made - {keep}):
            self._drop(image_id)
        return {"container_removed": self.settings.container, "kept": self.ref if keep else None,
                "removed_images": [image_id[7:19] for image_id in self.dropped]}


def choose_offline(engine, settings, offline, progress):
    """--offline, or the stand-ins when the document's bases are neither here nor pullable
    (decided once: the loop must not try a pull on every save)."""
    return offline or docker_build.needs_standins(engine, settings, "dev", progress)


def git_or_none(settings):
    """What git says of the context, read once; a context outside git builds as "dev"
    (the loop names its images by cycle, not by SHA)."""
    from ops.image import gitinfo

    try:
        return gitinfo.read(settings.context_path)
    except OpsError:
        return gitinfo.GitInfo(sha="unknown", short="dev", dirty=True, describe="dev")


def printer(as_json):
    def report(record):
        line = json.dumps(record, default=str) if as_json else dev_changes.render(record)
        print(line, flush=True)
    return report


def dev(engine, settings, env=None, offline=False, as_json=False, progress=print,
        report=None, changes=None):
    """Run the inner loop until Ctrl-C (KeyboardInterrupt, raised after the clean-up) or
    until `changes` (an iterable of sets of changed paths; default: the watcher) ends.

    Every cycle is handed to `report` as a record: {"cycle", "changed" (None at start),
    "action" (started, rebuilt, mounted, build-failed, start-failed), "version",
    "build_s", "healthy_s", "total_s", "builder", "serving", "url", "error"}.
    Returns what the clean-up removed: {"container_removed", "kept", "removed_images"}.
    """
    settings = dataclasses.replace(settings, builder="auto")
    docker_build.check_inputs(settings)
    report = report or printer(as_json)
    from ops.settings import envvars
    envvars.require(env or {}, settings.app.required_env, task="dev")
    # The name is this loop's until it exits: a second task on it stops at once.
    with locks.holding(settings.container, "dev"):
        # The name and the port must be free now: the loop replaces only what it started.
        containers.refuse_conflicts(engine, settings, settings.container)
        loop = Loop(engine, settings, git_or_none(settings), env or {},
                    choose_offline(engine, settings, offline, progress), progress)
        return _serve(loop, settings, report, progress, changes)


def _serve(loop, settings, report, progress, changes):
    """The loop's cycles until `changes` ends or Ctrl-C, then its clean-up."""
    interrupted = False
    try:
        dockerfile = settings.dockerfile_path.resolve()
        outside = [] if dockerfile.is_relative_to(settings.context_path.resolve()) else [
            dockerfile]   # its changes rebuild the image, wherever it is
        batches = (dev_changes.watch(settings.context_path, *outside) if changes is None
                   else changes)
        kept_back = [dockerignore.LITERAL.sub(r"\\\1", path)   # the env file, .git
                     for path in context_tar.left_out(settings)]
        report(loop.rebuild(None))   # a failed first build or start: fix, save, next cycle
        progress(f"dev: watching {settings.context_path} (Ctrl-C stops and removes the "
                 "container)")
        for paths in batches:
            patterns = dev_changes.ignore_patterns(settings.context_path) + kept_back
            found = dev_changes.classify(paths, settings.context_path, patterns)
            found["rebuild"] += [settings.dockerfile_path.name for path in paths
                                 if Path(path).resolve() == dockerfile]
            why = dev_changes.image_needed(found["rebuild"]) or (
                loop.fast and dev_changes.hidden_go_source(settings.context_path, patterns))
            if found["rebuild"] and loop.fast and loop.serving and not why:
                report(loop.quick(found["rebuild"]))
            elif found["rebuild"]:
                if loop.fast:
                    progress(f"dev: {why}: the fast path cannot take it; rebuilding the image")
                report(loop.rebuild(sorted(set(found["rebuild"]))))
            elif found["mounted"]:
                report({"cycle": None, "changed": found["mounted"], "action": "mounted",
                        "serving": loop.serving[1] if loop.serving else None})
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        # SIGINT, SIGTERM and SIGHUP arrive here as KeyboardInterrupt (ops/core/signals.py,
        # installed for every task), which also keeps a second signal from cutting this short.
        done = loop.close()
        if interrupted:
            progress(f"dev: stopped; removed container {done['container_removed']} and "
                     f"{len(done['removed_images'])} superseded image(s); kept {done['kept']}")
    return done
