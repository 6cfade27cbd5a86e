"""BuildKit builds: the trace reader on real captured streams, step counting, the error
shape, the request sent, and classic_dockerfile. No engine is contacted here.

tests/unit/data/buildkit-*.jsonl are the verbatim stream items of real builds of this
repository's Dockerfile through POST /build?version=2 on Engine 20.10.24 (offline bases):
`nocache` (every step run), `nochange` (a rebuild with nothing changed) and `failed` (a
Go file that does not compile added to app/).
"""
import base64
import gzip
import io
import json
import tarfile

import pytest

from ops.core.errors import OpsError
from ops.engine.protocol import ApiError
from ops.engine.socket_api import SocketApi
from ops.image import build_cache, buildkit, buildkit_trace, dockerfile
from tests.unit.unit_support import ROOT

DATA = ROOT / "tests" / "unit" / "data"
IMAGE_ID = "sha256:3e031632c9964be7569ffda08863a831a5d1d038e0c2334987cd66f65ba642f4"


def captured(name):
    return [json.loads(line) for line in (DATA / f"buildkit-{name}.jsonl").read_text().splitlines()]


def follow(items, verbose=True):
    shown = []
    follower = buildkit_trace.Progress(verbose=verbose, progress=shown.append)
    image_id = buildkit._follow(iter(items), follower)
    return image_id, follower, shown


# -- a tiny protobuf writer, only to make records the captures do not contain ----------

def varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number, value):
    if isinstance(value, bool) or isinstance(value, int):
        return varint(number << 3) + varint(int(value))
    if isinstance(value, str):
        value = value.encode()
    return varint(number << 3 | 2) + varint(len(value)) + value


def timestamp(seconds):
    return field(1, int(seconds)) + field(2, int((seconds % 1) * 1e9))


def vertex(digest, name, started=None, completed=None, cached=False, error=""):
    body = field(1, digest) + field(3, name)
    if cached:
        body += field(4, True)
    if started is not None:
        body += field(5, timestamp(started))
    if completed is not None:
        body += field(6, timestamp(completed))
    if error:
        body += field(7, error)
    return field(1, body)


def log(digest, msg, stream=1):
    return field(3, field(1, digest) + field(2, timestamp(1)) + field(3, stream) + field(4, msg))


def trace(*parts):
    return {"id": "moby.buildkit.trace", "aux": base64.b64encode(b"".join(parts)).decode()}


IMAGE = {"id": "moby.image.id", "aux": {"ID": IMAGE_ID}}


# -- the protobuf reader ------------------------------------------------------------

def test_varints_decode_across_bytes_and_report_where_they_end():
    assert buildkit_trace.varint(b"\xac\x02rest", 0) == (300, 2)
    assert buildkit_trace.varint(varint(2**40), 0) == (2**40, 6)


def test_a_truncated_message_is_a_trace_error_not_an_index_error():
    with pytest.raises(buildkit_trace.TraceError):
        buildkit_trace.decode(b"\x0a\x10short", buildkit_trace.STATUS_RESPONSE)
    with pytest.raises(buildkit_trace.TraceError):
        buildkit_trace.varint(b"\xff\xff", 0)


def test_unknown_fields_are_skipped_as_newer_engines_may_send_them():
    extra = field(8, field(1, "progress-group")) + field(15, 7)   # not in our spec
    message = buildkit_trace.decode(field(1, "sha256:a") + field(3, "[1/2] RUN x") + extra,
                                buildkit_trace.VERTEX)
    assert message["digest"] == "sha256:a" and message["name"] == "[1/2] RUN x"


def test_real_records_decode_to_vertexes_with_buildkits_field_numbers():
    records = [buildkit_trace.status(item["aux"]) for item in captured("nocache")
               if item.get("id") == "moby.buildkit.trace"]
    vertexes = [v for r in records for v in r["vertexes"]]
    names = {v["name"] for v in vertexes}
    assert "[internal] load remote build context" in names
    assert any(n.startswith("[build 6/6] RUN ") and "go build" in n for n in names)
    assert all(v["digest"].startswith("sha256:") for v in vertexes)
    done = [v for v in vertexes if v["completed"]]
    assert done and all(v["completed"] >= v["started"] > 1.6e9 for v in done)
    logs = [entry for r in records for entry in r["logs"]]
    assert any(b"go: no module dependencies to download" in entry["msg"] for entry in logs)
    assert {entry["stream"] for entry in logs} <= {1, 2}


