"""ops/engine/socket_api.py against a fake engine on a real unix socket: the HTTP it sends and
reads, and every way an engine can fail it, each one EngineUnavailable, ApiError or OpsError
(never a traceback)."""
import io
import json
import socket
import threading
import time

import pytest

from ops.core.errors import OpsError
from ops.engine import connection as engines
from ops.engine import socket_api
from ops.engine.protocol import ApiError
from tests.unit.fake_socket_engine import PING, fake_engines, http


@pytest.fixture
def fake(tmp_path, monkeypatch):
    yield from fake_engines(tmp_path, monkeypatch)


def test_connect_pings_and_then_speaks_the_engines_api_version(fake):
    engine = fake(PING, http(200, json.dumps({"Id": "sha256:abc", "Size": 7}).encode()))
    link = socket_api.connect(timeout=5)
    assert link.image("tasky-ops/golang:1.19-debian") == {"Id": "sha256:abc", "Size": 7}
    assert engine.requests[0]["line"] == "GET /_ping HTTP/1.1"
    assert engine.requests[1]["line"] == \
        "GET /v1.41/images/tasky-ops/golang:1.19-debian/json HTTP/1.1"


def test_buildkit_is_judged_on_the_connections_own_ping_not_a_second_one(fake):
    from ops.image import buildkit

    engine = fake(PING)
    link = socket_api.connect(timeout=5)
    can, why = buildkit.available(link)
    assert can is True and "BuildKit is the default" in why
    assert [request["line"] for request in engine.requests] == ["GET /_ping HTTP/1.1"]


def test_a_missing_image_is_none_not_an_error(fake):
    fake(PING, http(404, b'{"message":"No such image: x:y"}'))
    assert socket_api.connect(timeout=5).image("x:y") is None


def test_a_stream_yields_records_split_and_joined_anywhere_by_chunks(fake):
    records = [{"id": "moby.buildkit.trace", "aux": "AAAA"}, {"stream": "caf\u00e9\n"},
               {"id": "moby.image.id", "aux": {"ID": "sha256:1"}}]
    text = "".join(json.dumps(r, ensure_ascii=False) for r in records).encode()  # unspaced
    cut = text.index(b"\xc3") + 1                            # inside the two-byte é
    engine = fake(PING, http(200, chunked=[text[:5], text[5:cut], text[cut:]]))
    link = socket_api.connect(timeout=5)
    body = io.BytesIO(b"\x1f\x8bcontext")
    got = list(link.stream("POST", "/build", params={"t": ["a:1", "a:2"], "version": "2"},
                           body=body, headers={"Content-Type": "application/tar"}))
    assert got == records
    sent = engine.requests[1]
    assert sent["line"] == "POST /v1.41/build?t=a%3A1&t=a%3A2&version=2 HTTP/1.1"
    assert sent["headers"]["Content-Type"] == "application/tar"
    assert sent["body"] == b"\x1f\x8bcontext"


def test_an_http_error_is_an_api_error_with_the_engines_own_message(fake):
    fake(PING, http(500, b'{"message":"buildkit not supported by daemon"}'))
    with pytest.raises(ApiError) as caught:
        list(socket_api.connect(timeout=5).stream("POST", "/build", body=io.BytesIO(b"x")))
    assert caught.value.status == 500
    assert caught.value.explanation == "buildkit not supported by daemon"


def test_an_http_server_that_is_not_an_engine_fails_the_connection_in_one_line(fake):
    fake(http(404, b"<html>Not Found</html>"))
    with pytest.raises(engines.EngineUnavailable) as caught:
        socket_api.connect(timeout=5)
    assert "is not a Docker engine (DOCKER_HOST names it): its /_ping answered HTTP 404" \
        in caught.value.message
    assert caught.value.anchor == "docker-daemon-not-running"


def test_an_unexpected_refusal_is_still_one_line_naming_the_engines_reason(fake):
    fake(PING, http(500, b'{"message":"readlink /var/lib/docker/overlay2: no such file"}'))
    with pytest.raises(OpsError) as caught:
        socket_api.connect(timeout=5).image("tasky:latest")
    assert caught.value.line().startswith(
        "the Docker engine refused the request (HTTP 500): readlink /var/lib/docker/overlay2")
    assert "\n" not in caught.value.line()


def test_an_answer_that_is_not_json_is_one_line_not_a_traceback(fake):
    fake(PING, http(200, b"<html>proxy login</html>"))
    with pytest.raises(OpsError) as caught:
        socket_api.connect(timeout=5).image("tasky:latest")
    assert "not the JSON its API gives" in caught.value.line()


def test_a_stream_cut_inside_a_record_is_an_error_not_a_silent_end(fake):
    fake(PING, http(200, b'{"stream": "half'))
    with pytest.raises(OpsError, match="ended inside a record"):
        list(socket_api.connect(timeout=5).stream("POST", "/build"))


