"""Labels that mark what tasky-ops made, so clean-up never touches anything else."""

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