# -- following a build --------------------------------------------------------------

def test_a_build_that_ran_every_step_counts_them_and_returns_the_image():
    image_id, follower, shown = follow(captured("nocache"))
    assert image_id == IMAGE_ID
    # 12 instructions; the two FROMs are neither cached nor run. BuildKit reports
    # WORKDIR as cached even under no-cache: it makes no layer.
    assert follower.steps() == {"total": 12, "cached": 1, "ran": 9}
    assert "#13 DONE 17.8s" in shown
    assert any(line.endswith(" go: no module dependencies to download") for line in shown)


def test_a_no_change_rebuild_is_all_cached_and_ran_nothing():
    image_id, follower, shown = follow(captured("nochange"))
    assert image_id == IMAGE_ID
    assert follower.steps() == {"total": 12, "cached": 10, "ran": 0}
    starts = [line for line in shown if "] RUN " in line]
    for start in starts:   # each step's line is followed by its CACHED verdict
        number = start.split()[0]
        assert f"{number} CACHED" in shown


def test_each_vertex_is_shown_once_per_transition_numbered_as_first_shown():
    _, _, shown = follow(captured("nocache"))
    assert shown[0] == "#1 [internal] load remote build context"
    assert len(shown) == len(set(shown))
    first_seen = []
    for line in shown:
        number = int(line.split()[0][1:])
        if number not in first_seen:
            first_seen.append(number)
    assert first_seen == list(range(1, len(first_seen) + 1))


def test_not_verbose_hides_step_output_but_keeps_it_in_the_log():
    _, follower, shown = follow(captured("nocache"), verbose=False)
    assert not any("no module dependencies" in line for line in shown)
    assert any("no module dependencies" in line for line in follower.lines)
    assert any(line.endswith("CACHED") or " DONE " in line for line in shown)


def test_output_split_across_records_and_colour_codes_come_out_as_clean_lines():
    items = [trace(vertex("sha256:a", "[1/1] RUN make", started=1)),
             trace(log("sha256:a", "\x1b[31mcompil")), trace(log("sha256:a", "ing\x1b[0m\nlast")),
             trace(vertex("sha256:a", "[1/1] RUN make", started=1, completed=2.5)), IMAGE]
    _, follower, shown = follow(items)
    assert shown == ["#1 [1/1] RUN make", "#1 compiling", "#1 last", "#1 DONE 1.5s"]
    assert follower.steps() == {"total": 1, "cached": 0, "ran": 1}


def test_an_unreadable_progress_record_does_not_fail_a_build():
    image_id, follower, _ = follow([{"id": "moby.buildkit.trace", "aux": "not base64!"}, IMAGE])
    assert image_id == IMAGE_ID
    assert any("unreadable progress record" in line for line in follower.lines)


# -- failures -----------------------------------------------------------------------

def test_a_failing_go_file_is_one_error_naming_the_step_with_the_compilers_words():
    with pytest.raises(OpsError) as caught:
        follow(captured("failed"))
    error = caught.value
    assert error.message == ("build failed at [build 6/6] RUN CGO_ENABLED=0 GOOS=linux "
                             "GOARCH=amd64 go build -trimpath -ldflags \"-s -w -X "
                             "main.version=v0.0.0-test\" -o /go/src/tasky/tasky .: exit code: 2")
    assert error.anchor == "build-fails"
    assert any("./broken.go:4:9: cannot use" in line for line in error.details)
    assert not isinstance(error, buildkit.BuildKitUnavailable)


def test_the_error_keeps_only_the_failing_steps_last_20_lines_without_colour():
    noise = "".join(f"\x1b[33mline {n}\x1b[0m\n" for n in range(30))
    items = [trace(vertex("sha256:b", "[1/2] RUN other", started=1),
                   log("sha256:b", "not this step\n")),
             trace(vertex("sha256:a", "[2/2] RUN --mount=type=cache,target=/c make", started=1),
                   log("sha256:a", noise)),
             trace(vertex("sha256:a", "[2/2] RUN --mount=type=cache,target=/c make", started=1,
                          completed=2, error="process \"/bin/sh -c make\" did not complete "
                                             "successfully: exit code: 1")),
             {"errorDetail": {"message": "executor failed"}, "error": "executor failed"}]
    with pytest.raises(OpsError) as caught:
        follow(items)
    assert caught.value.message == "build failed at [2/2] RUN make: exit code: 1"
    assert caught.value.details == [f"line {n}" for n in range(10, 30)]


