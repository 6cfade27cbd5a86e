"""The pure parts of building: following the build stream and packing the context."""
import tarfile

import pytest

from ops.core.errors import OpsError
from ops.image import build_args, dockerfile
from ops.image import docker_build as builds
from ops.settings.config import Settings
from tests.unit.unit_support import ROOT

IMAGE_ID = "sha256:" + "ab12" * 16


def stream_of(lines):
    """Decoded classic-builder items, one 'stream' item per line as the daemon sends them."""
    return [{"stream": line + "\n"} for line in lines]


def step_lines(total, cached=(), outputs=None):
    """The log of a build of `total` steps; `cached` step numbers hit the cache."""
    outputs = outputs or {}
    lines = []
    for n in range(1, total + 1):
        lines.append(f"Step {n}/{total} : RUN step-{n}")
        if n in cached:
            lines.append(" ---> Using cache")
        else:
            lines.append(f" ---> Running in {n:012x}")
            lines.extend(outputs.get(n, [f"output of step {n}"]))
            lines.append(f"Removing intermediate container {n:012x}")
        lines.append(f" ---> {n + 0xabc000000000:012x}")
    return lines


def follow(items, verbose=True):
    shown = []
    result = builds._follow(iter(items), verbose, shown.append)
    return result, shown


def test_follow_returns_the_image_id_and_counts_steps():
    total, cached = 5, {1, 2, 4}
    items = stream_of(step_lines(total, cached)) + [{"aux": {"ID": IMAGE_ID}},
                                                    {"stream": "Successfully built ab12\n"}]
    (image_id, steps), _ = follow(items)
    assert image_id == IMAGE_ID
    assert steps["total"] == total
    assert steps["cached"] == len(cached)


def test_follow_shows_steps_and_output_but_not_bookkeeping_when_verbose():
    lines = step_lines(3, cached={1}, outputs={2: ["go: downloading x", "compiled ok"]})
    _, shown = follow(stream_of(lines) + [{"aux": {"ID": IMAGE_ID}}], verbose=True)
    assert [line for line in shown if line.startswith("Step ")] == \
        [line for line in lines if line.startswith("Step ")]
    assert "go: downloading x" in shown and "compiled ok" in shown
    assert " ---> Using cache" in shown
    assert not any(line.startswith(" ---> Running in ") for line in shown)
    assert not any(line.startswith("Removing intermediate container") for line in shown)
    assert not any(builds.NOISE.match(line) for line in shown)


def test_follow_shows_nothing_when_not_verbose():
    _, shown = follow(stream_of(step_lines(3)) + [{"aux": {"ID": IMAGE_ID}}], verbose=False)
    assert shown == []


def test_follow_splits_multi_line_chunks_and_skips_blank_lines():
    items = [{"stream": "Step 1/1 : RUN make\n\n   \nline a\nline b\n"},
             {"aux": {"ID": IMAGE_ID}}]
    _, shown = follow(items)
    assert shown == ["Step 1/1 : RUN make", "line a", "line b"]


def test_follow_ignores_aux_items_without_an_id():
    items = [{"aux": {"Digest": "sha256:x"}}] + stream_of(step_lines(1)) + \
        [{"aux": {"ID": IMAGE_ID}}, {"aux": {"Other": 1}}]
    (image_id, _), _ = follow(items)
    assert image_id == IMAGE_ID


def failing_build(verbose, output_lines=30):
    """Step 1 passes; step 2 prints output_lines lines, then the daemon reports an error."""
    failing_output = [f"compile line {i}" for i in range(output_lines)]
    lines = step_lines(1) + ["Step 2/3 : RUN go build ./...", " ---> Running in 0123456789ab",
                             *failing_output]
    items = stream_of(lines) + [{"errorDetail": {"code": 1, "message": "exit 2"},
                                 "error": "The command '/bin/sh -c go build ./...' returned a "
                                          "non-zero code: 2\n"}]
    with pytest.raises(OpsError) as caught:
        follow(items, verbose=verbose)
    return caught.value, lines, failing_output


