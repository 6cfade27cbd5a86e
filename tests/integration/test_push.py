"""`inv login`, `push`, `release`, `registry` against moto's ECR API and real registries."""
import io
import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ops.registry import http_api
from tests.integration.helpers import IMAGE, RUN_ID, free_port
from tests.integration.stand_ins import TOKEN_PASSWORD, Registry

AWS_SECRET = f"aws-secret-{RUN_ID}"
AUTH = {"username": "AWS", "password": TOKEN_PASSWORD}


@pytest.fixture
def aws(moto, good_registry, tmp_path, inv):
    """Env for one test: its own ECR repository name, a fresh HOME, the good registry."""
    env = moto.user_env(tmp_path, AWS_SECRET, good_registry, IMAGE)
    env["INVOKE_TASKY_ECR_PUSH_BACKOFF"] = "0.5"
    return env


@pytest.fixture(scope="module")
def tagged(engine, built):
    """A clean (never -dirty) tag of the session image to push."""
    engine.images.get(f"{IMAGE}:latest").tag(IMAGE, "it-push")
    return "it-push"


def remote_tags(engine, addr):
    return [t for image in engine.images.list() for t in image.tags if t.startswith(addr)]


def test_push_end_to_end_pull_back_and_verify(inv, engine, aws, tagged, good_registry, tmp_path):
    result = inv.json("push", "--tag", tagged, "--create-repo", env=aws)
    repo = aws["INVOKE_TASKY_ECR_REPOSITORY"]
    remote = f"{good_registry.addr}/{repo}"
    assert result["status"] == "pushed" and result["created_repository"] is True
    assert result["reference"] == f"{remote}:{tagged}@{result['digest']}"
    assert result["layers_pushed"] >= 2

    # Pull it back with the docker CLI, as a person would, in a throwaway CLI config.
    config = tmp_path / "docker-cli"
    cli = ["docker", "--config", str(config)]
    subprocess.run(cli + ["login", "-u", "AWS", "--password-stdin", good_registry.addr],
                   input=TOKEN_PASSWORD, text=True, check=True, capture_output=True)
    engine.images.remove(f"{remote}:{tagged}")
    pulled = subprocess.run(cli + ["pull", f"{remote}:{tagged}"], capture_output=True,
                            text=True, check=True).stdout
    assert f"Digest: {result['digest']}" in pulled

    verified = inv("verify", "--tag", tagged, "--json", env={"INVOKE_TASKY_IMAGE": remote})
    assert verified.returncode == 0, verified.output
    assert json.loads(verified.stdout)["passed"] is True
    engine.images.remove(f"{remote}:{tagged}")


def test_repush_to_immutable_tag_is_success_when_digest_matches(inv, aws, tagged):
    first = inv.json("push", "--tag", tagged, "--create-repo", env=aws)
    again = inv.json("push", "--tag", tagged, env=aws)
    assert again["status"] == "already there"
    assert again["digest"] == first["digest"] and again["layers_pushed"] == 0


def test_immutable_tag_pointing_elsewhere_is_refused(inv, engine, aws, tagged):
    variant, _ = engine.images.build(fileobj=io.BytesIO(
        f"FROM {IMAGE}:latest\nLABEL it.variant={RUN_ID}\n".encode()), rm=True)
    variant.tag(IMAGE, "it-clash")
    assert inv("push", "--tag", "it-clash", "--create-repo", env=aws).returncode == 0
    engine.images.get(f"{IMAGE}:{tagged}").tag(IMAGE, "it-clash")   # same tag, other image
    clash = inv("push", "--tag", "it-clash", env=aws)
    assert clash.returncode == 1
    assert ":it-clash already exists and points at sha256:" in clash.stderr
    assert "RUNBOOK.md#immutable-tag" in clash.stderr


