"""One command in a container that lives only as long as the command: Go in the builder for
`inv app-test`, `inv lint`, `inv vendor` and doctor's module probe.

The container is created, registered with ownership.Owned, and only then started, so it is
removed by id on every exit: the command's success or failure, a timeout, Ctrl-C or SIGTERM,
even one that lands between create and start; a create interrupted before it returned an id
is still found by Owned's invocation label.
"""
import codecs
import threading

from ops.core.heartbeat import Heartbeat
from ops.engine import ownership


def run(engine, image, command, *, role, progress=print, timeout=None, mask=None,
        **options):
    """Run `command` in a new container of `image`, stream its output lines to progress, and
    remove the container however this ends: (exit code, or None when timed out; lines).

    timeout: seconds after which the container is killed (the exit code is then None).
    mask: applied to each line before it is kept or shown (redaction of passwords).
    options: what docker-py's containers.create takes (working_dir, user, environment,
    volumes, network_mode...); labels are Owned's.
    """
    shown = mask or (lambda line: line)
    with ownership.Owned(engine, role) as ours:
        container = ours.create(image, command, detach=True, **options)
        container.start()
        deadline = _Deadline(container, timeout)
        try:   # a quiet command (go mod vendor fetching) still says it runs
            lines = []
            said = command if isinstance(command, str) else " ".join(command)
            with Heartbeat(f"{role}: {said[:60]}") as heartbeat:
                for line in _lines(container.logs(stream=True, follow=True)):
                    lines.append(shown(line))
                    progress(lines[-1])
                    heartbeat.beat()
                code = container.wait()["StatusCode"]
        finally:
            deadline.cancel()
        return (None if deadline.reached else code), lines


class _Deadline:
    """Kills the container when the timeout passes: the log stream then ends, as it does
    when the command exits, so the streaming loop needs no clock of its own."""

    def __init__(self, container, timeout):
        self.container, self.reached = container, False
        self._timer = None
        if timeout is not None:
            self._timer = threading.Timer(max(0.0, timeout), self._kill)
            self._timer.daemon = True
            self._timer.start()

    def _kill(self):
        import docker
        import requests

        try:
            self.container.kill()
            self.reached = True
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            pass   # it exited on its own just before: its own exit code stands

    def cancel(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()   # a kill under way decides `reached` before it is read


def _lines(chunks):
    """Whole lines from the engine's chunks, which split lines (and UTF-8 characters) where
    the process's writes did: a secret split across two chunks is still masked whole."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    pending = ""
    for chunk in chunks:
        pending += decoder.decode(chunk)
        *complete, pending = pending.split("\n")
        yield from (line.rstrip("\r") for line in complete)
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending.rstrip("\r")
