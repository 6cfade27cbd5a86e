"""On-call against moto's ECR API and real registries: images, promote, rollback, ECR scan gate,
lifecycle policy and the registry rows of doctor.

As in test_push.py, moto answers the ECR API and a real docker-registry (htpasswd accepting
moto's token) holds the layers, reached through ECR_REGISTRY; a second, plain registry plays
`--registry local`. The ops functions are called in-process with the user's environment
(credentials, endpoints, HOME) set; `inv push` runs as a user would run it.
"""
import base64
import io
import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from ops.core.errors import OpsError
from ops.doctor import registry as doctor_registry
from ops.gates import ecr_scan
from ops.registry import ecr_policy, history, http_api, listing, local_registry, promotion, target
from ops.settings import config
from tests.integration.helpers import IMAGE, RUN_ID, free_port
from tests.integration.stand_ins import TOKEN_PASSWORD, TOKEN_USER

AWS_SECRET = f"aws-secret-{RUN_ID}"
AUTH = {"username": TOKEN_USER, "password": TOKEN_PASSWORD}
QUIET = lambda line: None   # noqa: E731


@pytest.fixture(scope="module")
def plain_registry(tmp_path_factory):
    """`--registry local`: no authentication, as `inv registry` runs it."""
    folder = tmp_path_factory.mktemp("oncall-local")
    addr = f"127.0.0.1:{free_port()}"
    process = local_registry.serve(folder, addr)
    yield addr, folder
    process.kill()
    process.wait()


@pytest.fixture(scope="module")
def releases(engine, built):
    """Two different images, as two releases would be: IMAGE:it-rel-a and IMAGE:it-rel-b."""
    tags = []
    for name in ("a", "b"):
        engine.images.build(fileobj=io.BytesIO(
            f"FROM {IMAGE}:latest\nLABEL it.release={name}-{RUN_ID}\n".encode()),
            tag=f"{IMAGE}:it-rel-{name}", rm=True)
        tags.append(f"it-rel-{name}")
    return tags


