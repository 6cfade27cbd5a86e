"""The Docker client: every connection failure becomes one clear OpsError."""
import socket

import pytest

from ops import engine
from ops.errors import OpsError


def test_permission_denied_names_the_docker_group(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    error = engine.classify(Exception(
        "Error while fetching server API version: ('Connection aborted.', "
        "PermissionError(13, 'Permission denied'))"))
    assert isinstance(error, OpsError)
    assert error.anchor == "permission-denied"
    assert "unix:///var/run/docker.sock" in error.message
    assert "docker group" in error.fix


def test_missing_socket_says_the_socket_does_not_exist(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/absent.sock")
    error = engine.classify(Exception(
        "Error while fetching server API version: ('Connection aborted.', "
        "FileNotFoundError(2, 'No such file or directory'))"))
    assert error.anchor == "docker-daemon-not-running"
    assert "unix:///tmp/absent.sock" in error.message
    assert "does not exist" in error.message
    assert "inv setup" in error.fix


def test_default_host_is_named_when_docker_host_is_unset(monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    error = engine.classify(Exception("No such file or directory"))
    assert "unix:///var/run/docker.sock" in error.message


def test_connection_refused_is_a_daemon_not_running(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    error = engine.classify(Exception(
        "Error while fetching server API version: HTTPConnectionPool(host='127.0.0.1', "
        "port=2375): Max retries exceeded (Caused by NewConnectionError: "
        "[Errno 111] Connection refused)\nsecond line"))
    assert error.anchor == "docker-daemon-not-running"
    assert "tcp://127.0.0.1:2375" in error.message
    assert "second line" not in error.message  # one line, whatever docker-py says
    assert "\n" not in error.line()


def test_client_without_a_daemon_raises_an_ops_error(no_engine):
    with pytest.raises(OpsError) as caught:
        engine.client(timeout=5)
    assert caught.value.anchor == "docker-daemon-not-running"
    assert no_engine in caught.value.message
    assert "does not exist" in caught.value.message


def closed_tcp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_client_with_nothing_on_a_tcp_host_raises_an_ops_error(no_engine, monkeypatch):
    host = f"tcp://127.0.0.1:{closed_tcp_port()}"
    monkeypatch.setenv("DOCKER_HOST", host)
    with pytest.raises(OpsError) as caught:
        engine.client(timeout=5)
    assert caught.value.anchor == "docker-daemon-not-running"
    assert host in caught.value.message
    assert "\n" not in caught.value.line()


def test_client_error_names_the_cause_connection_refused(no_engine, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{closed_tcp_port()}")
    with pytest.raises(OpsError) as caught:
        engine.client(timeout=5)
    assert "Connection refused" in caught.value.message


class FakeImages:
    def __init__(self, known):
        self.known = known

    def get(self, ref):
        import docker

        if ref not in self.known:
            raise docker.errors.ImageNotFound(f"No such image: {ref}")
        return self.known[ref]


class FakeEngine:
    def __init__(self, known):
        self.images = FakeImages(known)


def test_image_or_fail_returns_the_image():
    image = object()
    assert engine.image_or_fail(FakeEngine({"tasky:v1": image}), "tasky:v1") is image


def test_image_or_fail_says_how_to_build_it():
    with pytest.raises(OpsError) as caught:
        engine.image_or_fail(FakeEngine({}), "tasky:nope")
    assert caught.value.anchor == "image-not-found"
    assert "tasky:nope" in caught.value.message
    assert "inv build" in caught.value.fix
