"""What `inv dev`'s fast path reads of a Dockerfile and of the app before it takes a save
(ops/image/dockerfile.go_build_step, ops/flows/dev_fast.plan); the real loop runs in
tests/integration/test_dev.py."""
import dataclasses

import pytest

from ops.flows import dev_changes, dev_fast
from ops.image import dockerfile
from ops.settings.config import Settings
from tests.unit.unit_support import ROOT

THEIRS = """ARG GO_IMAGE=golang:1.19
FROM ${GO_IMAGE} AS build
WORKDIR /go/src/tasky
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -o /go/src/tasky/tasky .

FROM alpine:3.17.0 AS release
WORKDIR /app
COPY --from=build /go/src/tasky/tasky .
ENTRYPOINT ["/app/tasky", "--serve"]
CMD ["--port", "8080"]
"""


def test_our_dockerfile_gives_its_build_line_flags_version_and_output():
    step = dockerfile.go_build_step((ROOT / "Dockerfile").read_text())
    assert "-X main.version=${VERSION}" in step["command"] and "-trimpath" in step["command"]
    assert step["output"] == "/go/src/tasky/tasky" and step["workdir"] == "/go/src/tasky"
    assert step["base"] == "${GO_IMAGE}" and step["argv"] == []
    # no TARGETARCH in a dev build: the command falls back to Go's own, the engine's
    assert step["args"]["TARGETARCH"] is None and "GOFLAGS" in step["args"]
    assert dockerfile.with_output(step["command"], "/out/.next").endswith(
        '"-s -w -X main.version=${VERSION}" -o /out/.next .')


def test_an_upstream_shaped_dockerfile_is_read_with_its_entrypoint_arguments():
    step = dockerfile.go_build_step(THEIRS)
    assert step["line"] == 7 and step["args"] == {}
    assert step["argv"] == ["--serve", "--port", "8080"]


@pytest.mark.parametrize("change, reason", [
    (("-o /go/src/tasky/tasky .", "."), "names no plain -o output"),
    (("RUN go mod download", "RUN go build -o /x ./tools"), "more than one RUN with `go build`"),
    (('ENTRYPOINT ["/app/tasky", "--serve"]', "ENTRYPOINT /app/tasky"), "exec form"),
    (("COPY --from=build /go/src/tasky/tasky .", "COPY --from=build /go/src/tasky/other ."),
     "copies no /go/src/tasky/tasky"),
])
def test_a_dockerfile_the_fast_path_cannot_read_plainly_says_why(change, reason):
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace("`", ".")):
        dockerfile.go_build_step(THEIRS.replace(*change))


def app(tmp_path, dockerfile_text, go_mod, vendored=False):
    context = tmp_path / "app"
    (context / "vendor").mkdir(parents=True, exist_ok=True)
    (tmp_path / "Dockerfile").write_text(dockerfile_text)
    (context / "go.mod").write_text(go_mod)
    if vendored:
        (context / "vendor" / "modules.txt").write_text("# x v1\n")
    return Settings(root=tmp_path, context="app")


def test_plan_takes_the_chosen_go_image_for_the_go_image_arg(tmp_path):
    step, reason = dev_fast.plan(app(tmp_path, THEIRS, "module m\n"), "tasky-ops/golang:x")
    assert reason is None and step["image"] == "tasky-ops/golang:x"


def test_modules_from_the_network_turn_the_fast_path_off_unless_vendored(tmp_path):
    mod = "module m\n\nrequire github.com/gin-gonic/gin v1.9.0\n"
    step, reason = dev_fast.plan(app(tmp_path, THEIRS, mod), "g")
    assert step is None and "no vendor/" in reason
    step, reason = dev_fast.plan(app(tmp_path, THEIRS, mod, vendored=True), "g")
    assert reason is None


def test_a_dockerfile_reason_names_the_file(tmp_path):
    step, reason = dev_fast.plan(app(tmp_path, THEIRS.replace("go build", "make"), "module m\n"),
                                 "g")
    assert step is None and reason == "Dockerfile: it has no RUN with `go build`"


@pytest.mark.parametrize("changed, why", [
    (["main.go", "internal/db/db.go"], None),
    (["main.go", "go.sum"], "go.sum is not Go source outside vendor/"),
    (["vendor/github.com/x/x.go"], "vendor/github.com/x/x.go is not Go source outside vendor/"),
    ([".dockerignore"], ".dockerignore is not Go source outside vendor/"),
])
def test_only_go_source_outside_vendor_is_the_fast_paths(changed, why):
    assert dev_changes.image_needed(changed) == why


def test_a_builder_that_cannot_start_turns_the_fast_path_off_with_the_engines_reason(tmp_path):
    import docker

    class Containers:
        @staticmethod
        def create(*args, **kwargs):
            raise docker.errors.ImageNotFound("No such image: golang:9")

        @staticmethod
        def list(**kwargs):
            return []

    class Engine:
        containers = Containers

    said = []
    settings = app(tmp_path, THEIRS, "module m\n")
    settings = dataclasses.replace(settings, bases=dataclasses.replace(
        settings.bases, cache_dir=str(tmp_path / "cache")))
    fast, reason = dev_fast.prepare(None, Engine, settings, False, None, said.append)
    assert fast is None and said == []
    assert reason == "its builder did not start in golang:1.19: No such image: golang:9"
    assert list((tmp_path / "cache" / "dev").iterdir()) == []   # its folder went with it


def test_a_go_file_the_image_never_sees_turns_the_fast_path_into_an_image_build(tmp_path):
    """The fast path compiles the mounted folder; the image compiles what .dockerignore
    lets through. A .go file between the two would make them differ: the save rebuilds."""
    (tmp_path / "main.go").write_text("package main\n")
    (tmp_path / "scratch").mkdir()
    (tmp_path / "scratch" / "debug.go").write_text("package main\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "hook.go").write_text("package main\n")
    assert dev_changes.hidden_go_source(tmp_path, []) is None
    assert dev_changes.hidden_go_source(tmp_path, [".git", "*.md"]) is None
    why = dev_changes.hidden_go_source(tmp_path, ["scratch"])
    assert why.startswith("scratch/debug.go is left out of the image by .dockerignore")
    assert dev_changes.hidden_go_source(tmp_path, ["scratch", "!scratch/debug.go"]) is None
