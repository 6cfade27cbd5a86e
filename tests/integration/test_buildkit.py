"""BuildKit builds of our app on the real engine with the offline stand-in bases.

Cache reuse is read from the builds' own output, never from timing: the cache-mount test
builds a copy of the Dockerfile whose mounts have ids of this run only (so its first
build is really cold) and whose `go build` has -v, which names each package Go compiles
and stays silent about those its build cache already holds.
"""
import dataclasses
import json
import re
import shutil

import pytest

from tests.integration.helpers import IMAGE, ROOT, RUN_ID, EngineRelay

BASES = {"GO_IMAGE": "tasky-ops/golang:1.19-debian",
         "RUNTIME_IMAGE": "tasky-ops/alpine:3.17.0-busybox", "VERSION": f"v0.0.0-{RUN_ID}"}
LABELS = {"org.tasky-ops.managed": "true", "org.tasky-ops.role": "app",
          "org.tasky-ops.image": IMAGE}
MODULE = "github.com/tasky-ops/tasky"
DOCKERFILE = (ROOT / "Dockerfile").read_text()
BUILD_CONTEXT = "http url http://build-context-"


def cache_test_dockerfile():
    """Our Dockerfile with this run's own cache ids, a marker that makes its RUN lines
    (and so their cache records) this run's, and `go build -v`."""
    text = DOCKERFILE
    for old, new in ((",id=tasky-ops-", f",id=tasky-it-{RUN_ID}-"),
                     ("*) go mod download", f"*) TASKY_IT={RUN_ID} go mod download"),
                     ("    CGO_ENABLED=0", f"    TASKY_IT={RUN_ID} CGO_ENABLED=0"),
                     ("go build -trimpath", "go build -v -trimpath")):
        assert old in text, f"the Dockerfile changed: no {old!r} to adapt for this test"
        text = text.replace(old, new)
    return text


TEST_DOCKERFILE = cache_test_dockerfile()


@pytest.fixture(scope="module")
def settings(engine):
    from ops.image import standins as bases
    from ops.settings.config import Settings

    s = Settings()
    bases.ensure(engine, s.bases, progress=lambda line: None, only_missing=True)
    return s


@pytest.fixture(scope="module", autouse=True)
def cache_cleanup(engine):
    """Remove the BuildKit cache records this module made that can be told apart: those
    of its Dockerfiles' RUN lines and its build contexts. Images go with the session."""
    from ops.image import build_cache

    before = {r["ID"] for r in engine.api.df().get("BuildCache") or []}
    yield
    ours = {r["ID"] for r in build_cache.project_records(engine, DOCKERFILE + TEST_DOCKERFILE)}
    for record in engine.api.df().get("BuildCache") or []:
        if record["ID"] not in before and (
                record["ID"] in ours or record["Description"].startswith(BUILD_CONTEXT)):
            engine.api.prune_builds(filters={"id": record["ID"]})


def copy_of_project(tmp_path, settings, dockerfile):
    root = tmp_path / "repo"
    shutil.copytree(ROOT / settings.context, root / settings.context)
    (root / settings.dockerfile).write_text(dockerfile)
    return dataclasses.replace(settings, root=root)


def build(engine, settings, tag, buildargs=BASES, **kwargs):
    from ops.image import buildkit, docker_build

    shown = []
    result = buildkit.build(engine, docker_build.context_tar(settings), tags=[f"{IMAGE}:{tag}"],
                            buildargs=buildargs, labels=LABELS, progress=shown.append, **kwargs)
    return result, shown


def step(log, needle):
    """(verdict, output lines) of the Dockerfile step whose name contains needle."""
    starts = [line for line in log if re.match(r"^#\d+ \[", line) and needle in line]
    assert len(starts) == 1, f"no single step {needle!r} in: {log}"
    number = starts[0].split()[0]
    lines = [line[len(number) + 1:] for line in log if line.startswith(number + " ")][1:]
    verdict = lines[-1].split()[0] if lines else None    # CACHED, DONE or ERROR:
    return verdict, lines[:-1]


