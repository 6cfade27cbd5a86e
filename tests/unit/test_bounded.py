"""Bounded: a registry that loops, stalls or answers garbage, an input that is a FIFO, an
engine or scanner that answers the wrong shape, a quiet build: each ends in one line within
bounded time, and no wait is silent for more than the heartbeat's interval."""
import json
import os
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ops.core import answers, heartbeat
from ops.core.answers import Maybe
from ops.core.errors import OpsError
from ops.image import docker_build, dockerignore
from ops.registry import http_api
from ops.settings import envvars
from tests.fake_registry import FakeRegistry
from tests.unit.unit_support import cli_many

SAYS = {"self-link": "was already followed (a loop)",
        "cycle": "was already followed (a loop)",
        "elsewhere": "points elsewhere than /v2/",
        "endless": "still had a next page after 20 pages",
        "html": "is not JSON: '<!DOCTYPE html>",
        "malformed": "is not JSON",
        "wrong-shape": "['tags'] is text 'a,b', expected a list",
        "stall": "is unreachable"}


@pytest.mark.parametrize("behaviour", sorted(SAYS))
def test_a_registry_answering_wrongly_ends_in_one_line_in_bounded_time(behaviour):
    with FakeRegistry(behaviour, stall_seconds=10) as registry:
        started = time.monotonic()
        with pytest.raises(OpsError) as caught:
            http_api.list_tags(registry.addr, "team/app", timeout=1, max_pages=20)
        took = time.monotonic() - started
    line = caught.value.line()
    assert SAYS[behaviour] in line and registry.addr in line and "\n" not in line
    assert took < 5 and registry.requests <= 21


def test_a_manifest_that_is_html_is_one_line_naming_the_registry_and_the_image():
    with FakeRegistry("bad-manifest") as registry:
        with pytest.raises(OpsError) as caught:
            http_api.get_manifest(registry.addr, "team/app", "a")
    assert caught.value.line().startswith(f"registry {registry.addr}'s manifest of team/app@a "
                                          "is not JSON")


def test_a_next_link_on_the_same_registry_and_repository_is_followed():
    assert http_api.next_page("h:5000", "r", '<http://h:5000/v2/r/tags/list?n=2&last=b>; '
                              'rel="next"') == "/v2/r/tags/list?n=2&last=b"
    assert http_api.next_page("h:5000", "r", "") is None
    with pytest.raises(OpsError):
        http_api.next_page("h:5000", "r", '</v2/other/tags/list?n=2>; rel="next"')


def test_inv_images_against_looping_and_html_registries_is_one_error_line():
    with FakeRegistry("self-link") as loop, FakeRegistry("html") as html:
        ran = cli_many({"loop": ["images", "--registry", "local"],
                        "html": ["images", "--registry", "local"]}, timeout=60,
                       envs={"loop": {"INVOKE_TASKY_ECR_LOCAL_REGISTRY": loop.addr},
                             "html": {"INVOKE_TASKY_ECR_LOCAL_REGISTRY": html.addr}})
    for key, said in (("loop", "(a loop)"), ("html", "is not JSON")):
        proc = ran[key]
        lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert len(lines) == 1 and said in lines[0], proc.stderr


# ---- the shape of an answer ----------------------------------------------------------------

JSONS = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                     | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.sampled_from(["tags", "name", "x"]), inner,
                                       max_size=3), max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(value=JSONS)
def test_any_json_is_either_the_shape_or_one_line(value):
    shape = {"name": Maybe(str), "tags": Maybe([str])}
    try:
        got = answers.check(value, shape, "registry r's tag list", "registry-answers-wrongly")
    except answers.WrongAnswer as error:
        assert "\n" not in error.line() and "registry r's tag list" in error.line()
        return
    assert isinstance(got, dict)
    assert got.get("tags") is None or all(isinstance(tag, str) for tag in got["tags"])


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=200))
def test_any_bytes_are_either_json_of_the_shape_or_one_line(body):
    try:
        answers.parse(body, {"tags": Maybe([str])}, "x", "registry-answers-wrongly")
    except answers.WrongAnswer as error:
        assert "\n" not in error.line()


@pytest.fixture
def fake(tmp_path, monkeypatch):
    from tests.unit.fake_socket_engine import fake_engines

    yield from fake_engines(tmp_path, monkeypatch)


def test_an_engine_inspect_of_another_shape_is_one_line(fake):
    from ops.engine import socket_api
    from tests.unit.fake_socket_engine import PING, http

    fake(PING, http(200, json.dumps([{"Id": "sha256:abc"}]).encode()))
    with pytest.raises(OpsError) as caught:
        socket_api.connect(timeout=5).image("app:latest")
    assert "the Docker engine's inspect of image app:latest is not the JSON expected: it is " \
        "a list" in caught.value.line()


