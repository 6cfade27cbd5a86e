"""The user's app as the build and doctor see it: its own Dockerfile's module download, a
file:// GOPROXY given to a build, its repository and its env file. No engine here; the
same paths run against the real engine in tests/integration/test_realapp.py."""
import dataclasses
import re

import pytest

from ops.core.errors import OpsError
from ops.image import build_args, dockerfile, gomod
from ops.image import docker_build as builds
from ops.settings.config import App, Settings
from tests.unit.unit_support import ROOT, git

FIXTURE = ROOT / "tests" / "fixtures" / "thirdparty-app"
GUARDED = ("ARG GOFLAGS\nRUN --mount=type=cache,target=/go/pkg/mod \\\n"
           "    case \" ${GOFLAGS} \" in *\" -mod=vendor \"*) ;; *) go mod download ;; esac\n")


# --- the Dockerfile's `go mod download` -------------------------------------------------

# Our Dockerfile's download step: the first RUN (it mounts the module cache), guarded.
OURS = (ROOT / "Dockerfile").read_text()
OUR_DOWNLOAD = next(n for n, line in enumerate(OURS.splitlines(), 1) if line.startswith("RUN "))


@pytest.mark.parametrize("text, found", [
    (OURS, [(OUR_DOWNLOAD, True)]),
    ((FIXTURE / "Dockerfile").read_text(), [(10, False)]),
    ("FROM x\nRUN go mod download\n", [(2, False)]),
    ('FROM x\nRUN ["go", "mod", "download"]\n', [(2, False)]),
    ("FROM x\nRUN [ -d vendor ] || go mod download\n", [(2, True)]),
    ("FROM x\nRUN test -f vendor/modules.txt || \\\n  # why\n  go mod download\n", [(2, True)]),
    ("FROM x\nRUN go mod download && go mod vendor\n", [(2, False)]),
    ("FROM x\n# RUN go mod download\nRUN go build .\n", []),
    ("FROM x\n" + GUARDED, [(3, True)]),
])
def test_module_download_steps_and_their_guards(text, found):
    assert dockerfile.module_downloads(text) == found


def test_declared_args():
    text = "ARG GO_IMAGE=golang:1.19\nFROM ${GO_IMAGE}\narg GOFLAGS\nARG A=1 B\n"
    assert [dockerfile.declares_arg(text, name) for name in ("GOFLAGS", "B", "GO", "GO_IMAGE")] \
        == [True, True, False, True]


def project(tmp_path, dockerfile_text, vendored=True):
    """The tool at tmp_path (its Dockerfile ours), the app in app/ with its own Dockerfile."""
    app = tmp_path / "app"
    (app / "vendor").mkdir(parents=True)
    (app / "go.mod").write_text("module x\n\ngo 1.19\n")
    if vendored:
        (app / "vendor" / "modules.txt").write_text("")
    (tmp_path / "Dockerfile").write_text((ROOT / "Dockerfile").read_text())
    (app / "Dockerfile").write_text(dockerfile_text)
    return Settings(root=tmp_path, context="app", dockerfile="app/Dockerfile")


def go_args(settings):
    said = []
    args = build_args.go_build_args(settings, {}, said.append, environ={})
    return args, said


def test_no_module_download_is_said_only_when_true(tmp_path):
    ours = project(tmp_path / "ours", (ROOT / "Dockerfile").read_text())
    assert go_args(ours) == ({"GOFLAGS": "-mod=vendor"}, [
        "build: vendor/modules.txt found: building with GOFLAGS=-mod=vendor, no module "
        "download"])
    theirs = project(tmp_path / "theirs", (FIXTURE / "Dockerfile").read_text())
    args, said = go_args(theirs)
    assert args == {}     # undeclared, GOFLAGS would reach nothing
    assert "no module download" not in said[0]
    assert "Dockerfile line 10 runs `go mod download` whatever vendor/ holds" in said[0]
    declared = project(tmp_path / "declared", "FROM x\nARG GOFLAGS\nRUN go mod download\n")
    args, said = go_args(declared)
    assert args == {"GOFLAGS": "-mod=vendor"} and "no module download" not in said[0]
    assert go_args(project(tmp_path / "none", "FROM x\n", vendored=False)) == ({}, [])


def failed_step(step, *output):
    return OpsError(f"build failed at [build 4/6] RUN {step}: exit code: 1",
                    fix="read the step's output above", anchor="build-fails",
                    details=list(output))


GO_DNS = ('go: github.com/felixge/httpsnoop@v1.0.1: Get "https://proxy.golang.org/github.com/'
          'felixge/httpsnoop/@v/v1.0.1.mod": dial tcp: lookup proxy.golang.org on '
          '10.255.255.53:53: no such host')


