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

    def __init__(self, engine, role, image=None):
        import uuid

        self.engine, self.ids, self.kept = engine, [], False
        self.invocation = uuid.uuid4().hex
        self.labels = {**for_container(role, image), INVOCATION: self.invocation}

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
        import docker

        found = set(self.ids)
        try:
            found |= {c.id for c in self.engine.containers.list(
                all=True, filters={"label": f"{INVOCATION}={self.invocation}"})}
        except docker.errors.DockerException:
            pass
        for container_id in found:
            try:
                self.engine.api.remove_container(container_id, force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.DockerException:
                pass   # already being removed by the engine; nothing else of ours to do
