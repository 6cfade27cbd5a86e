"""ops/engine/sdk_api.py against the same fake engine as the socket API: the same answers and
the same one-line failures, through docker-py's public surface only."""
import ast
import io
import json
import sys
from pathlib import Path

import docker
import pytest

from ops.core.errors import OpsError
from ops.engine import connection as engines
from ops.engine import sdk_api
from ops.engine.protocol import ApiError
from ops.engine.sdk_api import SdkApi
from tests.unit.fake_socket_engine import fake_engines, http


@pytest.fixture
def fake(tmp_path, monkeypatch):
    yield from fake_engines(tmp_path, monkeypatch)


def guarded(cls):
    """cls, whose private attributes fail the test when ops.engine.sdk_api reaches for one."""
    class Guarded(cls):
        def __getattribute__(self, name):
            caller = sys._getframe(1).f_globals.get("__name__")
            if name.startswith("_") and not name.startswith("__") and \
                    caller == "ops.engine.sdk_api":
                raise AssertionError(f"ops.engine.sdk_api used docker-py's private {name}")
            return super().__getattribute__(name)
    return Guarded


def sdk_link(path):
    options = {"base_url": f"unix://{path}", "version": "1.41", "timeout": 5}
    client = guarded(docker.DockerClient)(**options)
    client.api = guarded(docker.APIClient)(**options)
    return SdkApi(client)


def test_sdk_link_answers_as_the_socket_api_does(fake):
    records = [{"stream": "step\n"}, {"id": "moby.image.id", "aux": {"ID": "sha256:1"}}]
    engine = fake(http(200, b"OK", ["Api-Version: 1.41", "Ostype: linux"]),
                  http(404, b'{"message":"No such image: x:y"}'),
                  http(200, chunked=[json.dumps(r).encode() for r in records]),
                  http(500, b'{"message":"buildkit not supported by daemon"}'))
    link = sdk_link(engine.path)
    assert link.ping()["ostype"] == "linux"
    assert link.image("x:y") is None
    assert list(link.stream("POST", "/build", params={"version": "2"},
                            body=io.BytesIO(b"ctx"))) == records
    with pytest.raises(ApiError) as caught:
        list(link.stream("POST", "/build", body=io.BytesIO(b"ctx")))
    assert caught.value.explanation == "buildkit not supported by daemon"
    assert engine.requests[2]["line"] == "POST /v1.41/build?version=2 HTTP/1.1"


def test_sdk_link_names_a_dead_engine_as_engine_connect_does(tmp_path, monkeypatch):
    path = tmp_path / "absent.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    with pytest.raises(engines.EngineUnavailable) as caught:
        sdk_link(path).ping()
    assert caught.value.kind == engines.MISSING


def test_sdk_link_sends_what_the_socket_api_sends(fake):
    engine = fake(http(200, json.dumps({"Id": "sha256:abc"}).encode()),
                  http(200, chunked=[b"{}"]))
    link = sdk_link(engine.path)
    assert link.image("tasky-ops/golang:1.19-debian") == {"Id": "sha256:abc"}
    list(link.stream("POST", "/build", params={"t": ["a:1", "a:2"]},
                     body=io.BytesIO(b"\x1f\x8bcontext"),
                     headers={"Content-Type": "application/tar"}))
    assert engine.requests[0]["line"] == \
        "GET /v1.41/images/tasky-ops/golang:1.19-debian/json HTTP/1.1"
    sent = engine.requests[1]
    assert sent["line"] == "POST /v1.41/build?t=a%3A1&t=a%3A2 HTTP/1.1"
    assert sent["headers"]["Content-Type"] == "application/tar"
    assert sent["headers"]["Content-Length"] == "9"
    assert sent["body"] == b"\x1f\x8bcontext"
    assert link.api_version == "1.41"


def test_sdk_link_fails_a_chunked_stream_closed_before_its_last_chunk(fake):
    engine = fake(http(200, chunked=[b'{"stream": "Step 1/9"}'], last_chunk=False))
    got = []
    with pytest.raises(OpsError) as caught:
        for record in sdk_link(engine.path).stream("POST", "/build"):
            got.append(record)
    assert got == [{"stream": "Step 1/9"}]
    assert caught.value.line().startswith("the Docker engine's answer ended early")
    assert "\n" not in caught.value.line()


def test_sdk_link_fails_a_bad_chunk_size_in_one_line(fake):
    engine = fake(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")
    with pytest.raises(OpsError) as caught:
        list(sdk_link(engine.path).stream("POST", "/build"))
    assert "answer ended early" in caught.value.line()
    assert "\n" not in caught.value.line()


def test_the_guard_catches_a_private_attribute_reached_from_sdk_api():
    api = guarded(docker.APIClient)(base_url="unix:///nonexistent.sock", version="1.41")
    assert api.api_version == "1.41"
    with pytest.raises(AssertionError, match="private _version"):
        exec("api._version", {"__name__": "ops.engine.sdk_api", "api": api})


def test_sdk_api_names_nothing_private_but_its_own():
    tree = ast.parse(Path(sdk_api.__file__).read_text())
    reached = [ast.unparse(node) for node in ast.walk(tree)
               if isinstance(node, ast.Attribute) and node.attr.startswith("_")
               and not node.attr.startswith("__")
               and not (isinstance(node.value, ast.Name) and node.value.id == "self")]
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                for alias in node.names if alias.name.startswith("_")]
    imported += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and "._" in f".{node.module}"]
    by_name = [ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.Call)
               and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "vars")]
    assert (reached, imported, by_name) == ([], [], [])