def test_an_error_before_any_step_fails_names_the_last_step_started():
    items = [trace(vertex("sha256:c", "[internal] load build definition from Dockerfile",
                          started=1, completed=1)),
             {"error": "failed to solve with frontend dockerfile.v0: failed to create LLB "
                       "definition: dockerfile parse error line 3: unknown instruction: FOO"}]
    with pytest.raises(OpsError) as caught:
        follow(items)
    assert caught.value.message.startswith(
        "build failed at [internal] load build definition from Dockerfile: failed to solve")
    assert caught.value.message.endswith("unknown instruction: FOO")


def test_a_stream_without_an_image_is_an_error():
    with pytest.raises(OpsError, match="build ended without an image"):
        follow([trace(vertex("sha256:a", "[1/1] RUN true", started=1, completed=2))])


# -- the request ----------------------------------------------------------------------

class FakeLink(SocketApi):
    """The bare-socket EngineApi build() talks through, faked: it records the request."""

    api_version = "1.41"

    def __init__(self, items=(), refuse=None, ping=None):
        self.items, self.refuse, self.calls = list(items), refuse, []
        self.headers = ping or {}

    def stream(self, method, path, params=None, body=None, headers=None):
        self.calls.append((method, path, {"params": params, "data": body,
                                          "headers": headers}))
        if self.refuse:
            raise ApiError(400, self.refuse)
        return iter(self.items)

    def image(self, ref):
        raise AssertionError("build() does not inspect images")

    def ping(self):
        if isinstance(self.headers, Exception):
            raise self.headers
        return self.headers


def context():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = b"FROM scratch\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size, info.mtime = len(data), 1.5   # a fractional mtime makes a PAX header
        tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def test_the_image_is_handed_on_as_soon_as_the_engine_names_it():
    made = []

    def items():
        yield IMAGE
        assert made == [IMAGE_ID]   # before the rest of the answer (the tagging) arrives
        yield {"stream": "naming to docker.io/library/a:1 done\n"}

    class Link(FakeLink):
        def stream(self, method, path, params=None, body=None, headers=None):
            return items()

    result = buildkit.build(Link(), context(), tags=["a:1"], buildargs={}, labels={},
                            progress=lambda line: None, made=made.append)
    assert result["image_id"] == IMAGE_ID and made == [IMAGE_ID]


def test_the_request_asks_for_buildkit_with_every_tag_and_json_args():
    api = FakeLink([IMAGE])
    result = buildkit.build(api, context(), tags=["a:1", "a:latest"],
                            buildargs={"VERSION": "v1"}, labels={"k": "v"}, nocache=True,
                            progress=lambda line: None)
    assert result == {"image_id": IMAGE_ID, "steps": 0, "cached": 0, "ran": 0, "log": []}
    (method, path, request), = api.calls
    assert (method, path) == ("POST", "/build")
    assert request["headers"] == {"Content-Type": "application/tar"}
    params = request["params"]
    assert params["version"] == "2" and params["t"] == ["a:1", "a:latest"]
    assert json.loads(params["buildargs"]) == {"VERSION": "v1"}
    assert json.loads(params["labels"]) == {"k": "v"}
    assert params["nocache"] == "1" and "pull" not in params and "networkmode" not in params


def test_our_own_context_tar_goes_as_it_is_without_gzip(tmp_path):
    from ops.image import context_tar

    (tmp_path / "main.go").write_text("package main\n")
    ours = context_tar.tar(tmp_path, "FROM scratch\n")
    api = FakeLink([IMAGE])
    buildkit.build(api, ours, tags=["a:1"], buildargs={}, labels={},
                   progress=lambda line: None)
    body = api.calls[0][2]["data"]
    assert body is ours
    assert body.read(512)[:10] == b"Dockerfile"