def test_build_error_names_the_failing_step_and_keeps_its_last_lines():
    error, lines, failing_output = failing_build(verbose=True)
    assert error.anchor == "build-fails"
    assert "Step 2/3 : RUN go build ./..." in error.message
    assert "returned a non-zero code: 2" in error.message
    assert error.details[0] == "Step 2/3 : RUN go build ./..."
    assert error.details[-1] == failing_output[-1]
    assert failing_output[-1] in error.details
    assert all(line in lines[lines.index("Step 2/3 : RUN go build ./..."):]
               for line in error.details)  # nothing from the steps that passed
    assert len(error.details) < len(failing_output)  # the last lines, not the whole flood
    assert failing_output[0] not in error.details


def test_build_error_details_hold_a_short_step_whole():
    error, lines, _ = failing_build(verbose=True, output_lines=3)
    assert error.details == lines[lines.index("Step 2/3 : RUN go build ./..."):]


def test_build_error_when_not_verbose_carries_the_full_log():
    error, lines, _ = failing_build(verbose=False)
    assert error.details == lines  # the user saw nothing yet: the whole log is the evidence
    assert "Step 2/3 : RUN go build ./..." in error.message


def test_build_error_before_any_step():
    with pytest.raises(OpsError) as caught:
        follow([{"error": "Cannot locate specified Dockerfile: Dockerfile"}])
    assert caught.value.anchor == "build-fails"
    assert "before the first step" in caught.value.message
    assert "Cannot locate specified Dockerfile" in caught.value.message


def test_stream_that_ends_without_an_image_is_an_error():
    lines = step_lines(2)
    with pytest.raises(OpsError) as caught:
        follow(stream_of(lines))
    assert caught.value.anchor == "build-fails"
    assert caught.value.details == lines[-20:]


# --- context_tar ------------------------------------------------------------------------

DOCKERFILE = "FROM scratch\n# the top-level Dockerfile\nCOPY . /app\n"


def make_project(root, dockerignore="# context rules\nDockerfile\n.dockerignore\nsecret.txt\n"
                                    "*.test\n"):
    (root / "Dockerfile").write_text(DOCKERFILE)
    app = root / "app"
    (app / "assets").mkdir(parents=True)
    (app / "main.go").write_text("package main\n")
    (app / "assets" / "index.html").write_text("<html></html>\n")
    (app / "secret.txt").write_text("do not ship\n")
    (app / "x.test").write_text("test binary\n")
    (app / "Dockerfile").write_text("FROM stale-copy-in-the-context\n")
    if dockerignore is not None:
        (app / ".dockerignore").write_text(dockerignore)
    return Settings(root=root, dockerfile="Dockerfile", context="app")


def tar_members(fileobj):
    with tarfile.open(fileobj=fileobj) as tar:
        return {member.name: (tar.extractfile(member).read().decode()
                              if member.isfile() else None)
                for member in tar.getmembers()}


def test_context_tar_holds_the_top_level_dockerfile_and_honours_dockerignore(tmp_path):
    settings = make_project(tmp_path)
    members = tar_members(builds.context_tar(settings))
    assert members["Dockerfile"] == DOCKERFILE
    assert ".dockerignore" in members
    # The daemon reads it, then drops the Dockerfile and itself before COPY.
    assert {"Dockerfile", ".dockerignore"} <= set(members[".dockerignore"].splitlines())
    assert members["main.go"] == "package main\n"
    assert members["assets/index.html"] == "<html></html>\n"
    assert "secret.txt" not in members
    assert "x.test" not in members


def test_context_tar_has_one_dockerfile_entry(tmp_path):
    settings = make_project(tmp_path)
    with tarfile.open(fileobj=builds.context_tar(settings)) as tar:
        names = tar.getnames()
    assert names.count("Dockerfile") == 1


@pytest.mark.parametrize("lines", [None, "", "secret.txt\n# Dockerfile\n",
                                   "secret.txt\nDockerfile\n"])
