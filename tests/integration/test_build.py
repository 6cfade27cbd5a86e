"""`inv build`, `inv layers`, `inv bases`: real builds on the real engine, offline."""
import http.server
import json
import subprocess
import sys
import threading

from tests.integration.helpers import IMAGE, ROOT, EngineRelay


def git(*args):
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True,
                          text=True).stdout.strip()


def test_build_tags_by_git_sha_and_latest(engine, built):
    sha_tag = git("rev-parse", "--short", "HEAD")
    if git("status", "--porcelain"):
        sha_tag += "-dirty"
    assert built["tags"][:2] == [sha_tag, "latest"]
    image = engine.images.get(f"{IMAGE}:{sha_tag}")
    assert f"{IMAGE}:latest" in image.tags
    labels = image.labels
    assert labels["org.opencontainers.image.revision"] == git("rev-parse", "HEAD")
    assert labels["org.opencontainers.image.version"] == built["version"]
    # The document quotes ~15 MB on Alpine; on the 2 MB busybox stand-in we stay under 10.
    assert built["size_mb"] < 10


def test_no_change_rebuild_runs_no_step(inv, built):
    again = inv.json("build", "--offline")
    assert again["id"] == built["id"]
    assert again["ran_steps"] == 0
    assert again["cached_steps"] > 0


def test_a_buildkit_build_never_imports_docker_py(inv, built, tmp_path):
    """inv build's BuildKit path speaks the Engine API itself: docker-py (about 90 ms to
    import, requests and urllib3 with it) stays out of the process, so a no-change build
    costs what the engine does."""
    probe = tmp_path / "probe.py"
    probe.write_text("import atexit, runpy, sys\n"
                     "atexit.register(lambda: print('docker-py imported:', 'docker' in "
                     "sys.modules, file=sys.stderr))\n"
                     "atexit.register(lambda: print('requests, urllib3 imported:', "
                     "sorted({'requests', 'urllib3'} & set(sys.modules)), file=sys.stderr))\n"
                     "sys.argv = ['invoke', 'build', '--offline', '--json']\n"
                     "runpy.run_module('invoke', run_name='__main__')\n")
    proc = subprocess.run([sys.executable, str(probe)], cwd=ROOT, env=inv.env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["id"] == built["id"]
    assert "BuildKit" in json.loads(proc.stdout)["builder"]
    assert "docker-py imported: False" in proc.stderr
    assert "requests, urllib3 imported: []" in proc.stderr


def test_inv_build_reaches_a_plain_tcp_engine_itself(inv, built):
    relay = EngineRelay()
    try:
        proc = inv("build", "--offline", "--json", env={"DOCKER_HOST": relay.host})
    finally:
        relay.close()
    assert proc.returncode == 0, proc.output
    assert json.loads(proc.stdout)["id"] == built["id"]


def test_a_web_server_on_docker_host_is_named_not_an_engine(inv, built):
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proc = inv("build", "--offline", env={"DOCKER_HOST": f"tcp://127.0.0.1:"
                                                             f"{server.server_port}"})
    finally:
        server.shutdown()
    assert proc.returncode == 1
    assert "is not a Docker engine (DOCKER_HOST names it): its /_ping answered HTTP 501" \
        in proc.stderr
    assert "point DOCKER_HOST at the engine" in proc.stderr
    assert "RUNBOOK.md#docker-daemon-not-running" in proc.stderr
    assert "Traceback" not in proc.output


def test_extra_tag_is_validated_before_any_work(inv, built):
    proc = inv("build", "--offline", "--verbose", "--tag", "no good!")
    assert proc.returncode == 1
    assert "invalid tag 'no good!'" in proc.stderr
    assert "RUNBOOK.md#bad-tag" in proc.stderr
    assert "Traceback" not in proc.output
    assert "Step 1/" not in proc.output      # no build was started


def test_extra_tag_is_applied(inv, engine, built):
    result = inv.json("build", "--offline", "--tag", "it-extra")
    assert "it-extra" in result["tags"]
    assert engine.images.get(f"{IMAGE}:it-extra").id == engine.images.get(f"{IMAGE}:latest").id


def test_failing_step_is_shown_and_nothing_is_tagged(inv, engine, built, tmp_path):
    broken = tmp_path / "Dockerfile"
    broken.write_text("ARG GO_IMAGE\nARG RUNTIME_IMAGE\nFROM ${RUNTIME_IMAGE}\n"
                      "RUN echo about-to-fail-$((40+2)) && exit 3\n")
    latest_before = engine.images.get(f"{IMAGE}:latest").id
    proc = inv("build", "--offline", "--quiet", "--tag", "it-broken",
               env={"INVOKE_TASKY_DOCKERFILE": str(broken)})
    assert proc.returncode == 1
    # Classic says "Step 4/7 : RUN ...", BuildKit "[2/2] RUN ...": the step, either way.
    assert "build failed at " in proc.stderr and "RUN echo about-to-fail" in proc.stderr
    assert "returned a non-zero code: 3" in proc.stderr or "exit code: 3" in proc.stderr
    assert "about-to-fail-42" in proc.stderr          # the step's own output, shown in CI too
    assert "RUNBOOK.md#build-fails" in proc.stderr
    assert "Traceback" not in proc.output
    assert engine.images.get(f"{IMAGE}:latest").id == latest_before
    assert not [t for i in engine.images.list(IMAGE) for t in i.tags if t.endswith(":it-broken")]


def test_missing_dockerfile_is_a_clear_error(inv, built):
    proc = inv("build", "--offline", env={"INVOKE_TASKY_DOCKERFILE": "nope/Dockerfile"})
    assert proc.returncode == 1
    assert "no Dockerfile at" in proc.stderr and "Traceback" not in proc.output


def test_unpullable_base_fails_fast_with_offline_hint(inv, built):
    proc = inv("build", env={"INVOKE_TASKY_BASES_GO": "tasky-it-missing/golang:0"})
    assert proc.returncode == 1
    assert "base image tasky-it-missing/golang:0 is not present and cannot be pulled" in proc.stderr
    assert "inv build --offline" in proc.stderr
    assert "Traceback" not in proc.output


def test_not_a_git_repository(inv, built, tmp_path):
    subprocess.run(["cp", "-r", str(ROOT / "ops"), str(ROOT / "app"), str(ROOT / "tasks.py"),
                    str(ROOT / "invoke.yaml"), str(ROOT / "Dockerfile"), str(tmp_path)], check=True)
    proc = inv("build", "--offline", cwd=tmp_path)
    assert proc.returncode == 1
    assert "is not a git repository" in proc.stderr
    assert "RUNBOOK.md#not-a-git-repository" in proc.stderr


def test_layers_add_up_to_the_image_size(inv, built):
    result = inv.json("layers")
    layers = result["layers"]
    assert layers[0]["created_by"] == "(base image)"
    assert abs(layers[-1]["cumulative_mb"] - result["size_mb"]) < 0.05
    big = [layer for layer in layers if layer["size_mb"] > 1 and layer["layer"] > 1]
    assert len(big) == 1 and big[0]["created_by"].startswith("COPY ")  # the binary, once
    assert not any("|3 VERSION" in layer["created_by"] or "# buildkit" in layer["created_by"]
                   for layer in layers)   # how a layer was made, not the builder's bookkeeping
    assert not any("chown -R" in layer["created_by"] for layer in layers)
    assert result["within_budget"] is True


def test_bases_are_idempotent(inv, built):
    rows = inv.json("bases")
    assert [row["status"] for row in rows] == ["present", "present"]
    assert [row["stands_in_for"] for row in rows] == ["golang:1.19", "alpine:3.17.0"]