def test_wrong_password_is_rejected_clearly(inv, aws, tagged, tmp_path):
    wrong = Registry(tmp_path / "wrong", "not-the-token").start()
    try:
        env = {**aws, "ECR_REGISTRY": wrong.addr, "INVOKE_TASKY_ECR_TAG_MUTABILITY": "MUTABLE"}
        for args in (["login"], ["push", "--tag", tagged, "--create-repo"]):
            proc = inv(*args, env=env)
            assert proc.returncode == 1, proc.output
            assert f"registry {wrong.addr} rejected the credentials" in proc.stderr
            assert "RUNBOOK.md#push-denied" in proc.stderr
            assert TOKEN_PASSWORD not in proc.output and AWS_SECRET not in proc.output
    finally:
        wrong.stop()


def test_registry_down_fails_after_bounded_retries(inv, engine, aws, tagged):
    down = f"127.0.0.1:{free_port()}"
    env = {**aws, "ECR_REGISTRY": down,
           "INVOKE_TASKY_ECR_TAG_MUTABILITY": "MUTABLE", "INVOKE_TASKY_ECR_PUSH_RETRIES": "2",
           "INVOKE_TASKY_ECR_PUSH_BACKOFF": "0.1"}
    proc = inv("push", "--tag", tagged, "--create-repo", env=env)
    assert proc.returncode == 1
    assert "is unreachable or failing" in proc.stderr and "(after 3 attempts)" in proc.stderr
    assert "RUNBOOK.md#registry-unreachable" in proc.stderr
    assert proc.stderr.count("retry ") == 2
    assert remote_tags(engine, down) == []    # no local tag names a push that did not happen


def test_missing_repository_without_create_repo(inv, aws, tagged):
    proc = inv("push", "--tag", tagged, env=aws)
    assert proc.returncode == 1
    assert f"ECR repository {aws['INVOKE_TASKY_ECR_REPOSITORY']} does not exist" in proc.stderr
    assert "inv push --create-repo" in proc.stderr


def test_no_aws_credentials(inv, aws, tagged):
    env = {k: v for k, v in aws.items() if not k.startswith("AWS_ACCESS") and
           not k.startswith("AWS_SECRET")}
    proc = inv("push", "--tag", tagged, env={**env, "AWS_ACCESS_KEY_ID": "",
                                            "AWS_SECRET_ACCESS_KEY": ""})
    assert proc.returncode == 1
    assert "no AWS credentials found" in proc.stderr and "RUNBOOK.md#aws-credentials" in proc.stderr
    assert "Traceback" not in proc.output


def test_unknown_local_tag(inv, aws):
    proc = inv("push", "--tag", "never-built", env=aws)
    assert proc.returncode == 1 and f"image {IMAGE}:never-built not found" in proc.stderr


def test_dirty_tag_is_refused_unless_allowed(inv, engine, aws, tagged):
    engine.images.get(f"{IMAGE}:{tagged}").tag(IMAGE, "abc1234-dirty")
    proc = inv("push", "--tag", "abc1234-dirty", env=aws)
    assert proc.returncode == 1
    assert "refusing to push abc1234-dirty" in proc.stderr and "--allow-dirty" in proc.stderr
    allowed = inv("push", "--tag", "abc1234-dirty", "--allow-dirty", "--create-repo", env=aws)
    assert allowed.returncode == 0, allowed.output


def test_no_credential_on_disk_or_in_output(inv, aws, tagged):
    home = aws["HOME"]
    outputs = [inv("login", env=aws), inv("push", "--tag", tagged, "--create-repo", env=aws)]
    assert all(proc.returncode == 0 for proc in outputs), [p.output for p in outputs]
    for proc in outputs:
        assert TOKEN_PASSWORD not in proc.output and AWS_SECRET not in proc.output
    leaked = subprocess.run(["grep", "-rl", TOKEN_PASSWORD, home], capture_output=True, text=True)
    assert leaked.stdout == ""
    assert not (Path(home) / ".docker" / "config.json").exists()


