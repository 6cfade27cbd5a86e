"""One tag, two architectures: `inv release --platform linux/amd64,linux/arm64` on the real
engine, real qemu (binfmt_misc, as `inv setup --dev` registers it) and a real registry.

The release uses an image name of its own, so the session's shared image keeps its tags; what
inv builds is in the session's ownership records and removed at the end. What the tests pull
themselves (by digest, by --platform) they remove.
"""
import json
import subprocess
import time

import pytest

from tests.integration.helpers import IMAGE

PLATFORMS = ("linux/amd64", "linux/arm64")
NAME = f"{IMAGE}-multi"
REPOSITORY = "wiz-exercise-tasky"
INDEX = "application/vnd.oci.image.index.v1+json"
ELF_AARCH64 = 0xB7


@pytest.fixture(scope="module")
def registry(plain_registry):
    return plain_registry


@pytest.fixture(scope="module")
def env(registry):
    return {"INVOKE_TASKY_IMAGE": NAME, "INVOKE_TASKY_ECR_LOCAL_REGISTRY": registry}


@pytest.fixture(scope="module")
def released(inv, engine, env):
    proc = inv("release", "--registry", "local", "--offline", "--skip-scan", "--allow-dirty",
               "--latest", "--platform", ",".join(PLATFORMS), "--json", env=env, timeout=1200)
    assert proc.returncode == 0, proc.output
    return json.loads(proc.stdout)


def manifest(registry, ref):
    from ops.registry import http_api

    body, media_type, digest = http_api.get_manifest(registry, REPOSITORY, ref)
    return json.loads(body), media_type, digest


@pytest.fixture
def pulled(engine):
    """References a test pulls into the engine: removed after it, with their containers."""
    refs = []
    yield refs
    for ref in refs:
        for container in engine.containers.list(all=True, filters={"ancestor": ref}):
            container.remove(force=True)
        try:
            engine.images.remove(ref, noprune=False)
        except Exception:
            pass


def test_the_tag_is_one_index_of_exactly_the_asked_platforms(released, registry):
    sha_ref = released["pushed"][0]
    tag, digest = sha_ref.split(":")[-2].split("@")[0], sha_ref.split("@")[1]
    document, media_type, served = manifest(registry, tag)
    assert media_type == INDEX and served == digest
    named = [f"{m['platform']['os']}/{m['platform']['architecture']}"
             for m in document["manifests"]]
    assert named == list(PLATFORMS)
    latest, _, latest_digest = manifest(registry, "latest")
    assert latest_digest == digest, "the same images again give the same index"


def test_each_manifest_config_names_its_architecture(released, registry):
    from ops.registry import http_api

    document, _, _ = manifest(registry, "latest")
    for entry in document["manifests"]:
        child, _, _ = manifest(registry, entry["digest"])
        config = http_api.get_config(registry, REPOSITORY, child["config"]["digest"])
        blob = json.loads(http_api.get_blob(registry, REPOSITORY, child["config"]["digest"]))
        assert config is not None
        assert blob["architecture"] == entry["platform"]["architecture"]
        assert blob["os"] == "linux"


def test_the_arm64_image_pulled_by_digest_is_an_aarch64_binary_healthy_under_emulation(
        released, registry, engine, pulled):
    from ops.gates.verify import FAST_PROBE, read_file

    index = released["pushed"][0].split("@")[1]
    ref = f"{registry}/{REPOSITORY}@{index}"
    image = engine.images.pull(ref, platform="linux/arm64")
    pulled.append(ref)
    assert image.attrs["Architecture"] == "arm64"
    container = engine.containers.create(ref, detach=True, healthcheck=FAST_PROBE)
    container.start()
    head = read_file(container, "/app/tasky", raw=True)
    assert head[:4] == b"\x7fELF"
    assert int.from_bytes(head[18:20], "little") == ELF_AARCH64
    deadline, status = time.monotonic() + 90, None
    while time.monotonic() < deadline and status != "healthy":
        container.reload()
        status = container.attrs["State"].get("Health", {}).get("Status")
        assert container.status == "running", container.logs()[-500:]
        time.sleep(0.5)
    assert status == "healthy"
    machine = container.exec_run(["uname", "-m"]).output.decode().strip()
    assert machine == "aarch64"


