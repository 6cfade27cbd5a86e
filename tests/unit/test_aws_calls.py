"""Every AWS call through ops.registry.ecr, against moto's server on loopback: one boto3
Session per process (per profile and region), cached clients, and botocore's failures
translated in that one place, paginators included."""
import ast
import dataclasses
import uuid
from unittest import mock

import boto3
import pytest

from ops.core.errors import OpsError
from ops.registry import ecr, listing
from ops.settings import config
from tests.integration.stand_ins import Moto
from tests.support import free_port
from tests.unit.unit_support import ROOT


@pytest.fixture(scope="module")
def moto():
    server = Moto().start()
    yield server
    server.stop()


@pytest.fixture
def env(moto, tmp_path, monkeypatch):
    """A user's shell pointed at moto: credentials, us-east-1, endpoints, a clean HOME."""
    for name in ("AWS_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    values = moto.env(tmp_path, "unit-secret")
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def settings(env):
    return config.Settings(ecr=config.Ecr(repository=f"unit-aws-{uuid.uuid4().hex[:6]}"))


@pytest.fixture
def sessions():
    """boto3.Session, still real, with every construction counted."""
    with mock.patch.object(boto3, "Session", wraps=boto3.Session) as made:
        yield made


def elsewhere(settings, **changes):
    return dataclasses.replace(settings, ecr=dataclasses.replace(settings.ecr, **changes))


def test_one_session_serves_every_call_of_a_process(settings, sessions):
    name = settings.ecr.repository
    ecr.repository(settings, create=True)
    for _ in range(10):
        ecr.call(settings, "describe_repositories", repositoryNames=[name])
        ecr.fetch_token(settings)
        listing.from_ecr(settings)   # describe_images' paginator
        ecr.call(settings, "get_caller_identity", service="sts")
    assert sessions.call_count == 1
    assert ecr.client(settings) is ecr.client(settings)
    assert ecr.client(settings, "sts") is not ecr.client(settings)


def test_another_region_or_profile_in_the_same_process_gets_its_own_session(
        settings, sessions, env, tmp_path, monkeypatch):
    profiles = tmp_path / "aws-config"
    profiles.write_text("[profile second]\naws_access_key_id = second-key\n"
                        "aws_secret_access_key = second-secret\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(profiles))
    ecr.repository(settings, create=True)
    west = elsewhere(settings, region_flag="eu-west-1")
    with pytest.raises(OpsError) as caught:   # created in us-east-1, so not found there
        ecr.repository(west)
    assert caught.value.anchor == "ecr-repository-missing" and "eu-west-1" in caught.value.message
    assert ecr.client(west).meta.region_name == "eu-west-1"
    second = elsewhere(settings, profile="second")
    assert ecr.repository(second)["uri"].endswith(f"/{settings.ecr.repository}")
    ecr.repository(settings)
    assert sessions.call_count == 3
    assert [call.kwargs for call in sessions.call_args_list] == [
        {"profile_name": None, "region_name": "us-east-1"},
        {"profile_name": None, "region_name": "eu-west-1"},
        {"profile_name": "second", "region_name": "us-east-1"}]


def test_forgetting_the_sessions_builds_a_new_one(settings, sessions):
    ecr.call(settings, "describe_repositories")
    ecr.forget_sessions()
    ecr.call(settings, "describe_repositories")
    assert sessions.call_count == 2


def test_a_failure_inside_a_paginator_is_one_translated_line(settings):
    with pytest.raises(ecr.AwsError) as caught:   # the repository was never created
        listing.from_ecr(settings)
    error = caught.value
    assert error.anchor == "ecr-repository-missing" and error.code == "RepositoryNotFoundException"
    assert error.message == (f"ECR repository {settings.ecr.repository} does not exist in "
                             "us-east-1")
    assert "\n" not in error.line() and "inv push --create-repo" in error.fix
    assert type(error.__cause__).__module__.startswith("botocore")


def test_an_unreachable_endpoint_is_translated_and_marked(settings, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", f"http://127.0.0.1:{free_port()}")
    quick = ecr.client(settings, "ecr", timeout=1, attempts=1)
    with pytest.raises(ecr.AwsError) as caught:
        ecr.call(settings, "describe_repositories", api=quick)
    assert caught.value.unreachable and caught.value.anchor == "registry-unreachable"
    assert caught.value.message.startswith("cannot reach the ECR API in us-east-1")


def test_an_unknown_profile_is_translated_where_the_session_is_made(settings):
    with pytest.raises(ecr.AwsError) as caught:
        ecr.call(elsewhere(settings, profile="nobody"), "describe_repositories")
    assert caught.value.message == "AWS profile 'nobody' not found"


def test_only_the_translation_point_touches_boto3_and_botocore():
    """Anything else calls ecr.call / ecr.pages and catches ecr.AwsError."""
    strays = []
    for path in sorted((ROOT / "ops").rglob("*.py")):
        if path == ROOT / "ops" / "registry" / "ecr.py":
            continue
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            strays += [f"{path.relative_to(ROOT)} imports {name}" for name in names
                       if name.split(".")[0] in ("boto3", "botocore")]
        strays += [f"{path.relative_to(ROOT)} names {word}"
                   for word in ("BotoCoreError", "ClientError") if word in text]
    assert strays == []


def test_the_token_and_the_signing_key_become_known_to_the_redactor(settings, env):
    import base64

    from ops.core.redact import SECRETS

    token = ecr.fetch_token(settings)
    login = base64.b64encode(f"{token.username}:{token.password}".encode()).decode()
    said = SECRETS.redact(f"token {token.password} basic {login} "
                          f"key {env['AWS_SECRET_ACCESS_KEY']}")
    assert token.password not in said and login not in said
    assert env["AWS_SECRET_ACCESS_KEY"] not in said
