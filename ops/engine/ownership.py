"""What tasky-ops made: the labels that mark it, and the containers a task owns until it
lets go."""

MANAGED = "org.tasky-ops.managed"   # on images and containers the project made
ROLE = "org.tasky-ops.role"         # app, build-stage, base, verify, app-test
IMAGE = "org.tasky-ops.image"       # the repository name an app image was built as
# Containers inherit their image's labels, so "managed" on a container only says its
# image is ours. This one is set at `docker run` time and never on an image.
STARTED = "org.tasky-ops.started"
# Unique to one `inv` invocation: its clean-up finds what it created, and only that.
INVOCATION = "org.tasky-ops.invocation"


def for_container(role, image=None):
    labels = {MANAGED: "true", ROLE: role, STARTED: "true"}
    if image:
        labels[IMAGE] = image
    return labels


def started_by_us(container):
    return (container.labels or {}).get(STARTED) == "true"


class Owned:
    """The containers one task creates: removed by id when the task fails or is interrupted
    (SIGINT, SIGTERM, SIGHUP: see ops.core.signals), kept after release().

    Each carries a label unique to this invocation, so one created by a create call that was
    interrupted before it returned (no id yet) is still found and removed, and nobody
    else's container ever is.
    """

    def __init__(self, engine, role, image=None, progress=None):
        import uuid

        from ops.core.console import progress as to_stderr

        self.engine, self.ids, self.kept = engine, [], False
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
        return container

    def release(self):
        self.kept = True

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if not self.kept:
            self.remove()
        return False

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
                all=True, filters={"label": f"{INVOCATION}={self.invocation}"})}
        except failed as exc:
            # Only a create interrupted before it returned an id is lost this way.
            self.progress(f"could not look for this task's containers ({_reason(exc)}); "
                          f"check: docker ps -a --filter label={INVOCATION}={self.invocation}")
        for container_id in sorted(found):
            try:
                self.engine.api.remove_container(container_id, force=True)
            except docker.errors.NotFound:
                pass   # already gone: what we wanted
            except docker.errors.APIError as exc:
                if exc.status_code == 409:   # the engine is already removing it
                    continue
                self._unremoved(container_id, exc)
            except failed as exc:
                self._unremoved(container_id, exc)

    def _unremoved(self, container_id, exc):
        short = container_id[:12]
        self.progress(f"could not remove container {short} ({_reason(exc)}); "
                      f"remove it by hand: docker rm -f {short}")


def _reason(exc):
    return " ".join(str(getattr(exc, "explanation", None) or exc).split())[:200]
