"""The Docker client: every connection failure becomes one clear OpsError."""
import errno
import socket
import threading

import pytest

from ops.core.errors import OpsError
from ops.engine import connection as engine
from tests.support import free_port


def wrapped(os_error):
    """An OS error as docker-py delivers it: DockerException from requests from urllib3."""
    import docker
    import requests
    import urllib3

    try:
        try:
            try:
                raise os_error
            except OSError as exc:
                raise urllib3.exceptions.ProtocolError("Connection aborted.", exc) from exc
        except urllib3.exceptions.ProtocolError as exc:
            raise requests.exceptions.ConnectionError(exc) from exc
    except requests.exceptions.ConnectionError as exc:
        error = docker.errors.DockerException(f"Error while fetching server API version: {exc}")
        error.__cause__ = exc
        return error


def test_permission_denied_names_the_docker_group(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    error = engine.classify(wrapped(PermissionError(errno.EACCES, "Permission denied")))
    assert isinstance(error, OpsError)
    assert error.kind == engine.DENIED
    assert error.anchor == "permission-denied"
    assert "unix:///var/run/docker.sock" in error.message
    assert "docker group" in error.fix


def test_missing_socket_says_the_socket_does_not_exist(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/absent.sock")
    error = engine.classify(wrapped(FileNotFoundError(errno.ENOENT, "No such file")))
    assert error.kind == engine.MISSING
    assert error.anchor == "docker-daemon-not-running"
    assert "unix:///tmp/absent.sock" in error.message
    assert "does not exist" in error.message
    assert "inv setup" in error.fix


def test_the_kind_comes_from_the_errno_not_the_words():
    """A message that says 'Permission denied' over a refused connection is a refusal."""
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Permission denied (sic)")
    assert engine.classify(wrapped(refused)).kind == engine.REFUSED
    assert engine.classify(Exception("PermissionError(13, 'Permission denied')")).kind \
        == engine.OTHER


def test_default_host_is_named_when_docker_host_is_unset(monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    error = engine.classify(wrapped(FileNotFoundError(errno.ENOENT, "No such file")))
    assert "unix:///var/run/docker.sock" in error.message


def test_connection_refused_is_a_daemon_not_running(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    error = engine.classify(wrapped(ConnectionRefusedError(errno.ECONNREFUSED,
                                                           "Connection refused\nsecond line")))
    assert error.anchor == "docker-daemon-not-running"
    assert "tcp://127.0.0.1:2375" in error.message
    assert "\n" not in error.line()


def test_a_timeout_is_an_engine_that_does_not_answer(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    error = engine.classify(wrapped(TimeoutError("timed out")))
    assert error.kind == engine.SILENT
    assert "accepts the connection but does not answer" in error.message


def test_client_without_a_daemon_raises_an_ops_error(no_engine):
    with pytest.raises(OpsError) as caught:
        engine.client(timeout=5)
    assert caught.value.anchor == "docker-daemon-not-running"
    assert no_engine in caught.value.message
    assert "does not exist" in caught.value.message


def test_client_with_nothing_on_a_tcp_host_raises_an_ops_error(no_engine, monkeypatch):
    host = f"tcp://127.0.0.1:{free_port()}"
    monkeypatch.setenv("DOCKER_HOST", host)
    with pytest.raises(OpsError) as caught:
        engine.client(timeout=5)
    assert caught.value.anchor == "docker-daemon-not-running"
    assert host in caught.value.message
    assert "\n" not in caught.value.line()


def test_client_error_names_the_cause_connection_refused(no_engine, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{free_port()}")
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


def test_an_engine_that_accepts_and_never_answers_is_named_within_seconds(tmp_path, monkeypatch):
    """A real unix socket that accepts connections and says nothing (a hung daemon)."""
    path = tmp_path / "silent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    try:
        with pytest.raises(OpsError) as caught:
            engine.connect(timeout=900, ping_timeout=0.5)
    finally:
        stop.set()
        thread.join()
        server.close()
        for conn in held:
            conn.close()
    assert caught.value.kind == engine.SILENT
    assert "accepts the connection but does not answer the API" in caught.value.message


def test_tls_asked_for_without_certificates_names_the_folder_and_both_ways_out(
        tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2376")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(tmp_path))
    with pytest.raises(engine.EngineUnavailable) as caught:
        engine.connect(timeout=5)
    assert caught.value.kind == engine.INVALID
    assert f"{tmp_path} does not hold ca.pem, cert.pem and key.pem" in caught.value.message
    assert "unset DOCKER_TLS_VERIFY" in caught.value.fix
