"""A Docker engine in memory, as much of docker-py's client as ownership.Owned and
engine.throwaway use: containers created, listed by label, started, streamed, waited for,
killed and removed, with a hook to make any of those fail or be interrupted."""
import threading

import docker


class Response:
    def __init__(self, status_code):
        self.status_code = status_code
        self.reason = "fake"
        self.url = "http+docker://fake"


def api_error(status, explanation):
    kind = docker.errors.NotFound if status == 404 else docker.errors.APIError
    return kind(f"{status} {explanation}", response=Response(status), explanation=explanation)


class Container:
    def __init__(self, engine, number, labels, chunks, code):
        self.engine, self.id = engine, f"{number:064x}"
        self.short_id, self.labels = self.id[:12], labels or {}
        self.attrs = {"Image": engine.image}
        self.chunks, self.code = chunks, code
        self.started = False
        self.killed = threading.Event()

    def start(self):
        self.engine.fail_at("start")
        self.started = True

    def logs(self, stream=False, follow=False):
        assert stream and follow and self.started
        for chunk in self.chunks:
            if isinstance(chunk, BaseException):   # Ctrl-C while the output streams
                raise chunk
            if chunk is Forever:
                self.killed.wait(10)   # a command that never ends: only kill() ends it
                return
            yield chunk

    def wait(self, timeout=None):
        return {"StatusCode": 137 if self.killed.is_set() else self.code}

    def kill(self):
        self.killed.set()


class Forever:
    """In a container's chunks: the command stops writing and never exits."""


class Containers:
    def __init__(self, engine):
        self.engine = engine

    def create(self, image, command=None, **options):
        engine = self.engine
        engine.number += 1
        made = Container(engine, engine.number, options.get("labels"), engine.chunks,
                         engine.code)
        engine.existing[made.id] = made
        engine.created.append((image, command, options))
        engine.created_containers.append(made)
        engine.fail_at("create")   # the engine made it; the caller never got the id
        return made

    def list(self, all=False, filters=None):
        self.engine.fail_at("list")
        key, _, value = (filters or {}).get("label", "").partition("=")
        return [c for c in self.engine.existing.values() if c.labels.get(key) == value]


class Api:
    def __init__(self, engine):
        self.engine = engine

    def inspect_image(self, image_id):
        return {"Id": image_id, "Config": {"Labels": dict(self.engine.image_labels)}}

    def remove_container(self, container_id, force=False):
        refusal = self.engine.refuse_removal.get(container_id[:12])
        if refusal:
            raise refusal
        if container_id not in self.engine.existing:
            raise api_error(404, f"No such container: {container_id}")
        self.engine.removed.append(self.engine.existing.pop(container_id).id)


class Engine:
    """failures: {"create" | "start" | "list": exception raised there, or a function called
    there}; chunks: what each
    container writes (bytes; Forever; an exception, raised at that point); code: its exit."""

    def __init__(self, chunks=(b"ok\n",), code=0, failures=None):
        self.chunks, self.code, self.failures = list(chunks), code, dict(failures or {})
        self.existing, self.created, self.removed, self.refuse_removal = {}, [], [], {}
        self.created_containers = []
        self.number = 0
        # The one image every container is made from, and the labels it carries (a commit
        # of one of ours carries our labels).
        self.image, self.image_labels = "sha256:" + "e" * 64, {}
        self.containers, self.api = Containers(self), Api(self)

    def fail_at(self, step):
        if step in self.failures:
            failure = self.failures.pop(step)
            if not isinstance(failure, BaseException):   # a side effect there (a signal)
                failure()
                return
            raise failure