def test_buildkit_builds_our_app_to_an_image_that_passes_verify(engine, inv, settings):
    result, shown = build(engine, settings, "bk")
    assert result["image_id"].startswith("sha256:")
    assert result["steps"] == 12 and result["cached"] + result["ran"] == 10
    assert any(line.startswith("#") and "[build 6/6] RUN" in line for line in shown)
    image = engine.images.get(f"{IMAGE}:bk")
    assert image.id == result["image_id"]
    assert image.labels["org.opencontainers.image.version"] == BASES["VERSION"]
    proc = inv("verify", "--tag", "bk")
    assert proc.returncode == 0, proc.output
    assert "PASSED" in proc.stdout

    again, _ = build(engine, settings, "bk")
    assert again["image_id"] == result["image_id"]
    assert (again["cached"], again["ran"]) == (10, 0)


def test_a_one_file_edit_reuses_the_module_and_build_caches(engine, settings, tmp_path):
    copy = copy_of_project(tmp_path, settings, TEST_DOCKERFILE)
    cold, _ = build(engine, copy, "cache")
    verdict, compiled = step(cold["log"], "go build -v")
    assert verdict == "DONE"
    assert "runtime" in compiled and "net/http" in compiled   # the standard library, once

    main_go = copy.context_path / "store.go"
    main_go.write_text(main_go.read_text() + "\n// one edit\n")
    edited, _ = build(engine, copy, "cache")
    assert step(edited["log"], "go mod download")[0] == "CACHED"
    verdict, compiled = step(edited["log"], "go build -v")
    assert verdict == "DONE"                 # the step ran: its input changed
    assert compiled == [MODULE]              # ... and compiled our package only
    assert edited["image_id"] != cold["image_id"]


def test_a_code_edit_with_a_new_version_reruns_only_the_binarys_copy_in_the_release(
        engine, settings, tmp_path):
    """What each `inv dev` save and each commit is: the release stage's RUN steps (a
    container each) and the assets stay cached; only the binary is copied again."""
    copy = copy_of_project(tmp_path, settings, TEST_DOCKERFILE)
    build(engine, copy, "order")
    store = copy.context_path / "store.go"
    store.write_text(store.read_text() + "\n// another edit\n")
    edited, _ = build(engine, copy, "order", buildargs={**BASES, "VERSION": f"v1-{RUN_ID}"})
    assert step(edited["log"], "go build -v")[0] == "DONE"
    for needle in ("adduser", "wizexercise.txt", "tasky/assets"):
        assert step(edited["log"], needle)[0] == "CACHED", needle
    assert step(edited["log"], "appgroup /go/src/tasky/tasky .")[0] == "DONE"
    assert engine.images.get(f"{IMAGE}:order").labels[
        "org.opencontainers.image.version"] == f"v1-{RUN_ID}"


def test_a_go_file_that_does_not_compile_is_one_error_naming_the_step(engine, settings,
                                                                      tmp_path):
    from ops.core.errors import OpsError

    copy = copy_of_project(tmp_path, settings, DOCKERFILE)
    (copy.context_path / "broken.go").write_text(
        'package main\n\nfunc broken() int {\n\treturn "not an int"\n}\n')
    with pytest.raises(OpsError) as caught:
        build(engine, copy, "broken")
    error = caught.value
    assert error.message.startswith("build failed at [build 6/6] RUN CGO_ENABLED=0 ")
    assert error.message.endswith(": exit code: 2")
    assert "\n" not in error.line() and "\x1b" not in error.line()
    assert any("broken.go:4:" in line for line in error.details)
    assert error.anchor == "build-fails"