@pytest.fixture
def aws(moto, good_registry, tmp_path, monkeypatch):
    """A user's shell for one test, in this process and for `inv`: its own repository."""
    env = moto.user_env(tmp_path, AWS_SECRET, good_registry, IMAGE)
    for name in ("AWS_REGION", "AWS_PROFILE", "DOCKER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def settings_for(env, mutability="MUTABLE", local=None):
    return config.Settings(image=IMAGE, ecr=config.Ecr(
        repository=env["INVOKE_TASKY_ECR_REPOSITORY"], tag_mutability=mutability,
        local_registry=local or "127.0.0.1:1"))


def push(inv, env, tag, mutability="MUTABLE", registry_kind="ecr", local=None):
    extra = {"INVOKE_TASKY_ECR_TAG_MUTABILITY": mutability}
    if local:
        extra["INVOKE_TASKY_ECR_LOCAL_REGISTRY"] = local
    return inv.json("push", "--tag", tag, "--create-repo", "--registry", registry_kind,
                    env={**env, **extra})


def blobs(folder):
    """Every blob file the registry stores: an upload of image data adds one."""
    root = Path(folder) / "data" / "docker" / "registry" / "v2" / "blobs"
    return sorted(p.parent.name for p in root.rglob("data"))


def cli_pull_digest(engine, addr, ref, tmp_path):
    """The digest the docker CLI reports when it pulls ref, logged in with the ECR token."""
    cli = ["docker", "--config", str(tmp_path / "docker-cli")]
    subprocess.run(cli + ["login", "-u", TOKEN_USER, "--password-stdin", addr],
                   input=TOKEN_PASSWORD, text=True, check=True, capture_output=True)
    pulled = subprocess.run(cli + ["pull", ref], capture_output=True, text=True, check=True)
    engine.images.remove(ref)
    return next(line.split()[1] for line in pulled.stdout.splitlines()
                if line.startswith("Digest:"))


# ---- promote ----------------------------------------------------------------------------

def test_promote_retags_in_the_registry_without_uploading_a_blob(inv, engine, aws, releases,
                                                                 good_registry, tmp_path):
    pushed = push(inv, aws, releases[0])
    s = settings_for(aws)
    before = blobs(good_registry.folder)
    lines = []
    result = promotion.promote(s, releases[0], "stable", progress=lines.append)
    assert result["status"] == "moved" and result["old"] is None
    assert result["new"] == pushed["digest"]
    assert f":stable: (new tag) -> {pushed['digest'][7:19]}" in lines[0]
    assert blobs(good_registry.folder) == before          # no image data moved
    remote = f"{good_registry.addr}/{s.ecr.repository}"
    assert cli_pull_digest(engine, good_registry.addr, f"{remote}:stable", tmp_path) == \
        pushed["digest"]

    by_digest = promotion.promote(s, pushed["digest"], "candidate", progress=QUIET)
    assert by_digest["new"] == pushed["digest"]
    assert http_api.manifest_digest(good_registry.addr, s.ecr.repository, "candidate",
                                    AUTH) == pushed["digest"]


def test_promote_refuses_a_source_the_registry_lacks(aws, releases, inv):
    push(inv, aws, releases[0])
    s = settings_for(aws)
    for missing in ("never-pushed", "sha256:" + "1" * 64):
        with pytest.raises(OpsError) as caught:
            promotion.promote(s, missing, "stable", progress=QUIET)
        assert caught.value.anchor == "promote-source-missing"
        assert f"has no image {missing}" in caught.value.message
    refused = inv("promote", "sha256:nothex", "stable", env=aws)   # checked before any call
    assert refused.returncode == 1 and refused.stderr.strip().endswith("RUNBOOK.md#bad-tag")


def test_immutable_repository_refuses_to_move_a_tag_but_accepts_the_same_digest(
        inv, aws, releases, good_registry):
    a = push(inv, aws, releases[0], mutability="IMMUTABLE")
    b = push(inv, aws, releases[1], mutability="IMMUTABLE")
    s = settings_for(aws, "IMMUTABLE")
    assert promotion.promote(s, releases[0], "prod", progress=QUIET)["status"] == "moved"
    again = promotion.promote(s, a["digest"], "prod", progress=QUIET)
    assert again["status"] == "already there" and again["old"] == a["digest"]
    with pytest.raises(OpsError) as caught:
        promotion.promote(s, releases[1], "prod", progress=QUIET)
    line = caught.value.line()
    assert "tags are immutable: it cannot move to " + b["digest"][7:19] in line
    assert "RUNBOOK.md#immutable-tag" in line and "\n" not in line
    assert http_api.manifest_digest(good_registry.addr, s.ecr.repository, "prod",
                                    AUTH) == a["digest"]
    # The ECR side agrees that the repository's tags are immutable.
    assert target.site(s, "ecr").mutability == "IMMUTABLE"


# ---- rollback and history -------------------------------------------------------------------

def test_rollback_after_two_releases_and_undo(inv, aws, releases, good_registry):
    s = settings_for(aws)
    a = push(inv, aws, releases[0])["digest"]
    promotion.promote(s, releases[0], "latest", progress=QUIET)     # release 1
    b = push(inv, aws, releases[1])["digest"]
    second = promotion.promote(s, releases[1], "latest", progress=QUIET)   # release 2
    assert (second["old"], second["new"], second["history"]) == (a, b, [a])

    back = promotion.rollback(s, "latest", progress=QUIET)
    assert (back["old"], back["new"], back["status"]) == (b, a, "rolled back")
    assert http_api.manifest_digest(good_registry.addr, s.ecr.repository, "latest", AUTH) == a
    assert back["undo"] == f"inv promote {b} latest"
    with pytest.raises(OpsError) as caught:      # nothing earlier than release 1
        promotion.rollback(s, "latest", progress=QUIET)
    assert caught.value.anchor == "rollback-no-history"

    undone = promotion.promote(s, b, "latest", progress=QUIET)
    assert undone["new"] == b and undone["history"] == [a]


def test_rollback_walks_back_through_three_moves_and_to(inv, aws, releases, engine):
    s = settings_for(aws)
    digests = [push(inv, aws, tag)["digest"] for tag in releases]
    engine.images.get(f"{IMAGE}:latest").tag(IMAGE, "it-rel-c")
    digests.append(push(inv, aws, "it-rel-c")["digest"])
    for digest in digests:
        promotion.promote(s, digest, "latest", progress=QUIET)
    assert promotion.rollback(s, progress=QUIET)["new"] == digests[1]
    assert promotion.rollback(s, progress=QUIET)["new"] == digests[0]
    chosen = promotion.rollback(s, to=digests[2], progress=QUIET)
    assert chosen["new"] == digests[2] and chosen["undo"] == f"inv promote {digests[0]} latest"


def test_record_move_is_what_push_calls(inv, aws, releases):
    s = settings_for(aws)
    a = push(inv, aws, releases[0])["digest"]
    first = history.record_move(s, "latest", None, a)
    assert first["recorded"] is False and "new" in first["reason"]
    b = push(inv, aws, releases[1])["digest"]
    promotion.promote(s, b, "latest", progress=QUIET)
    moved = history.record_move(s, "latest", a, b)
    assert moved["recorded"] is True and moved["history"] == [a]
    assert promotion.rollback(s, progress=QUIET)["new"] == a
    immutable = history.record_move(settings_for(aws, "IMMUTABLE"), "x", a, b,
                                  site=target.Target("h", "r", None, "IMMUTABLE"))
    assert immutable["recorded"] is False and "immutable" in immutable["reason"]


# ---- images -------------------------------------------------------------------------------

def test_images_of_the_local_registry_newest_first_with_pointers(inv, aws, releases,
                                                                 plain_registry):
    addr, folder = plain_registry
    s = settings_for(aws, local=addr)
    a = push(inv, aws, releases[0], registry_kind="local", local=addr)["digest"]
    b = push(inv, aws, releases[1], registry_kind="local", local=addr)["digest"]
    promotion.promote(s, a, "latest", registry_kind="local", progress=QUIET)
    promotion.promote(s, b, "latest", registry_kind="local", progress=QUIET)
    before = blobs(folder)
    listed = listing.images(s, registry_kind="local", limit=10)
    assert blobs(folder) == before
    digests = [image["digest"] for image in listed["images"]]
    assert digests.index(b) < digests.index(a)        # b was built after a
    by_digest = {image["digest"]: image for image in listed["images"]}
    assert by_digest[b]["tags"] == ["it-rel-b", "latest"]
    # One earlier digest: every history slot names it (a registry cannot drop a tag alone).
    assert by_digest[a]["tags"] == ["it-rel-a", "previous-2-latest", "previous-3-latest",
                                    "previous-latest"]
    assert listed["pointers"]["latest"] == b and listed["history"]["latest"] == [a]
    assert by_digest[b]["size_mb"] > 1 and by_digest[b]["created"]
    assert listing.images(s, registry_kind="local", limit=1)["images"][0]["digest"] == digests[0]
    text = listing.render(listed)
    assert f"latest -> {b[7:19]}; before: {a[7:19]}" in text


def seed_ecr(s, good_registry, tags):
    """Put the registry's manifests into moto's ECR, as a real push to ECR would record them."""
    import boto3

    client = boto3.client("ecr")
    out = []
    for tag in tags:
        body, media_type, digest = http_api.get_manifest(good_registry.addr, s.ecr.repository,
                                                         tag, AUTH)
        client.put_image(repositoryName=s.ecr.repository, imageManifest=body.decode(),
                         imageManifestMediaType=media_type, imageTag=tag, imageDigest=digest)
        out.append(digest)
        time.sleep(1.1)    # moto records push times in whole seconds
    return client, out


def test_images_from_ecr_newest_first(inv, aws, releases, good_registry, moto):
    """moto's describe_images returns no scan status or counts and never pages: the unit
    tests feed real response shapes for those."""
    s = settings_for(aws)
    for tag in releases:
        push(inv, aws, tag)
    client, (a, b) = seed_ecr(s, good_registry, releases)
    client.put_image(repositoryName=s.ecr.repository, imageTag="latest", imageDigest=b,
                     imageManifest=http_api.get_manifest(good_registry.addr, s.ecr.repository,
                                                         releases[1], AUTH)[0].decode())
    listed = listing.images(s, registry_kind="ecr")
    assert [i["digest"] for i in listed["images"]] == [b, a]
    newest = listed["images"][0]
    assert newest["tags"] == ["it-rel-b", "latest"] and newest["release_tags"] == ["latest"]
    assert newest["pushed_at"] and newest["size_mb"] is not None
    assert listed["pointers"] == {"latest": b}
    assert listed["repository"].endswith(f"/{s.ecr.repository}")
    assert f"latest -> {b[7:19]}; before: none recorded" in listing.render(listed)


# ---- ECR scan gate --------------------------------------------------------------------------

def moto_scan_result(moto, repository, tag, status, description, counts=None, findings=()):
    result = {"registryId": "123456789012", "repositoryName": repository,
              "imageId": {"imageTag": tag},
              "imageScanStatus": {"status": status, "description": description}}
    if counts is not None:
        result["imageScanFindings"] = {"findingSeverityCounts": counts,
                                       "findings": list(findings)}
    request = urllib.request.Request(
        f"http://127.0.0.1:{moto.port}/moto-api/static/ecr/scan-finding-results",
        data=json.dumps({"results": [result], "region": "us-east-1"}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(request).read()


def test_ecr_scan_starts_a_missing_scan_and_gates_on_severity(inv, aws, releases,
                                                              good_registry):
    s = settings_for(aws)
    push(inv, aws, releases[0])
    seed_ecr(s, good_registry, releases[:1])
    lines = []
    found = ecr_scan.ecr_scan(s, releases[0], progress=lines.append)
    assert "starting one" in lines[0]
    assert found["passed"] is False and found["status"] == "COMPLETE"
    assert [f["id"] for f in found["findings"]] == ["CVE-9999-9999"]
    assert found["findings"][0]["package"] == "moto_fake"
    critical_only = ecr_scan.ecr_scan(s, releases[0], severity="CRITICAL", progress=QUIET)
    assert critical_only["passed"] is True and critical_only["counts"] == {"HIGH": 1}


def test_ecr_scan_unsupported_and_failed_states(inv, aws, releases, good_registry, moto):
    s = settings_for(aws)
    for tag in releases:
        push(inv, aws, tag)
    client, _ = seed_ecr(s, good_registry, releases)
    for tag in releases:
        client.start_image_scan(repositoryName=s.ecr.repository, imageId={"imageTag": tag})
    moto_scan_result(moto, s.ecr.repository, releases[0], "UNSUPPORTED_IMAGE",
                     "UnsupportedImageError: The operating system 'busybox' is not supported")
    moto_scan_result(moto, s.ecr.repository, releases[1], "FAILED", "the scan failed")
    with pytest.raises(OpsError) as caught:
        ecr_scan.ecr_scan(s, releases[0], wait_seconds=30, progress=QUIET)
    assert "UNSUPPORTED_IMAGE" in caught.value.message and "busybox" in caught.value.message
    assert caught.value.fix.endswith("inv scan") and caught.value.anchor == "ecr-scan-gate"
    with pytest.raises(OpsError) as caught:
        ecr_scan.ecr_scan(s, releases[1], wait_seconds=30, progress=QUIET)
    assert "ended FAILED: the scan failed" in caught.value.message


def test_ecr_scan_of_an_image_ecr_lacks(aws):
    s = settings_for(aws)
    ecr_policy.ecr.repository(s, create=True)
    with pytest.raises(OpsError) as caught:
        ecr_scan.ecr_scan(s, "never-pushed", progress=QUIET)
    assert caught.value.anchor == "promote-source-missing"


# ---- lifecycle policy -----------------------------------------------------------------------

def test_lifecycle_policy_shown_proposed_and_applied_only_on_request(aws):
    s = settings_for(aws)
    ecr_policy.ecr.repository(s, create=True)
    shown = ecr_policy.ecr_policy(s, keep=10, untagged_days=7)
    assert shown["current"] is None and shown["applied"] is False
    assert "none: images are never expired" in ecr_policy.render(shown)
    assert ecr_policy.ecr_policy(s)["current"] is None          # still nothing applied
    applied = ecr_policy.ecr_policy(s, apply=True, keep=10, untagged_days=7)
    assert applied["applied"] is True and applied["current"] == shown["proposed"]
    rules = applied["current"]["rules"]
    assert rules[-1]["selection"]["countNumber"] == 10
    assert rules[-2]["selection"] == {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                      "countUnit": "days", "countNumber": 7}
    assert ecr_policy.ecr_policy(s, apply=True, keep=10, untagged_days=7)["applied"] is False


def test_lifecycle_policy_on_a_missing_repository(aws):
    with pytest.raises(OpsError) as caught:
        ecr_policy.ecr_policy(settings_for(aws))
    assert caught.value.anchor == "ecr-repository-missing"


# ---- doctor rows ----------------------------------------------------------------------------

def by_check(rows):
    return {r["check"]: r for r in rows}


def test_doctor_rows_account_and_region_mismatch(aws, monkeypatch):
    s = settings_for(aws)
    ecr_policy.ecr.repository(s, create=True)
    monkeypatch.setenv("ECR_REGISTRY", "999999999999.dkr.ecr.eu-west-1.amazonaws.com")
    rows = by_check(doctor_registry.rows(s))
    assert rows["registry account"]["status"] == "warn"
    assert "account 999999999999; the credentials are account 123456789012" in \
        rows["registry account"]["detail"]
    assert rows["registry region"]["status"] == "fail"
    assert "export AWS_REGION=eu-west-1" in rows["registry region"]["fix"]
    monkeypatch.setenv("ECR_REGISTRY", "123456789012.dkr.ecr.us-east-1.amazonaws.com")
    rows = by_check(doctor_registry.rows(s))
    assert rows["registry account"]["status"] == rows["registry region"]["status"] == "ok"
    assert rows["IAM permissions"]["status"] == "ok"


def test_doctor_stale_and_shadowed_docker_config(aws, good_registry, tmp_path, monkeypatch):
    host = good_registry.addr
    folder = tmp_path / "docker-config"
    folder.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    stale = f"stale-token-{RUN_ID}"

    def write(**config):
        (folder / "config.json").write_text(json.dumps(config))
        return by_check(doctor_registry.docker_config_rows(host))

    def auth(password):
        return {"auths": {host: {"auth": base64.b64encode(f"AWS:{password}".encode()).decode()}}}

    rows = write(**auth(stale))
    assert rows["docker config token"]["status"] == "fail"
    assert "is stale (the registry rejects it" in rows["docker config token"]["detail"]
    assert write(**auth(TOKEN_PASSWORD))["docker config token"]["status"] == "ok"
    shadowed = write(credsStore="desktop", **auth(stale))
    assert shadowed["docker config"]["status"] == "warn"
    assert "credsStore = desktop answers the docker CLI" in shadowed["docker config"]["detail"]
    assert "hides the `auths` entry" in shadowed["docker config"]["detail"]
    helper = write(credHelpers={host: "ecr-login"})
    assert f"credHelpers[{host}] = ecr-login" in helper["docker config"]["detail"]
    everything = json.dumps([shadowed, rows, helper])
    assert stale not in everything and TOKEN_PASSWORD not in everything


def test_doctor_names_the_iam_action_moto_denies(aws, moto):
    """moto enforces IAM once its auth is switched on: a user allowed only part of the set."""
    import boto3

    s = settings_for(aws)
    ecr_policy.ecr.repository(s, create=True)
    iam = boto3.client("iam", endpoint_url=f"http://127.0.0.1:{moto.port}")
    user = f"ci-{RUN_ID}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="partial", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
            "sts:GetCallerIdentity", "ecr:GetAuthorizationToken", "ecr:DescribeRepositories",
            "ecr:DescribeImages", "ecr:BatchCheckLayerAvailability"]}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    session = boto3.Session(aws_access_key_id=key["AccessKeyId"],
                            aws_secret_access_key=key["SecretAccessKey"], region_name="us-east-1")

    def auth_after(count):
        urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{moto.port}/moto-api/reset-auth", data=count.encode(),
            headers={"Content-Type": "text/plain"}, method="POST")).read()

    auth_after("0")
    try:
        rows = by_check(doctor_registry.rows(s, session=session))
    finally:
        auth_after("inf")
    denied = rows["IAM permissions"]
    assert denied["status"] == "fail" and denied["detail"] == "denied: ecr:BatchGetImage"
    assert denied["fix"].startswith("grant ecr:BatchGetImage; push needs ecr:GetAuthorization")
    assert "ecr:PutImage" in denied["fix"] and denied["anchor"] == "push-denied"
    assert key["SecretAccessKey"] not in json.dumps(list(rows.values()))
