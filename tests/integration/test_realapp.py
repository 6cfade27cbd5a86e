"""An upstream-like app (tests/fixtures/thirdparty-app: third-party modules, MONGODB_URI and
SECRET_KEY, its URI printed at start, GET-only routes, no /healthz, no .dockerignore) driven
through `inv` as a user would, from its own git repository, with its own app profile."""
import json
import shutil
import subprocess

import pytest

from tests.integration.helpers import IMAGE, ROOT, RUN_ID

FIXTURE = ROOT / "tests" / "fixtures" / "thirdparty-app"
REAL = f"{IMAGE}-realapp"
PASSWORD, KEY = f"pw-real-{RUN_ID}", f"sk-real-{RUN_ID}"
URI = f"mongodb://tasky:{PASSWORD}@db.example:27017/tasky"


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                           "-c", "commit.gpgsign=false", *args], check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def realapp(tmp_path_factory, proxy, inv, engine):
    """The fixture in a repository of its own, an app profile, and a way to run `inv`."""
    top = tmp_path_factory.mktemp("realapp")
    repo = top / "repo"
    shutil.copytree(FIXTURE, repo)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the user's app")
    env_file = top / "app.env"   # outside the repository: the tree stays clean
    profile = top / "tasky.yaml"
    profile.write_text(json.dumps({"tasky": {"app": {
        "required_env": ["MONGODB_URI"], "secret_env": ["MONGODB_URI", "SECRET_KEY"],
        "env_file": str(env_file)}}}))
    env = {"INVOKE_TASKY_CONTEXT": str(repo), "INVOKE_TASKY_IMAGE": REAL,
           "INVOKE_TASKY_CONTAINER": f"{REAL}-app"}
    outputs = []

    def run(*args, extra=None):
        proc = inv("-f", str(profile), *args, env={**env, **(extra or {})})
        outputs.append(proc.output)
        assert "Traceback" not in proc.output, proc.output
        return proc

    yield type("RealApp", (), {"repo": repo, "env_file": env_file, "run": staticmethod(run),
                               "outputs": outputs, "proxy": proxy})
    try:
        engine.containers.get(f"{REAL}-app").remove(force=True)
    except Exception:
        pass
    for text in outputs:   # nothing the app was given, or printed, ever reached a person
        assert PASSWORD not in text and KEY not in text


def rows(proc):
    return {row["check"]: row for row in json.loads(proc.stdout)["rows"]}


def test_without_vendor_or_proxy_build_and_doctor_name_the_cause(realapp):
    built = realapp.run("build", "--offline")
    assert built.returncode == 1
    assert "Go modules could not be fetched" in built.stderr
    assert "RUNBOOK.md#go-modules-offline" in built.stderr and "inv vendor" in built.stderr
    assert "GOPROXY=file" not in built.output    # a build cannot read a host folder
    doctor = realapp.run("doctor", "--no-aws", "--json")
    checked = rows(doctor)["go modules"]
    assert checked["status"] == "fail" and checked["anchor"] == "go-modules-offline"
    assert "cannot fetch them" in checked["detail"]


def test_vendor_through_the_proxy_then_build_offline_from_the_apps_own_commit(realapp):
    vendored = realapp.run("vendor", "--goproxy", f"file://{realapp.proxy}", "--json")
    assert vendored.returncode == 0, vendored.output
    assert json.loads(vendored.stdout)["modules"] == 6
    git(realapp.repo, "add", "-A")
    git(realapp.repo, "commit", "-q", "-m", "vendor")
    sha = git(realapp.repo, "rev-parse", "--short", "HEAD")

    built = realapp.run("build", "--offline", "--json")
    assert built.returncode == 0, built.output
    result = json.loads(built.stdout)
    assert result["tags"][0] == sha            # the app's repository names the image
    assert git(ROOT, "rev-parse", "--short", "HEAD") != sha
    assert "GOFLAGS" in result["build_args"]  # vendored: no module download
    assert rows(realapp.run("doctor", "--no-aws", "--json"))["go modules"]["status"] == "ok"


def test_run_refuses_to_start_without_the_apps_required_variable(realapp, engine):
    proc = realapp.run("run")
    assert proc.returncode == 1
    assert "the app needs MONGODB_URI" in proc.stderr and "RUNBOOK.md#bad-env" in proc.stderr
    assert not engine.containers.list(all=True, filters={"name": f"{REAL}-app"})