def test_login_docker_config_is_opt_in_and_warns(inv, aws):
    proc = inv("login", "--docker-config", env=aws)
    assert proc.returncode == 0, proc.output
    assert "warning: the token is now on disk" in proc.stderr
    config = json.loads((Path(aws["HOME"]) / ".docker" /
                         "config.json").read_text())
    assert list(config["auths"]) == [aws["ECR_REGISTRY"]]
    assert TOKEN_PASSWORD not in proc.output


def test_push_survives_a_registry_restart_mid_push(inv, engine, aws, tagged, good_registry):
    # A layer big enough (random, so gzip cannot shrink it) to still be uploading when the
    # registry goes away.
    engine.images.build(fileobj=io.BytesIO(
        f"FROM {IMAGE}:latest\nUSER root\nRUN head -c 120000000 /dev/urandom > /blob "
        f"&& echo {RUN_ID}\n".encode()), tag=f"{IMAGE}:it-big", rm=True)
    env = {**aws, "INVOKE_TASKY_ECR_TAG_MUTABILITY": "MUTABLE",
           "INVOKE_TASKY_ECR_PUSH_RETRIES": "5", "INVOKE_TASKY_ECR_PUSH_BACKOFF": "1"}
    proc = subprocess.Popen(inv.command("push", "--tag", "it-big", "--create-repo", "--json"),
                            cwd=inv.cwd, env={**inv.env, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while not any("% of 120" in line for line in lines) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any("% of 120" in line for line in lines), lines
    good_registry.stop()
    time.sleep(1.5)
    good_registry.start()
    proc.wait(timeout=180)     # not communicate(): it would close stderr under the reader
    out = proc.stdout.read()   # one small JSON document
    reader.join(timeout=5)
    assert proc.returncode == 0, "".join(lines)
    result = json.loads(out)
    assert result["status"] == "pushed"
    stored = http_api.manifest_digest(good_registry.addr, aws["INVOKE_TASKY_ECR_REPOSITORY"],
                                      "it-big", AUTH)
    assert stored == result["digest"]


def test_release_builds_verifies_scans_and_pushes_sha_and_latest(inv, aws, tmp_path):
    trivy = tmp_path / "bin" / "trivy"    # a clean report from a stand-in scanner
    trivy.parent.mkdir()
    trivy.write_text('#!/bin/sh\n[ "$1" = version ] && echo \'{"VulnerabilityDB":{}}\' '
                     '|| echo \'{"Results":[]}\'\n')
    trivy.chmod(0o755)
    env = {**aws, "PATH": f"{trivy.parent}:{os.environ['PATH']}"}
    proc = inv("release", "--offline", "--latest", "--create-repo", "--allow-dirty", "--json",
               env=env)
    assert proc.returncode == 0, proc.output
    result = json.loads(proc.stdout)
    assert [s["step"].split()[0] for s in result["steps"]] == [
        "preflight", "build", "verify", "scan", "push", "push"]
    assert "missing: --create-repo creates it at push time" in result["steps"][0]["result"]
    assert result["pushed"][1].split("@")[0].endswith(":latest")


@pytest.mark.parametrize("case", ["no credentials", "no repository", "registry down"])
def test_release_fails_its_preflight_before_building(inv, engine, aws, case):
    """Expired or missing credentials, a missing repository or a dead registry cost seconds,
    not a build: nothing is built, tagged or pushed."""
    env = dict(aws)
    if case == "no credentials":
        env.update(AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="")
        expected = "no AWS credentials found"
    elif case == "no repository":
        expected = f"ECR repository {aws['INVOKE_TASKY_ECR_REPOSITORY']} does not exist"
    else:
        env.update(ECR_REGISTRY=f"127.0.0.1:{free_port()}")
        expected = "is unreachable"
    def ours():   # other builds may run on a shared engine: count only this session's images
        return {(image.id, tuple(image.tags)) for image in engine.images.list(name=IMAGE)}

    images_before = ours()
    proc = inv("release", "--offline", "--allow-dirty", "--skip-scan",
               *(["--create-repo"] if case == "registry down" else []), env=env)
    assert proc.returncode == 1, proc.output
    assert expected in proc.stderr
    assert "release: build" not in proc.stderr and "Step 1/" not in proc.output
    assert ours() == images_before


def test_release_stops_before_pushing_when_verify_fails(inv, aws, good_registry):
    env = {**aws, "INVOKE_TASKY_SIZE_BUDGET_MB": "1"}
    proc = inv("release", "--offline", "--create-repo", "--allow-dirty", "--skip-scan", env=env)
    assert proc.returncode == 1
    assert "release stopped: verify failed (image size); nothing was pushed" in proc.stderr
    repo = aws["INVOKE_TASKY_ECR_REPOSITORY"]
    # The repository was created, but no tag reached the registry.
    assert http_api.manifest_digest(good_registry.addr, repo, "latest", AUTH) is None


def test_local_registry_task(inv, engine, tagged, tmp_path):
    addr = f"127.0.0.1:{free_port()}"
    env = {"INVOKE_TASKY_ECR_LOCAL_REGISTRY": addr, "INVOKE_TASKY_BASES_CACHE_DIR": str(tmp_path)}
    started = inv.json("registry", env=env)
    try:
        assert started["status"] == "started"
        assert inv.json("registry", env=env)["status"] == "already running"
        pushed = inv.json("push", "--registry", "local", "--tag", tagged, env=env)
        assert pushed["reference"].startswith(f"{addr}/wiz-exercise-tasky:{tagged}@sha256:")
    finally:
        assert inv.json("registry", "--stop", env=env)["status"] == "stopped"
    for tag in remote_tags(engine, addr):
        engine.images.remove(tag)


def test_release_stops_before_pushing_when_the_scan_gate_fails(inv, aws, good_registry,
                                                               tmp_path):
    trivy = tmp_path / "bin" / "trivy"
    trivy.parent.mkdir()
    trivy.write_text('#!/bin/sh\n[ "$1" = version ] && echo \'{}\' || echo \'{"Results":[{'
                     '"Target":"t","Vulnerabilities":[{"VulnerabilityID":"CVE-1","Severity":'
                     '"CRITICAL","PkgName":"p"}]}]}\'\n')
    trivy.chmod(0o755)
    env = {**aws, "PATH": f"{trivy.parent}:{os.environ['PATH']}"}
    proc = inv("release", "--offline", "--create-repo", "--allow-dirty", env=env)
    assert proc.returncode == 1
    assert re.search(r"release stopped: 1 CRITICAL,HIGH findings in \S+; nothing was pushed",
                     proc.stderr), proc.stderr
    assert http_api.manifest_digest(good_registry.addr, aws["INVOKE_TASKY_ECR_REPOSITORY"],
                                    "latest", AUTH) is None


def test_login_docker_config_uses_the_configured_credential_helper(inv, aws, tmp_path):
    helper = tmp_path / "bin" / "docker-credential-tasky-test"
    helper.parent.mkdir()
    stored = tmp_path / "stored.json"
    helper.write_text(f"#!/bin/sh\n[ \"$1\" = store ] && cat > {stored}\n")
    helper.chmod(0o755)
    config = Path(aws["HOME"]) / ".docker" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"credsStore": "tasky-test"}))
    proc = inv("login", "--docker-config", "--json",
               env={**aws, "PATH": f"{helper.parent}:{os.environ['PATH']}"})
    assert proc.returncode == 0, proc.output
    assert json.loads(proc.stdout)["stored"] == "credential helper tasky-test"
    assert "warning: the token is now on disk" not in proc.stderr
    assert json.loads(config.read_text()) == {"credsStore": "tasky-test"}   # no plain copy
    handed = json.loads(stored.read_text())
    assert (handed["ServerURL"], handed["Username"]) == (aws["ECR_REGISTRY"], "AWS")


def test_region_flag_beats_the_environment(inv, aws):
    result = inv.json("login", "--region", "eu-west-1", env=aws)   # aws sets us-east-1
    assert result["region"] == "eu-west-1"
    assert inv.json("login", env=aws)["region"] == "us-east-1"