def test_the_classic_builder_rejects_the_mounts_and_builds_classic_dockerfile(
        engine, inv, settings, tmp_path):
    import docker

    from ops.image import docker_build, dockerfile

    def classic_build(s, tag):
        return engine.images.build(fileobj=docker_build.context_tar(s), custom_context=True,
                                   tag=f"{IMAGE}:{tag}", buildargs=BASES, labels=LABELS,
                                   rm=True, forcerm=True)

    # BuildKit-only syntax: the build stage's platform flag (first) and the cache mounts
    with pytest.raises(docker.errors.BuildError, match="failed to parse platform"):
        classic_build(copy_of_project(tmp_path / "a", settings, DOCKERFILE), "platform")
    without_platform = DOCKERFILE.replace(" --platform=$BUILDPLATFORM", "")
    with pytest.raises(docker.errors.BuildError, match="--mount"):
        classic_build(copy_of_project(tmp_path / "c", settings, without_platform), "mounts")
    classic_build(copy_of_project(tmp_path / "b", settings,
                                  dockerfile.classic_dockerfile(DOCKERFILE)), "classic")
    proc = inv("verify", "--tag", "classic")
    assert proc.returncode == 0, proc.output


def test_a_project_prune_frees_its_cache_mounts_and_leaves_others(engine, settings, tmp_path):
    from ops.image import build_cache

    # The build stage only: the release stage's records are shared with real builds.
    build_stage = TEST_DOCKERFILE.split("# ---- Stage 2")[0]
    copy = copy_of_project(tmp_path, settings, TEST_DOCKERFILE)
    build(engine, copy, "prune")
    mine = build_cache.project_records(engine, build_stage)
    mounts = [r for r in mine if r["Type"] == "exec.cachemount"]
    assert {r["Description"].split()[2] for r in mounts} >= {"/go/pkg/mod",
                                                             "/root/.cache/go-build"}
    others = {r["ID"] for r in engine.api.df()["BuildCache"]} - {r["ID"] for r in mine}

    report = build_cache.prune(engine, dockerfile=build_stage)
    assert report["scope"] == "project" and report["freed_bytes"] > 1_000_000
    assert {r["ID"] for r in mounts} <= set(report["ids"])
    assert not set(report["ids"]) & others
    assert build_cache.project_records(engine, build_stage) == []


def buildkit_switched_off(head):
    """The real engine as daemon.json `"features": {"buildkit": false}` leaves it: its ping
    says Builder-Version 1 (the one thing that setting changes on the API)."""
    if b"/_ping " not in head.split(b"\r\n", 1)[0]:
        return None
    return (b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nOstype: linux\r\n"
            b"Builder-Version: 1\r\nContent-Length: 2\r\n\r\nOK")


def test_an_engine_without_buildkit_falls_back_to_classic_or_fails_in_one_line(engine, inv):
    """auto: the classic builder on the Dockerfile minus its mounts, saying why, to an
    image that passes verify. buildkit: one error, and no image made."""
    relay = EngineRelay(answer=buildkit_switched_off)
    image = f"{IMAGE}-classic"
    env = {"DOCKER_HOST": relay.host, "INVOKE_TASKY_IMAGE": image}
    try:
        refused = inv("build", "--offline", env={**env, "INVOKE_TASKY_BUILDER": "buildkit"})
        fallback = inv("build", "--offline", "--json", env=env)
    finally:
        relay.close()
    assert refused.returncode == 1
    assert refused.stderr.strip().startswith("error: the Docker engine cannot run BuildKit "
                                             "builds (daemon.json sets features.buildkit to "
                                             "false)")
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "Traceback" not in refused.output

    assert fallback.returncode == 0, fallback.output
    result = json.loads(fallback.stdout)
    assert result["builder"] == "classic (daemon.json sets features.buildkit to false)"
    assert "build: classic builder (daemon.json sets features.buildkit to false); cache " \
           "mounts are left out" in fallback.stderr + fallback.stdout
    assert result["ran_steps"] + result["cached_steps"] > 0
    history = " ".join(layer["CreatedBy"] for layer in engine.api.history(f"{image}:latest"))
    assert "/bin/sh -c #(nop)" in history   # the classic builder's mark; BuildKit's differs
    verified = inv("verify", env={"INVOKE_TASKY_IMAGE": image})
    assert verified.returncode == 0, verified.output