def test_a_tar_opening_with_a_long_name_record_is_gzipped():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("d" * 150)
        tar.addfile(info, io.BytesIO(b""))
    assert buffer.getvalue()[156:157] == b"L"
    assert buildkit._recognisable(buffer).read(2) == b"\x1f\x8b"


def test_the_context_is_sent_gzipped_so_buildkit_recognises_a_pax_tar():
    api = FakeLink([IMAGE])
    original = context().getvalue()
    assert b"PaxHeader" in original[:512]   # what BuildKit's 1024-byte sniff rejects
    buildkit.build(api, context(), tags=["a:1"], buildargs={}, labels={},
                   progress=lambda line: None)
    body = api.calls[0][2]["data"].read()
    assert body[:3] == b"\x1f\x8b\x08"
    assert gzip.decompress(body) == original


def test_an_engine_that_will_not_run_buildkit_raises_the_fallback_error():
    api = FakeLink(refuse="buildkit is not enabled on daemon")
    with pytest.raises(buildkit.BuildKitUnavailable) as caught:
        buildkit.build(api, context(), tags=["a:1"], buildargs={}, labels={})
    assert isinstance(caught.value, OpsError)
    assert caught.value.reason == "buildkit is not enabled on daemon"


def test_other_refusals_are_plain_build_errors():
    api = FakeLink(refuse="Error parsing reference: \"A:1\" is not a valid repository/tag")
    with pytest.raises(OpsError) as caught:
        buildkit.build(api, context(), tags=["A:1"], buildargs={}, labels={})
    assert not isinstance(caught.value, buildkit.BuildKitUnavailable)
    assert "not a valid repository/tag" in caught.value.message


def test_a_network_mode_buildkit_rejects_fails_before_any_request():
    api = FakeLink([IMAGE])
    with pytest.raises(OpsError, match="network mode 'bridge'"):
        buildkit.build(api, context(), tags=["a:1"], buildargs={}, labels={},
                       network_mode="bridge")
    assert api.calls == []


# -- available ------------------------------------------------------------------------

@pytest.mark.parametrize("server, os_type, builder, client, ok, words", [
    ("1.41", "linux", "", "1.41", True, "version=2 selects BuildKit"),
    ("1.41", "linux", "2", "1.41", True, "BuildKit is the default"),
    ("1.41", "linux", "1", "1.41", False, "features.buildkit"),
    ("1.38", "linux", "", "1.38", False, "older than 1.39"),
    ("1.41", "linux", "", "1.35", False, "client speaks API 1.35"),
    ("1.41", "windows", "", "1.41", False, "Linux engine"),
])
def test_availability_follows_what_the_daemon_checks(server, os_type, builder, client, ok, words):
    available, why = buildkit.verdict(server, os_type, builder, client)
    assert available is ok and words in why


def test_availability_reads_the_pings_headers_and_a_dead_engine_is_a_reason():
    link = FakeLink(ping={"api-version": "1.41", "ostype": "linux", "builder-version": "1"})
    assert buildkit.available(link) == (False, "daemon.json sets features.buildkit to false")
    link = FakeLink(ping={"api-version": "1.43", "ostype": "linux", "builder-version": "2"})
    assert buildkit.available(link)[0] is True
    dead = FakeLink(ping=OpsError("the Docker engine at unix:///x does not answer"))
    can, why = buildkit.available(dead)
    assert can is False and "does not answer" in why


# -- prune --------------------------------------------------------------------------

class FakeEngine:
    def __init__(self, api):
        self.api = api


class PruneApi:
    """docker-py's df() and prune_builds(), answering from a list of cache records."""

    def __init__(self, records):
        self.records, self.calls = records, []

    def df(self):
        return {"BuildCache": self.records}

    def prune_builds(self, filters=None, keep_storage=None):
        self.calls.append({"filters": filters, "keep_storage": keep_storage})
        cache_id = (filters or {}).get("id")
        gone = [r for r in self.records if r["ID"] == cache_id] if cache_id else self.records
        return {"CachesDeleted": [r["ID"] for r in gone] or None,
                "SpaceReclaimed": sum(r["Size"] for r in gone)}


