"""Issue 17 on the real engine: ownership is not inherited. What is built FROM our image,
committed from our container, or run from such a commit carries our labels and is never ours:
`inv clean` neither lists nor removes it, `inv stop` refuses it; another checkout's build cache
survives `inv clean --cache`; the session's clean-up spares another user's image whose
org.tasky-ops.role=base label is inherited from our stand-in base."""
import io
import json
import os
import shutil
import subprocess

import docker
import pytest

from tests.integration.helpers import IMAGE, ROOT, RUN_ID, project_ledger

BASE = "tasky-ops/alpine:3.17.0-busybox"


def project_env(name):
    return {"INVOKE_TASKY_IMAGE": name, "INVOKE_TASKY_CONTAINER": name}


def listed_ids(proc):
    assert proc.returncode == 0, proc.output
    return {row["id"] for row in json.loads(proc.stdout)}


def short(image):
    return image.id.split(":")[-1][:12]


def test_derived_images_and_containers_are_never_listed_removed_or_stopped(
        inv, engine, built, container_cleanup):
    own = f"{IMAGE}-own"
    env = project_env(own)
    from_commit = f"{IMAGE}-from-commit"
    container_cleanup.extend([own, from_commit])
    assert inv("build", "--offline", env=env).returncode == 0
    assert inv("run", env=env).returncode == 0
    ours = engine.images.get(f"{own}:latest")

    # Someone builds FROM our image, commits our container, runs the commit.
    derived, _ = engine.images.build(fileobj=io.BytesIO(
        f"FROM {own}:latest\nLABEL org.example.derived=yes\n".encode()),
        tag=f"{IMAGE}-derived:from", rm=True)
    committed = engine.containers.get(own).commit(repository=f"{IMAGE}-derived", tag="commit")
    running = engine.containers.run(committed.id, name=from_commit, detach=True)
    for made in (derived, committed, running):
        labels = made.labels
        assert labels["org.tasky-ops.managed"] == "true"            # inherited, all of them
        assert labels["org.tasky-ops.image"] == own
    assert running.labels["org.tasky-ops.started"] == "true"
    foreign = {short(derived), short(committed), running.short_id}

    for args in (("clean", "--dry-run"), ("clean", "--dry-run", "--cache", "--bases"),
                 ("clean", "--dry-run", "--all")):
        listed = listed_ids(inv(*args, "--json", env=env))
        assert not listed & foreign, args
    assert {short(ours), engine.containers.get(own).short_id} <= listed_ids(
        inv("clean", "--dry-run", "--json", env=env))

    refused = inv("stop", "--name", from_commit, env=env)
    assert refused.returncode == 1
    assert "was not started by tasky-ops" in refused.stderr
    assert "RUNBOOK.md#name-taken" in refused.stderr
    assert engine.containers.get(from_commit).status == "running"

    cleaned = inv("clean", "--json", env=env)
    rows = json.loads(cleaned.stdout)
    assert not {row["id"] for row in rows} & foreign
    assert {row["name"] for row in rows if row["kind"] == "container"} == {own}
    assert "left alone" in cleaned.stderr and "docker rm -f" in cleaned.stderr
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(own)
    for image in (derived, committed):
        assert engine.images.get(image.id)                 # never removed
    assert engine.containers.get(from_commit).status == "running"
    # Ours was kept only because an image is built on it: the engine said so in the row.
    (row,) = [row for row in rows if row["id"] == short(ours)]
    assert row["status"].startswith("kept (")

    assert inv("stop", "--name", from_commit, "--force", env=env).returncode == 0


def copy_of_project(target):
    """This checkout copied to `target` as another engineer's clone: its own code, so its own
    checkout root and ownership record, in a git repository of its own."""
    ignore = shutil.ignore_patterns(".git", "__pycache__", ".hypothesis", ".pytest_cache",
                                    "tasky", "*.egg-info")
    for name in ("tasks.py", "invoke.yaml", "Dockerfile", "pyproject.toml"):
        shutil.copy2(ROOT / name, target / name)
    for name in ("ops", "app"):
        shutil.copytree(ROOT / name, target / name, ignore=ignore)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "a clone"]):
        subprocess.run(["git", "-C", str(target), "-c", "user.name=t", "-c", "user.email=t@t",
                        "-c", "commit.gpgsign=false", *args], check=True, capture_output=True)
    return target