@pytest.mark.parametrize("platform, arch", [("linux/arm64", "arm64"), ("linux/amd64", "amd64")])
def test_docker_pull_platform_serves_each_architecture(released, registry, pulled, platform,
                                                       arch):
    ref = f"{registry}/{REPOSITORY}:latest"
    proc = subprocess.run(["/usr/bin/docker", "pull", "--platform", platform, ref],
                          capture_output=True, text=True)
    pulled.append(ref)
    assert proc.returncode == 0, proc.stderr
    inspect = subprocess.run(["/usr/bin/docker", "image", "inspect", ref, "--format",
                              "{{.Os}}/{{.Architecture}}"], capture_output=True, text=True)
    assert inspect.stdout.strip() == f"linux/{arch}"


def test_promote_and_rollback_move_the_whole_index(released, registry, inv, env):
    index = released["pushed"][0].split("@")[1]
    single = manifest(registry, "latest")[0]["manifests"][0]["digest"]
    for source in (index, single):
        proc = inv("promote", source, "candidate", "--registry", "local", env=env)
        assert proc.returncode == 0, proc.output
    assert manifest(registry, "candidate")[2] == single
    proc = inv("rollback", "--tag", "candidate", "--registry", "local", env=env)
    assert proc.returncode == 0, proc.output
    document, media_type, digest = manifest(registry, "candidate")
    assert (digest, media_type) == (index, INDEX)
    assert len(document["manifests"]) == len(PLATFORMS)


def test_images_lists_the_index_with_its_platforms(released, inv, env):
    listed = inv.json("images", "--registry", "local", env=env)
    index = released["pushed"][0].split("@")[1]
    row = next(image for image in listed["images"] if image["digest"] == index)
    assert row["platforms"] == list(PLATFORMS)
    assert "latest" in row["tags"]


def test_verify_runs_each_platform_and_checks_its_binary(released, inv, env):
    result = inv.json("verify", "--platform", ",".join(PLATFORMS), env=env)
    assert result["passed"], result
    by_platform = {image["platform"]: image for image in result["images"]}
    assert set(by_platform) == set(PLATFORMS)
    arm = {row["check"]: row for row in by_platform["linux/arm64"]["checks"]}
    assert arm["binary /app/tasky"]["actual"] == "arm64"
    assert arm["becomes healthy"]["passed"]


def test_a_build_for_the_engine_platform_alone_is_a_plain_build(released, inv, env, engine):
    from ops.image.platform_images import engine_platform

    native = engine_platform(engine)
    plain = inv.json("build", "--offline", "--platform", native, env=env)
    assert "images" not in plain
    assert not any(tag.endswith(native.suffix) for tag in plain["tags"])


def test_a_bad_platform_is_refused_before_any_work(inv, env):
    proc = inv("build", "--platform", "linux/amd65", env=env)
    assert proc.returncode != 0
    assert "invalid platform 'linux/amd65'" in proc.output and "Traceback" not in proc.output
    assert "RUNBOOK.md#multi-arch" in proc.output


def test_an_ecr_push_is_one_index_and_its_immutable_tag_holds(released, inv, moto,
                                                              good_registry, tmp_path):
    """The same code through ECR: moto's API for the repository and token, a real registry
    that accepts only that token, tags immutable as --create-repo makes them."""
    from ops.registry import http_api
    from tests.integration.stand_ins import TOKEN_PASSWORD

    env = {**moto.user_env(tmp_path, f"aws-secret-{NAME}", good_registry, NAME),
           "INVOKE_TASKY_IMAGE": NAME}
    repository, auth = env["INVOKE_TASKY_ECR_REPOSITORY"], {"username": "AWS",
                                                            "password": TOKEN_PASSWORD}
    tag = "latest"   # the release made it for both platforms; a -dirty SHA would be refused
    both = ",".join(PLATFORMS)
    first = inv("push", "--tag", tag, "--create-repo", "--platform", both, "--json", env=env)
    assert first.returncode == 0, first.output
    pushed = json.loads(first.stdout)
    assert pushed["status"] == "pushed" and pushed["platforms"] == list(PLATFORMS)
    body, media_type, digest = http_api.get_manifest(good_registry.addr, repository, tag, auth)
    assert (media_type, digest) == (INDEX, pushed["digest"])
    assert TOKEN_PASSWORD not in first.output and "aws-secret" not in first.output

    again = inv.json("push", "--tag", tag, "--platform", both, env=env)
    assert (again["status"], again["digest"]) == ("already there", pushed["digest"])

    other = inv("push", "--tag", tag, "--platform", "linux/arm64", env=env)   # another index
    assert other.returncode != 0 and "immutable" in other.output
    assert "Traceback" not in other.output
    assert http_api.manifest_digest(good_registry.addr, repository, tag, auth) == digest