RECORDS = [
    # As BuildKit describes the cache of our Dockerfile's download step (its RUN command).
    {"ID": "mod", "Size": 10, "Description": "cached mount /go/pkg/mod from exec /bin/sh -c "
     + next(cmd for cmd in dockerfile.run_commands((ROOT / "Dockerfile").read_text())
            if "go mod download" in cmd)},
    {"ID": "gobuild", "Size": 57, "Description": "cached mount /root/.cache/go-build from exec "
     "/bin/sh -c CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-$(go env GOARCH)}"
     "     GOARM=${TARGETVARIANT#v}     go build -trimpath -ldflags "
     "\"-s -w -X main.version=${VERSION}\" -o /go/src/tasky/tasky ."},
    {"ID": "layer", "Size": 5, "Description": "mount / from exec /bin/sh -c "
     + next(cmd for cmd in dockerfile.run_commands((ROOT / "Dockerfile").read_text())
            if "adduser" in cmd)},
    {"ID": "theirs", "Size": 7, "Description": "cached mount /root/.cache/go-build from exec "
                                               "/bin/sh -c go build ./cmd/other"},
    {"ID": "ctx", "Size": 3, "Description": "http url http://build-context-abc"},
]


def test_a_project_prune_removes_only_records_its_run_lines_made_one_id_at_a_time():
    api = PruneApi(RECORDS)
    report = build_cache.prune(FakeEngine(api), dockerfile=(ROOT / "Dockerfile").read_text())
    assert sorted(report["ids"]) == ["gobuild", "layer", "mod"]
    assert report["freed_bytes"] == 72 and report["scope"] == "project"
    assert [call["filters"] for call in api.calls] == [{"id": "mod"}, {"id": "gobuild"},
                                                       {"id": "layer"}]
    assert all(call["keep_storage"] is None for call in api.calls)


def test_an_engine_prune_passes_filters_and_keep_storage_through():
    api = PruneApi(RECORDS)
    report = build_cache.prune(FakeEngine(api), keep_storage=1000, filters={"until": "24h"})
    assert api.calls == [{"filters": {"until": "24h"}, "keep_storage": 1000}]
    assert report["freed_bytes"] == 82 and report["deleted"] == 5
    assert report["scope"] == "engine"


def test_keep_storage_cannot_be_scoped_to_a_project():
    with pytest.raises(OpsError, match="keep_storage"):
        build_cache.prune(FakeEngine(PruneApi(RECORDS)), keep_storage=1, dockerfile="RUN true\n")


# -- classic_dockerfile -------------------------------------------------------------

def test_our_dockerfile_loses_its_mounts_and_nothing_else():
    text = (ROOT / "Dockerfile").read_text()
    classic = dockerfile.classic_dockerfile(text)
    assert "--mount" in text and "--mount" not in classic
    assert "RUN case \" ${GOFLAGS} \" in \\\n" in classic
    assert "*) go mod download ;;" in classic
    assert "RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-$(go env GOARCH)}" \
        " \\\n    GOARM" in classic
    assert dockerfile.run_commands(classic) == dockerfile.run_commands(text)
    def top_level(dockerfile):   # every line but RUN instructions and continuations
        return [line for line in dockerfile.splitlines() if not line.startswith((" ", "RUN"))]

    # and the build stage's platform, which the classic builder cannot parse
    assert [line.replace(" --platform=$BUILDPLATFORM", "") for line in top_level(text)] \
        == top_level(classic)
    assert "FROM --platform=$BUILDPLATFORM" in text
    assert "FROM --platform" not in classic


@pytest.mark.parametrize("before, after", [
    ("RUN --mount=type=cache,target=/x go build\n", "RUN go build\n"),
    ("run  --mount=type=secret,id=a --mount=type=cache,target=/y \\\n  --network=none echo hi\n",
     "run --network=none echo hi\n"),
    ('RUN --mount="type=cache,target=/a b" \\\n    --mount=type=cache,target=/c \\\n'
     '    make \\\n    install\n', "RUN make \\\n    install\n"),
    ("RUN --mount=type=cache,target=/x \\\n    # a comment\n    make\n",
     "    # a comment\nRUN make\n"),
    ("RUN echo --mount=not-a-flag\nCOPY --from=build /a /b\n",
     "RUN echo --mount=not-a-flag\nCOPY --from=build /a /b\n"),
])
def test_mount_flags_are_removed_wherever_they_sit(before, after):
    assert dockerfile.classic_dockerfile(before) == after