def test_a_chunked_stream_closed_before_its_last_chunk_is_an_error_not_an_end(fake):
    first = json.dumps({"stream": "Step 1/9\n"}).encode()
    fake(PING, http(200, chunked=[first, b'{"stream": "Step 2/9\\n"}'], last_chunk=False))
    got = []
    with pytest.raises(OpsError) as caught:
        for record in socket_api.connect(timeout=5).stream("POST", "/build"):
            got.append(record)
    assert got == [{"stream": "Step 1/9\n"}, {"stream": "Step 2/9\n"}]
    assert not isinstance(caught.value, engines.EngineUnavailable)
    assert caught.value.line().startswith("the Docker engine's answer ended early")
    assert "\n" not in caught.value.line()


@pytest.mark.parametrize("body", [b"zz\r\n{}\r\n0\r\n\r\n",   # a chunk size that is not hex
                                  b"5\r\n{}\r\n",                  # a chunk shorter than its size
                                  b"2\r\n{}"])                     # cut before the chunk's CRLF
def test_broken_chunk_framing_is_a_one_line_error(fake, body):
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    fake(PING, head + body)
    with pytest.raises(OpsError) as caught:
        list(socket_api.connect(timeout=5).stream("POST", "/build"))
    assert "answer ended early" in caught.value.line()
    assert "\n" not in caught.value.line()


def test_a_body_shorter_than_its_content_length_is_an_error(fake):
    fake(PING, b'HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{"Id": "sha256:abc"}')
    with pytest.raises(OpsError, match=r"ended early \(20 of its 40 bytes\)"):
        socket_api.connect(timeout=5).image("tasky:latest")


def test_a_stream_yields_each_record_before_the_rest_of_the_answer_exists(fake):
    sent_rest = threading.Event()

    def slowly(conn):
        conn.sendall(http(200, chunked=[b'{"stream": "first"}'], last_chunk=False))
        time.sleep(0.3)   # a build step that runs for a while
        sent_rest.set()
        second = b'{"stream": "second"}'
        conn.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(second), second))

    fake(PING, slowly)
    records = socket_api.connect(timeout=5).stream("POST", "/build")
    assert next(records) == {"stream": "first"}
    assert not sent_rest.is_set()
    assert list(records) == [{"stream": "second"}]


def test_the_context_goes_with_its_content_length_not_chunked(fake):
    engine = fake(PING, http(200, chunked=[b"{}"]))
    list(socket_api.connect(timeout=5).stream("POST", "/build", body=io.BytesIO(b"x" * 70000)))
    sent = engine.requests[1]
    assert sent["headers"]["Content-Length"] == "70000"
    assert "Transfer-Encoding" not in sent["headers"]
    assert sent["body"] == b"x" * 70000


def test_only_a_well_formed_api_version_goes_into_the_path(fake):
    engine = fake(http(200, b"OK", ["Api-Version: 1.41/../../x"]), http(404, b"{}"))
    link = socket_api.connect(timeout=5)
    assert link.api_version is None
    assert link.image("a b") is None
    assert engine.requests[1]["line"] == "GET /images/a%20b/json HTTP/1.1"


@pytest.mark.parametrize("answer", [b"SSH-2.0-OpenSSH_9.2\r\n", b"", b"HTTP/1.1 abc\r\n\r\n",
                                    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"])
def test_something_that_is_not_the_docker_api_is_one_engine_error(fake, answer):
    fake(answer)
    with pytest.raises(engines.EngineUnavailable) as caught:
        socket_api.connect(timeout=5)
    assert caught.value.kind == engines.OTHER
    assert "is not a Docker engine" in caught.value.message
    assert "\n" not in caught.value.line()


def test_an_engine_that_accepts_and_never_answers_is_named_silent(tmp_path, monkeypatch):
    path = tmp_path / "silent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    try:
        with pytest.raises(engines.EngineUnavailable) as caught:
            socket_api.connect(timeout=5, ping_timeout=0.3)
    finally:
        server.close()
    assert caught.value.kind == engines.SILENT


def test_no_socket_and_a_refusing_port_are_named_as_engine_connect_names_them(
        tmp_path, monkeypatch):
    from tests.support import free_port

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")
    with pytest.raises(engines.EngineUnavailable) as missing:
        socket_api.connect(timeout=5)
    assert missing.value.kind == engines.MISSING
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{free_port()}")
    with pytest.raises(engines.EngineUnavailable) as refused:
        socket_api.connect(timeout=5)
    assert refused.value.kind == engines.REFUSED
    assert "Connection refused" in refused.value.message


@pytest.mark.parametrize("host, environ, expected", [
    ("unix:///var/run/docker.sock", {}, True),
    ("tcp://10.0.0.5:2375", {}, True),
    ("tcp://10.0.0.5:2376", {"DOCKER_TLS_VERIFY": "1"}, False),
    ("tcp://10.0.0.5:2376", {"DOCKER_CERT_PATH": "/certs"}, False),
    ("ssh://me@builder", {}, False),
    ("npipe:////./pipe/docker_engine", {}, False),
])
def test_only_plain_hosts_are_spoken_to_directly(host, environ, expected):
    assert socket_api.direct(host, environ) is expected
