"""Shared helpers for the unit tests: no Docker engine is ever contacted here."""
import os

import pytest

from tests import support
from tests.support import listening
from tests.unit.unit_support import NO_ENGINE, git


@pytest.fixture(autouse=True)
def private_locks(monkeypatch, tmp_path_factory):
    """Container-name locks (ops.engine.locks) in a directory of this test's own: unit tests
    on this machine never meet a real task's lock, nor one another's."""
    folder = tmp_path_factory.mktemp("runtime")
    folder.chmod(0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))


@pytest.fixture
def no_engine(monkeypatch):
    """DOCKER_HOST pointing at nothing, with the cached client dropped before and after."""
    from ops.engine import connection as engine

    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    for name in ("DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    engine.client.cache_clear()
    yield NO_ENGINE
    engine.client.cache_clear()


@pytest.fixture
def git_env(monkeypatch, tmp_path):
    """Git that works on a machine with no identity and ignores the user's git config."""
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Unit Test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "unit@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Unit Test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "unit@example.invalid")
    # Never discover a repository above tmp_path (e.g. when /tmp sits inside a checkout).
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


@pytest.fixture
def empty_repo(git_env, tmp_path):
    """A git repository with no commit yet."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    return repo


@pytest.fixture
def git_repo(empty_repo):
    """A git repository with one commit of one tracked file, clean."""
    (empty_repo / "main.go").write_text("package main\n")
    git(empty_repo, "add", "main.go")
    git(empty_repo, "commit", "-q", "-m", "first")
    return empty_repo


@pytest.fixture
def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    return support.free_port()


@pytest.fixture
def listener():
    """A socket listening on 127.0.0.1 on a kernel-chosen port; yields the port."""
    with listening() as port:
        yield port
