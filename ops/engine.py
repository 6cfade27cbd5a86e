"""The one place a Docker client is made, so every task fails the same clear way."""
import functools
import os
import re

from ops.errors import OpsError

# docker-py wraps the cause in 100+ characters of boilerplate; this is the part to show.
CAUSE = re.compile(r"Connection refused|Connection reset by peer|timed out|Name or service not "
                   r"known|No route to host|Network is unreachable|certificate verify failed|"
                   r"Connection aborted", re.IGNORECASE)


def cause(exc):
    """The part of a docker-py connection error worth showing."""
    text = str(exc)
    found = CAUSE.search(text)
    return found.group(0) if found else text.splitlines()[-1][-160:]


def classify(exc):
    """Turn a docker-py connection failure into an OpsError naming cause and fix."""
    text = str(exc)
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if "Permission denied" in text or "PermissionError" in text:
        return OpsError(
            f"permission denied on the Docker socket ({host})",
            fix="add yourself to the docker group: sudo usermod -aG docker $USER, then log out "
                "and back in (the group is root-equivalent), or run as root",
            anchor="permission-denied")
    if "No such file" in text or "FileNotFoundError" in text:
        return OpsError(
            f"no Docker engine: the socket {host} does not exist",
            fix="run `inv setup` (installs and starts the engine), or set DOCKER_HOST",
            anchor="docker-daemon-not-running")
    return OpsError(
        f"the Docker engine at {host} does not answer ({cause(exc)})",
        fix="start it: `inv setup`, or `sudo systemctl start docker`",
        anchor="docker-daemon-not-running")


@functools.cache
def client(timeout=900):
    """A docker-py client that has answered a ping, honouring DOCKER_HOST and TLS variables."""
    import docker

    try:
        engine = docker.from_env(timeout=timeout)
        engine.ping()
    except docker.errors.DockerException as exc:
        raise classify(exc) from exc
    return engine


def image_or_fail(engine, ref):
    """The local image ``ref``, or an OpsError saying how to get it."""
    import docker

    try:
        return engine.images.get(ref)
    except docker.errors.ImageNotFound as exc:
        raise OpsError(f"image {ref} not found in the local engine",
                       fix="build it with `inv build` (or `inv build --offline`), or name "
                           "another with --tag", anchor="image-not-found") from exc