def test_a_context_without_a_complete_dockerignore_still_keeps_both_out_of_copy(tmp_path,
                                                                                 lines):
    """Upstream apps often ship no .dockerignore: the tar's own one still lists the
    Dockerfile and itself, so `COPY . .` copies neither and the cache holds."""
    settings = make_project(tmp_path, dockerignore=lines)
    members = tar_members(builds.context_tar(settings))
    assert members["Dockerfile"] == DOCKERFILE
    assert {"Dockerfile", ".dockerignore"} <= set(members[".dockerignore"].splitlines())
    if lines and "secret.txt" in lines:
        assert "secret.txt" not in members


def test_build_args_refuse_reserved_names_secrets_and_malformed_values(tmp_path):
    settings = make_project(tmp_path)
    assert build_args.parse_build_args(["GOFLAGS=-mod=vendor", "GOPROXY=off"], settings) == {
        "GOFLAGS": "-mod=vendor", "GOPROXY": "off"}
    for text, words in (("VERSION=1", "set by tasky-ops"), ("DB_PASSWORD=hunter22", "secret"),
                        ("SECRET_KEY=abcd", "secret"), ("NOT A KEY:hunter22", "malformed")):
        with pytest.raises(OpsError) as caught:
            build_args.parse_build_args([text], settings)
        assert words in caught.value.message
        assert "hunter22" not in caught.value.line()


@pytest.mark.parametrize("text, line", [
    ("FROM golang:1.19\nRUN true\n", 1),
    ("ARG GO_IMAGE=golang:1.19\nFROM ${GO_IMAGE} AS build\nFROM build AS test\n"
     "FROM alpine:3.17.0\n", 4)])
def test_offline_refuses_a_from_that_names_its_image(tmp_path, text, line):
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    with pytest.raises(OpsError) as caught:
        dockerfile.check_offline_froms(path)
    assert f"Dockerfile line {line}" in caught.value.message
    assert caught.value.anchor == "offline-bases"