def test_run_health_logs_verify_with_the_profile_env_file_and_no_secret_shown(realapp):
    realapp.env_file.write_text(f"MONGODB_URI={URI}\nSECRET_KEY={KEY}\n")
    ran = realapp.run("run", "--json")
    assert ran.returncode == 0, ran.output
    assert json.loads(ran.stdout)["app"] == "answering"   # GET /, not a /healthz it lacks

    health = realapp.run("health", "--wait", "--json")
    assert health.returncode == 0, health.output
    report = json.loads(health.stdout)
    assert report["healthy"] and report["app"]["status"] == 200

    logs = realapp.run("logs")
    assert logs.returncode == 0
    assert "Connecting to MongoDB at" in logs.stdout and "****" in logs.stdout
    # The app logs every request: run's start-up probe asked for / a few times at most,
    # and never for a /healthz this app does not have.
    requests = [line for line in logs.stdout.splitlines() if '"GET ' in line]
    assert requests and len(requests) <= 6, requests
    assert not any("/healthz" in line for line in requests)

    doctor = rows(realapp.run("doctor", "--no-aws", "--json"))
    assert doctor["MONGODB_URI"]["status"] == "ok"
    assert "set in container" in doctor["MONGODB_URI"]["detail"]
    assert "JWT_SECRET" not in doctor             # not this app's variable

    verified = realapp.run("verify", "--json")
    assert verified.returncode == 0, verified.output
    assert json.loads(verified.stdout)["passed"]
    assert realapp.run("stop").returncode == 0


def test_without_a_probe_path_the_images_healthcheck_says_when_it_is_up(realapp):
    no_http = {"INVOKE_TASKY_APP_PROBE_PATH": ""}
    ran = realapp.run("run", "--json", extra=no_http)
    assert ran.returncode == 0, ran.output
    assert json.loads(ran.stdout)["app"] == "answering"
    health = realapp.run("health", "--wait", "--json", extra=no_http)
    report = json.loads(health.stdout)
    assert report["healthy"] and report["app"] is None and report["live_probe"]["ok"]
    assert realapp.run("stop").returncode == 0


def test_demo_runs_the_users_app_with_its_env_file(realapp):
    proc = realapp.run("demo", "--json")
    assert proc.returncode == 0, proc.output
    result = json.loads(proc.stdout)
    assert [row["step"] for row in result["steps"]] == ["build", "run", "health", "verify"]
    assert result["passed"]
    assert realapp.run("stop").returncode == 0


def test_clean_cache_names_this_projects_build_cache_only(realapp, inv, tmp_path):
    """BuildKit keeps no build-stage images: its cache records for the Dockerfile's RUN
    lines are what --cache removes; a Dockerfile with other RUN lines owns none of them."""
    mine = realapp.run("clean", "--cache", "--dry-run", "--json")
    assert mine.returncode == 0, mine.output
    cache = [row for row in json.loads(mine.stdout) if row["kind"] == "BuildKit cache"]
    assert cache and cache[0]["status"].startswith("would free ")
    other = tmp_path / "Dockerfile"
    other.write_text("FROM scratch\nRUN echo another project\n")
    theirs = inv("clean", "--cache", "--dry-run", "--json",
                 env={"INVOKE_TASKY_IMAGE": f"{IMAGE}-someone-else",
                      "INVOKE_TASKY_DOCKERFILE": str(other)})
    assert theirs.returncode == 0, theirs.output
    assert not [row for row in json.loads(theirs.stdout) if row["kind"] == "BuildKit cache"]


# --- the app's own tree: replace lines, its own Dockerfile, a file:// proxy -------------

SECRET_IN_FIXTURE = "fixture-db-pw-2f9c1e"   # tests/fixtures/thirdparty-app/.env
GUARD = ('ARG GOFLAGS\nRUN case " ${GOFLAGS} " in *" -mod=vendor "*) ;; '
         '*) go mod download ;; esac\n')


@pytest.fixture
def vendored(tmp_path, proxy, inv):
    """The fixture (every module replaced, its own Dockerfile and .env) in a fresh
    repository, vendored through `inv vendor --goproxy file://...` and committed."""
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE, repo)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the user's app")
    name = f"{IMAGE}-own"
    env = {"INVOKE_TASKY_CONTEXT": str(repo), "INVOKE_TASKY_IMAGE": name,
           "INVOKE_TASKY_CONTAINER": f"{name}-app"}

    def run(*args, extra=None):
        proc = inv(*args, env={**env, **(extra or {})})
        assert "Traceback" not in proc.output, proc.output
        assert SECRET_IN_FIXTURE not in proc.output
        return proc

    done = run("vendor", "--goproxy", f"file://{proxy}", "--json")
    assert done.returncode == 0, done.output
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "vendor")
    return type("Vendored", (), {"repo": repo, "run": staticmethod(run), "proxy": proxy,
                                 "modules": json.loads(done.stdout)["modules"]})