def cache_records(engine):
    from ops.image import build_cache

    return {record["ID"] for record in build_cache.all_records(engine)}


@pytest.fixture
def clone(inv, tmp_path, session_records):
    """A copy of the project: its own checkout; what it made is removed by its own
    `inv clean` afterwards, and its ownership record with it."""
    copy = copy_of_project(tmp_path)
    ledger = project_ledger(copy)
    session_records.copies.append(ledger)   # should its clean-up fail: the session's
    yield copy, ledger
    env = project_env(f"{IMAGE}-cache-theirs")
    if inv("clean", "--all", "--cache", env=env, cwd=copy).returncode == 0:
        for path in (ledger.path, ledger.path.with_suffix(".lock")):
            path.unlink(missing_ok=True)


def test_another_checkouts_cache_records_survive_clean_cache(inv, engine, clone):
    copy, theirs_ledger = clone
    mine, theirs = project_env(f"{IMAGE}-cache-mine"), project_env(f"{IMAGE}-cache-theirs")
    # Their image name is another; their checkout would keep them apart under ours too.
    for env, cwd in ((theirs, copy), (mine, ROOT)):
        proc = inv("build", "--offline", env=env, cwd=cwd)
        assert proc.returncode == 0, proc.output
        assert "BuildKit" in proc.stdout
    # What their `inv clean --cache` finds: the records naming their checkout's scope.
    from ops.image import build_cache

    name = theirs["INVOKE_TASKY_IMAGE"]
    build_cache.record_made(engine, theirs_ledger, theirs_ledger.cache_scope(name), name)
    recorded = set(theirs_ledger.entries("cache"))
    assert recorded and recorded <= cache_records(engine)
    assert not recorded & set(project_ledger().entries("cache"))

    dry = json.loads(inv("clean", "--cache", "--dry-run", "--json", env=mine).stdout)
    assert [row["kind"] for row in dry if row["kind"] == "BuildKit cache"] == ["BuildKit cache"]
    proc = inv("clean", "--cache", "--json", env=mine)
    assert proc.returncode == 0, proc.output
    (row,) = [row for row in json.loads(proc.stdout) if row["kind"] == "BuildKit cache"]
    assert row["status"].startswith("freed ")
    assert recorded <= cache_records(engine)              # every record of theirs is there
    left = inv("clean", "--cache", "--dry-run", "--json", env=mine)
    assert not [row for row in json.loads(left.stdout) if row["kind"] == "BuildKit cache"]

    # Their own clean-up, in their checkout, removes theirs.
    proc = inv("clean", "--cache", "--json", env=theirs, cwd=copy)
    assert proc.returncode == 0, proc.output
    assert not recorded & cache_records(engine)


def test_the_session_clean_up_spares_an_image_with_an_inherited_base_label(
        engine, session_records):
    if not any(BASE in tag for image in engine.images.list() for tag in image.tags):
        pytest.skip(f"no {BASE}: inv bases builds it")
    before = session_records.snapshot(engine)
    other = f"someone-else-{RUN_ID}:on-our-base"
    # Another user, another client: the docker CLI with the classic builder.
    built = subprocess.run(["docker", "build", "-q", "-t", other, "-"], capture_output=True,
                           input=f"FROM {BASE}\nLABEL org.example.owner=someone\n".encode(),
                           env={**os.environ, "DOCKER_BUILDKIT": "0"})
    assert built.returncode == 0, built.stderr
    try:
        theirs = engine.images.get(other)
        assert theirs.labels["org.tasky-ops.role"] == "base"   # inherited from our base
        mine, _ = engine.images.build(fileobj=io.BytesIO(
            f"FROM {BASE}\nLABEL org.example.owner=this-session\n".encode()),
            tag=f"{IMAGE}-own-base:x", rm=True)
        assert mine.labels["org.tasky-ops.role"] == "base"

        removed = session_records.clean(engine, before)
        assert mine.id in removed
        assert engine.images.get(other).id == theirs.id
    finally:
        try:
            engine.images.remove(other, force=True)
        except docker.errors.ImageNotFound:
            pass