def test_an_unguarded_download_in_a_vendored_app_names_the_line_and_the_two_fixes(tmp_path):
    theirs = project(tmp_path, (FIXTURE / "Dockerfile").read_text())
    error = builds.modules_failure(failed_step("go mod download", GO_DNS), theirs)
    assert error.anchor == "go-modules-offline"
    assert f"{tmp_path / 'app' / 'Dockerfile'} line 10 runs `go mod download`" in error.message
    assert "cannot be reached" in error.message
    assert "guard that step as the project's Dockerfile does" in error.fix
    assert f"INVOKE_TASKY_DOCKERFILE={tmp_path / 'Dockerfile'} (tasky.dockerfile)" in error.fix
    assert "inv vendor" not in error.fix      # vendor/ is there already
    # Not vendored: the download was the build's only way, and vendoring is the fix.
    (tmp_path / "app" / "vendor" / "modules.txt").unlink()
    plain = builds.modules_failure(failed_step("go mod download", GO_DNS), theirs)
    assert "Go modules could not be fetched" in plain.message and "inv vendor" in plain.fix


def test_inconsistent_vendoring_is_named_with_gos_first_reason():
    error = builds.modules_failure(failed_step(
        "CGO_ENABLED=0 go build -o app .", "go: inconsistent vendoring in /go/src/tasky:",
        "\tgithub.com/joho/godotenv@v1.5.2: is explicitly required in go.mod, but not marked "
        "as explicit in vendor/modules.txt", "", "\tTo sync the vendor directory, run:",
        "\t\tgo mod vendor"))
    assert error.message == (
        "build failed: vendor/ does not match go.mod (Go: inconsistent vendoring: "
        "github.com/joho/godotenv@v1.5.2: is explicitly required in go.mod, but not marked as "
        "explicit in vendor/modules.txt)")
    assert error.fix.startswith("vendor again: inv vendor")
    assert builds.modules_failure(failed_step("go build .", "main.go:3: syntax error")) is None


# --- a file:// GOPROXY and a build ------------------------------------------------------

@pytest.mark.parametrize("value", ["file:///srv/goproxy", "https://p.example,file:///srv/m"])
def test_a_file_proxy_build_arg_is_refused_naming_the_route_that_works(tmp_path, value):
    settings = project(tmp_path, "FROM x\n")
    with pytest.raises(OpsError) as raised:
        build_args.parse_build_args([f"GOPROXY={value}"], settings)
    error = raised.value
    assert "a build cannot read" in error.message and error.anchor == "go-modules-offline"
    assert error.fix.startswith(f"vendor from it first: inv vendor --goproxy "
                                f"{value.split(',')[-1]}, then inv build")
    assert len(error.line().splitlines()) == 1
    assert build_args.parse_build_args(["GOPROXY=https://p.example"], settings) == {
        "GOPROXY": "https://p.example"}


def test_no_go_failure_advice_sends_a_build_to_a_file_proxy():
    for _, _, fix in gomod.CAUSES:
        assert not re.search(r"GOPROXY( to a|=)\s*file", fix), fix
        if "file:///path" in fix:
            assert "inv vendor --goproxy" in fix


# --- doctor reads the app's repository and env file -------------------------------------

def test_doctor_git_row_names_the_apps_repository_not_the_tools(git_repo):
    from ops.doctor import inputs

    settings = Settings(context=str(git_repo))
    short = git(git_repo, "rev-parse", "--short", "HEAD")
    [clean] = inputs.git_state(None, settings)
    assert clean["status"] == "ok" and clean["detail"].startswith(f"{short} (")
    (git_repo / "main.go").write_text("package main // changed\n")
    [dirty] = inputs.git_state(None, settings)
    assert dirty["status"] == "warn"
    assert dirty["detail"].startswith(f"{short} with uncommitted changes")
    assert git(ROOT, "rev-parse", "--short", "HEAD") not in dirty["detail"]


def test_the_env_file_is_the_apps_own_when_its_folder_has_one(tmp_path):
    from ops.doctor import run as doctor_run

    (tmp_path / "app").mkdir()
    (tmp_path / ".env").write_text("MONGODB_URI=mongodb://u:tool-pw-1234@db/x\n")
    app = App(required_env=("MONGODB_URI",), secret_env=("SECRET_KEY",), env_file=".env")
    settings = dataclasses.replace(Settings(), root=tmp_path, app=app)
    assert settings.env_file_path == tmp_path / ".env"      # none in the app's folder
    (tmp_path / "app" / ".env").write_text("SECRET_KEY=app-key-5678\n")
    assert settings.env_file_path == tmp_path / "app" / ".env"
    rows = {r["check"]: r for r in doctor_run.variables(None, settings)}
    assert rows["MONGODB_URI"]["detail"].startswith("not set in app/.env")
    assert rows["SECRET_KEY"] == {**rows["SECRET_KEY"], "status": "ok",
                                  "detail": "set in app/.env"}
    elsewhere = dataclasses.replace(settings, context=str(FIXTURE))
    assert elsewhere.env_file_path == FIXTURE / ".env"
    outside = dataclasses.replace(settings, app=App(env_file="/etc/app.env"))
    assert outside.env_file_path.as_posix() == "/etc/app.env"
    assert "tool-pw-1234" not in repr(rows) and "app-key-5678" not in repr(rows)