def test_a_scanner_report_of_another_shape_is_one_line(tmp_path, monkeypatch):
    from ops.gates import scan

    fake = tmp_path / "trivy"
    fake.write_text('#!/bin/sh\necho \'{"Results": [{"Vulnerabilities": {"id": 1}}]}\'\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(OpsError) as caught:
        scan.trivy("app:latest", ["HIGH"], skip_db_update=True)
    assert "the output of `trivy image` is not the JSON expected: ['Results'][0]" \
        "['Vulnerabilities'] is an object, expected a list" in caught.value.line()


# ---- inputs that are not regular files -----------------------------------------------------

def within(seconds, action):
    """action()'s OpsError line, failing the test when it blocks longer than `seconds`."""
    said = []

    def run():
        try:
            action()
            said.append("no error")
        except OpsError as error:
            said.append(error.line())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert said, "blocked"
    return said[0]


def test_a_fifo_env_file_dockerignore_or_dockerfile_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    line = within(5, lambda: envvars.read_env_file(str(fifo)))
    assert f"env file {fifo} is a FIFO (named pipe), not a regular file" in line
    assert "RUNBOOK.md#bad-env" in line
    line = within(5, lambda: envvars.collect(profile_file=str(fifo)))
    assert "is a FIFO" in line
    context = tmp_path / "context"
    context.mkdir()
    os.mkfifo(context / ".dockerignore")
    line = within(5, lambda: dockerignore.read_dockerignore(context / ".dockerignore"))
    assert ".dockerignore" in line and "is a FIFO" in line and "build-fails" in line

    class Settings:
        dockerfile_path, context_path = fifo, context

    line = within(5, lambda: docker_build.check_inputs(Settings))
    assert f"Dockerfile {fifo} is a FIFO" in line


# ---- never silent ---------------------------------------------------------------------------

class SlowStream:
    """A build stream whose one step runs quietly for `seconds`."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __iter__(self):
        yield {"stream": "Step 1/2 : FROM busybox\n"}
        yield {"stream": "Step 2/2 : RUN go build\n"}
        time.sleep(self.seconds)
        yield {"aux": {"ID": "sha256:" + "1" * 64}}


def test_a_quiet_build_still_beats_naming_its_step(monkeypatch):
    monkeypatch.setattr(heartbeat, "EVERY", 0.2)
    shown = []
    with heartbeat.Heartbeat("build", lambda line: shown.append((time.monotonic(), line))) \
            as beat:
        image_id, _ = docker_build._follow(SlowStream(1.0), False, beat.relay(shown.append,
                                                                               show=False))
    times = [at for at, _ in shown]
    assert image_id.startswith("sha256:") and len(times) >= 3
    assert all(b - a < 0.5 for a, b in zip(times, times[1:]))
    assert all("still waiting" in line for _, line in shown)


def test_the_heartbeat_of_a_build_names_the_step_still_running():
    from ops.image.buildkit_trace import Running

    running = Running()
    said = [running.step(line) for line in (
        "#1 [internal] load build definition", "#1 DONE 0.0s", "#5 [build 4/6] RUN go build",
        "#6 [stage-1 1/3] FROM tasky-ops/alpine", "#6 CACHED", "#5 0.31 compiling")]
    assert said == ["#1 [internal] load build definition", None, "#5 [build 4/6] RUN go build",
                    "#6 [stage-1 1/3] FROM tasky-ops/alpine", "#5 [build 4/6] RUN go build",
                    "#5 [build 4/6] RUN go build"]
    assert Running().step("Step 3/9 : RUN go build") == "Step 3/9 : RUN go build"


def test_nested_heartbeats_print_one_line_per_interval(monkeypatch):
    monkeypatch.setattr(heartbeat, "EVERY", 0.3)
    said = []
    with heartbeat.Heartbeat("outer", said.append), heartbeat.Heartbeat("inner", said.append):
        time.sleep(1.05)
    assert 2 <= len(said) <= 4, said


def test_an_ended_heartbeat_says_nothing_more_and_a_broken_one_silences_only_itself():
    said = []
    with heartbeat.Heartbeat("short", said.append, every=0.04):
        time.sleep(0.2)
    count = len(said)
    time.sleep(0.2)
    assert count >= 1 and len(said) == count   # nothing after its `with` block

    def broken(line):
        raise OSError("stderr is gone")

    with heartbeat.Heartbeat("broken", broken, every=0.04), \
            heartbeat.Heartbeat("fine", said.append, every=0.04):
        time.sleep(0.3)
    assert len(said) > count and said[-1].startswith("fine: still waiting")


def test_silence_counts_from_the_last_line_shown_not_from_the_heartbeats_start(monkeypatch):
    from ops.core import console

    monkeypatch.setattr(console.SHOWN, "at", time.monotonic() - 10)   # silent work before
    said = []
    with heartbeat.Heartbeat("late", said.append, every=0.4):
        time.sleep(0.3)
    assert len(said) == 1   # after a quarter interval, not a whole one
    monkeypatch.setattr(console.SHOWN, "at", time.monotonic())        # a line just shown
    with heartbeat.Heartbeat("fresh", said.append, every=0.4):
        time.sleep(0.25)
    assert len(said) == 1


def test_a_slow_engine_request_through_docker_py_beats(monkeypatch, capsys):
    from ops.engine import connection

    monkeypatch.setattr(heartbeat, "EVERY", 0.2)

    class Api:
        def send(self, request, **kwargs):
            time.sleep(0.7)
            return "answer"

    class Request:
        method, url = "POST", "http+docker://localhost/v1.41/containers/create?name=x"

    api = Api()
    connection._beating(api)
    assert api.send(Request(), stream=False) == "answer"
    said = capsys.readouterr().err
    assert "the Docker engine: POST /v1.41/containers/create: still waiting" in said


def test_the_build_stream_record_that_is_not_an_object_is_one_line():
    from ops.engine.protocol import records

    with pytest.raises(OpsError) as caught:
        list(records(iter([b'{"stream": "x"}', b'[1, 2]'])))
    assert "a record of the Docker engine's stream is not the JSON expected" in \
        caught.value.line()
