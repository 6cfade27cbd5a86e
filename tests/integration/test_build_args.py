"""Issue 17, class "build args never carry credentials", on the real engine and both builders.

A GOPROXY with user:token@ (from the shell or a --build-arg) is refused before any engine
call, and no image the session's builds made (the final images and the build stages the
classic builder keeps) holds the token in `docker history --no-trunc` or
`docker image inspect`. A control build with a credential-free marker in GOPROXY shows the
scan is not vacuous: the classic builder's kept build stage does record a build arg.
"""
import json
import subprocess
import uuid

import pytest

from tests.integration.helpers import IMAGE, EngineRelay

CANARY = "canary-" + uuid.uuid4().hex[:12]
BUILDERS = ["classic", "buildkit"]


def images_of_this_session():
    """Ids of every image carrying the session's name: tagged IMAGE:*, or labelled as built
    as IMAGE (the final images, and the build stages the classic builder keeps)."""
    listed = subprocess.run(["docker", "images", "-a", "--no-trunc", "--format", "{{json .}}"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    found = {json.loads(line)["ID"] for line in listed
             if json.loads(line)["Repository"] in (IMAGE,)}
    labelled = subprocess.run(["docker", "images", "-a", "-q", "--no-trunc", "--filter",
                               f"label=org.tasky-ops.image={IMAGE}"],
                              capture_output=True, text=True, check=True).stdout.split()
    return found | set(labelled)


def recorded(image_id):
    """Everything the engine keeps about an image that a build arg can reach."""
    history = subprocess.run(["docker", "history", "--no-trunc", image_id],
                             capture_output=True, text=True).stdout
    inspect = subprocess.run(["docker", "image", "inspect", image_id],
                             capture_output=True, text=True).stdout
    return history + inspect


@pytest.fixture(scope="module")
def before(built):
    return images_of_this_session()


def refused_before_the_engine(inv, argv, env):
    relay = EngineRelay(answer=lambda head: seen.append(head))   # relays, and counts
    seen = []
    try:
        proc = inv(*argv, env={"DOCKER_HOST": relay.host, **env})
    finally:
        relay.close()
    assert proc.returncode == 1, proc.output
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    assert "RUNBOOK.md#build-arg-credentials" in errors[0]
    assert "--mount=type=secret" in errors[0] and "engine's own environment" in errors[0]
    assert CANARY not in proc.output and "Traceback" not in proc.output
    assert seen == [], "the engine was reached before the refusal"
    return errors[0]


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("where", ["shell", "flag"])
def test_a_goproxy_with_a_token_is_refused_before_any_engine_call(inv, before, builder, where):
    proxy = f"https://ci-bot:{CANARY}@goproxy.corp.example/"
    env = {"INVOKE_TASKY_BUILDER": builder}
    argv = ["build", "--offline"]
    if where == "shell":
        env["GOPROXY"] = proxy
    else:
        argv += ["--build-arg", f"GOPROXY={proxy}"]
    line = refused_before_the_engine(inv, argv, env)
    assert ("GOPROXY (this shell's" if where == "shell" else "--build-arg GOPROXY") in line


def test_demo_and_release_refuse_it_before_the_engine_too(inv, before):
    env = {"GOPROXY": f"off,https://{CANARY}@goproxy.corp.example/"}
    refused_before_the_engine(inv, ["demo"], env)
    refused_before_the_engine(inv, ["release", "--registry", "local"], env)


@pytest.mark.parametrize("builder", BUILDERS)
def test_no_image_any_build_made_holds_the_token(inv, engine, before, builder):
    """After the refusals, a real build on each builder with a credential-free marker in
    GOPROXY: every image carrying the session's name holds the marker only where a build
    arg is recorded (the classic builder's kept build stage) and never the token."""
    marker = "marker-" + uuid.uuid4().hex[:10]
    proc = inv("build", "--offline", "--json", env={
        "INVOKE_TASKY_BUILDER": builder, "GOPROXY": f"https://{marker}.invalid/"})
    assert proc.returncode == 0, proc.output
    assert builder.lower() in json.loads(proc.stdout)["builder"].lower()
    made = images_of_this_session()
    assert made, "the build made no image"
    records = {image_id: recorded(image_id) for image_id in made}
    assert not [i for i, text in records.items() if CANARY in text]
    with_marker = [i for i, text in records.items() if marker in text]
    if builder == "classic":   # the leak this refusal prevents, made with a harmless value
        assert with_marker, "the classic build stage should record its build args"
        stages = {i for i in with_marker
                  if engine.images.get(i).labels.get("org.tasky-ops.role") == "build-stage"}
        assert stages, with_marker
    else:   # BuildKit keeps no build stage; the final image has no GOPROXY in its history
        assert not with_marker
