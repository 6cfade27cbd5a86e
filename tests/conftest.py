"""Shared by unit and integration tests: keep the developer's own config out of them."""
import pytest


@pytest.fixture(autouse=True)
def _no_personal_config(monkeypatch):
    # A developer's INVOKE_TASKY_* or CI variables must not change what tests see.
    import os

    for key in list(os.environ):
        if key.startswith("INVOKE_TASKY_"):
            monkeypatch.delenv(key)


@pytest.fixture(autouse=True)
def _fresh_aws_sessions():
    # ops.registry.ecr keeps one boto3 session per process, which reads credentials and
    # endpoints once; each test sets its own, so each starts without the last one's.
    from ops.registry import ecr

    ecr.forget_sessions()
    yield
    ecr.forget_sessions()