def test_doctor_and_the_build_agree_on_a_vendored_tree_with_replace_lines(vendored):
    heads = [line for line in (vendored.repo / "vendor" / "modules.txt").read_text()
             .splitlines() if line.startswith("# ")]
    assert len(heads) == 10 and any(" => " in line for line in heads)
    assert vendored.modules == 6        # the modules, not the `# M => M v` records

    checked = rows(vendored.run("doctor", "--no-aws", "--json"))["go modules"]
    assert checked["status"] == "ok", checked
    assert "6 modules vendored (vendor/modules.txt matches go.mod)" in checked["detail"]
    built = vendored.run("build", "--offline", "--json")
    assert built.returncode == 0, built.output
    assert "building with GOFLAGS=-mod=vendor, no module download" in built.stderr
    assert "kept out of the context: .git, .env" in built.stderr

    go_mod = vendored.repo / "go.mod"      # bumped without vendoring again
    go_mod.write_text(go_mod.read_text().replace("godotenv v1.5.1\n)", "godotenv v1.5.2\n)", 1))
    git(vendored.repo, "commit", "-q", "-am", "bump godotenv")
    checked = rows(vendored.run("doctor", "--no-aws", "--json"))["go modules"]
    assert checked["status"] == "fail" and checked["anchor"] == "go-modules-offline"
    assert "go.mod requires github.com/joho/godotenv v1.5.2, vendor/ has v1.5.1" in \
        checked["detail"]
    assert checked["fix"].startswith("inv vendor")
    built = vendored.run("build", "--offline")
    assert built.returncode == 1
    assert "inconsistent vendoring" in built.stderr
    error = built.stderr.strip().splitlines()[-1]
    assert error.startswith("error: build failed: vendor/ does not match go.mod")
    assert "inv vendor" in error and error.endswith("RUNBOOK.md#go-modules-offline")


def test_the_apps_own_dockerfile_is_told_its_download_line_and_the_two_fixes(vendored,
                                                                           tmp_path):
    theirs = vendored.repo / "Dockerfile"
    # Upstream names its bases: --offline says what to declare before anything runs.
    upstream = tmp_path / "Dockerfile.upstream"
    upstream.write_text(theirs.read_text().replace("FROM ${GO_IMAGE}", "FROM golang:1.19"))
    refused = vendored.run("build", "--offline", extra={"INVOKE_TASKY_DOCKERFILE": str(upstream)})
    assert refused.returncode == 1 and "declare `ARG GO_IMAGE" in refused.stderr

    own = {"INVOKE_TASKY_DOCKERFILE": str(theirs)}
    failed = vendored.run("build", "--offline", extra=own)
    assert failed.returncode == 1
    assert "no module download" not in failed.output
    assert "Dockerfile line 10 runs `go mod download` whatever vendor/ holds" in failed.stderr
    error = failed.stderr.strip().splitlines()[-1]
    assert f"{theirs} line 10 runs `go mod download` although vendor/ holds" in error
    assert "cannot be reached" in error                  # the true cause: no network
    assert "guard that step as the project's Dockerfile does" in error
    assert f"INVOKE_TASKY_DOCKERFILE={ROOT / 'Dockerfile'}" in error
    assert "inv vendor" not in error                     # done already
    checked = rows(vendored.run("doctor", "--no-aws", "--json", extra=own))["go modules"]
    assert checked["status"] == "fail", checked
    assert "Dockerfile line 10 runs `go mod download`" in checked["detail"]
    assert "cannot fetch them" in checked["detail"]
    assert checked["fix"].startswith("guard that step")

    theirs.write_text(theirs.read_text().replace("RUN go mod download\n", GUARD))
    git(vendored.repo, "commit", "-q", "-am", "download only without vendor/")
    built = vendored.run("build", "--offline", extra=own)
    assert built.returncode == 0, built.output
    assert "building with GOFLAGS=-mod=vendor, no module download" in built.stderr
    assert rows(vendored.run("doctor", "--no-aws", "--json", extra=own))["go modules"][
        "status"] == "ok"


def test_a_file_proxy_for_a_build_is_refused_before_the_engine_is_asked(vendored):
    proxy = f"file://{vendored.proxy}"
    proc = vendored.run("build", "--offline", "--build-arg", f"GOPROXY={proxy}",
                        extra={"DOCKER_HOST": "unix:///nonexistent/tasky-it/docker.sock"})
    assert proc.returncode == 1
    [error] = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert f"--build-arg GOPROXY names {proxy}, a folder on this host" in error
    assert f"inv vendor --goproxy {proxy}, then inv build" in error
    assert "engine" not in error and "does not have a required module" not in error
    assert error.endswith("RUNBOOK.md#go-modules-offline")