def test_offline_accepts_build_arg_bases_stage_names_and_scratch(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text("ARG GO_IMAGE=golang:1.19\nFROM --platform=linux/amd64 ${GO_IMAGE} AS b\n"
                    "FROM b AS test\nFROM scratch\nFROM $RUNTIME_IMAGE\n")
    dockerfile.check_offline_froms(path)
    dockerfile.check_offline_froms(ROOT / "Dockerfile")


def test_missing_dockerfile_is_a_build_failure(tmp_path):
    settings = make_project(tmp_path)
    (tmp_path / "Dockerfile").unlink()
    with pytest.raises(OpsError) as caught:
        builds.context_tar(settings)
    assert caught.value.anchor == "build-fails"
    assert str(settings.dockerfile_path) in caught.value.message


def test_missing_context_is_a_build_failure(tmp_path):
    settings = make_project(tmp_path)
    with pytest.raises(OpsError) as caught:
        builds.context_tar(Settings(root=settings.root, context="no-such-dir"))
    assert caught.value.anchor == "build-fails"
    assert "no-such-dir" in caught.value.message


def test_the_projects_own_context_packs_cleanly():
    """The repository's Dockerfile and app/.dockerignore agree (no engine needed)."""
    settings = Settings(root=ROOT)
    members = tar_members(builds.context_tar(settings))
    assert members["Dockerfile"] == settings.dockerfile_path.read_text()
    assert not any(name.startswith(".git/") or name == ".git" for name in members)


class UntouchableEngine:
    """An engine that fails the test if anything is asked of it."""

    def __getattr__(self, name):
        raise AssertionError(f"the engine was used ({name}) before the input was checked")


def build_task(monkeypatch, **flags):
    """`inv build` with flags, its engine untouchable: the boundary must refuse first."""
    from invoke import Context, Exit

    import tasks
    from tests.unit.unit_support import invoke_config

    monkeypatch.setattr(tasks, "link", lambda s: UntouchableEngine())
    with pytest.raises(Exit) as caught:
        tasks.build(Context(config=invoke_config()), **flags)
    return caught.value


# ops code receives checked values: the task checks them before any engine work.
@pytest.mark.parametrize("value", ["bad tag!", "-x"])
def test_build_checks_the_tag_before_any_engine_work(monkeypatch, value):
    refused = build_task(monkeypatch, tag=value)
    assert refused.code == 1 and refused.message.endswith("RUNBOOK.md#bad-tag")
    assert repr(value) in refused.message


def test_build_checks_the_image_name_before_any_engine_work(monkeypatch):
    monkeypatch.setenv("INVOKE_TASKY_IMAGE", "Not/Valid")
    refused = build_task(monkeypatch)
    assert refused.code == 1 and "INVOKE_TASKY_IMAGE is 'Not/Valid'" in refused.message
    assert refused.message.endswith("RUNBOOK.md#bad-config")


@pytest.mark.parametrize("content, said", [
    (b"FROM scratch\n# caf\xe9\n", "is not UTF-8 text (line 2, byte 18)"),
    (b"\xff\xfeF\x00R\x00", "is not UTF-8 text (line 1, byte 0)"),
])
def test_a_dockerfile_that_is_not_utf8_is_one_line_naming_line_and_byte(tmp_path, content, said):
    from ops.image import dockerfile

    path = tmp_path / "Dockerfile"
    path.write_bytes(content)
    with pytest.raises(OpsError) as caught:
        dockerfile.read(path)
    assert said in caught.value.message and caught.value.anchor == "build-fails"


def test_a_dockerfile_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    import os

    from ops.image import dockerfile

    path = tmp_path / "Dockerfile"
    os.mkfifo(path)
    with pytest.raises(OpsError) as caught:
        dockerfile.read(path)   # opening a FIFO for reading would block until a writer came
    assert "not a regular file" in caught.value.message


# --- issue 17: build args never carry credentials -----------------------------------------

CREDENTIAL_URLS = ["https://u:pw-canary-1@proxy.example/", "https://pw-canary-1@proxy.example",
                   "off,https://me:pw-canary-1@proxy.example/go|direct",
                   "sum.golang.org+key https://u:pw-canary-1@sum.example/",
                   "-x https://u:pw/canary-1@host/", "git+ssh://u:pw-canary-1@git.example/repo"]


@pytest.mark.parametrize("value", CREDENTIAL_URLS)
def test_a_build_arg_with_credentials_in_a_url_is_refused_without_them(tmp_path, value):
    settings = make_project(tmp_path)
    with pytest.raises(OpsError) as caught:
        build_args.parse_build_args([f"GOPROXY={value}"], settings, environ={})
    line = caught.value.line()
    assert "--build-arg GOPROXY" in line and "--mount=type=secret" in line
    assert "engine's own environment" in line and caught.value.anchor == "build-arg-credentials"
    assert "canary" not in line and "pw" not in line


@pytest.mark.parametrize("name", ["GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOFLAGS"])
def test_a_go_variable_of_this_shell_with_credentials_is_refused_for_every_build(tmp_path, name):
    settings = make_project(tmp_path)
    environ = {name: "https://u:pw-canary-1@proxy.example/"}
    with pytest.raises(OpsError) as caught:
        build_args.parse_build_args((), settings, environ=environ)
    assert f"{name} (this shell's" in caught.value.message
    assert "canary" not in caught.value.line()
    with pytest.raises(OpsError):   # the build's own reading of the shell decides the same way
        build_args.go_build_args(settings, {}, environ=environ)


def test_a_build_arg_overrides_the_shells_variable_before_it_is_judged(tmp_path):
    settings = make_project(tmp_path)
    environ = {"GOPROXY": "https://u:pw-canary-1@proxy.example/"}
    assert build_args.parse_build_args(["GOPROXY=off"], settings, environ=environ) == {
        "GOPROXY": "off"}


@pytest.mark.parametrize("value", ["https://proxy.golang.org,direct", "off",
                                   "https://proxy.example:8443/go|direct", "file:///srv/goproxy",
                                   "example.com/*,corp.example", "-mod=vendor -trimpath",
                                   "mail@example.com", "https://host/path?user=me"])
def test_urls_without_credentials_pass(tmp_path, value):
    settings = make_project(tmp_path)
    assert build_args.parse_build_args([f"X={value}"], settings, environ={}) == {"X": value}
