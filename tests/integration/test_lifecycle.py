"""The engine's absence, the demo, `inv clean`, `inv stop`, and the Go tests in the builder."""
import json

import pytest

from tests.integration.helpers import IMAGE


@pytest.mark.parametrize("host, message", [
    ("unix:///nonexistent/docker.sock", "no Docker engine: the socket"),
    ("tcp://127.0.0.1:1", "does not answer"),
])
def test_no_daemon_is_one_line_with_the_fix(inv, host, message):
    proc = inv("verify", env={"DOCKER_HOST": host})
    assert proc.returncode == 1
    assert message in proc.stderr and "inv setup" in proc.stderr
    assert "RUNBOOK.md#docker-daemon-not-running" in proc.stderr
    assert "Traceback" not in proc.output


def test_setup_is_idempotent_when_the_engine_runs(inv, engine):
    rows = inv.json("setup")
    assert {"component": "docker daemon", "action": "already running"} in rows


def test_demo_builds_runs_and_verifies(inv, engine, built, container_cleanup):
    container_cleanup.append(inv.container)
    result = inv.json("demo")
    assert result["passed"] is True
    assert [step["step"] for step in result["steps"]] == ["build", "run", "health", "verify"]
    assert engine.containers.get(inv.container).status == "running"


def test_stop_refuses_a_container_it_did_not_start(inv, engine, built, container_cleanup):
    name = f"{IMAGE}-foreign"
    container_cleanup.append(name)
    engine.containers.run(f"{IMAGE}:latest", name=name, detach=True)  # no tasky-ops label
    proc = inv("stop", "--name", name)
    assert proc.returncode == 1 and "was not started by tasky-ops" in proc.stderr
    assert engine.containers.get(name).status == "running"
    assert inv("stop", "--name", name, "--force").returncode == 0


def test_stop_without_container_is_not_an_error(inv, engine):
    proc = inv("stop", "--name", f"{IMAGE}-never")
    assert proc.returncode == 0 and "nothing to stop" in proc.stdout


def test_clean_removes_only_its_image_name(inv, engine, built, container_cleanup):
    other = f"{IMAGE}-clean"
    env = {"INVOKE_TASKY_IMAGE": other, "INVOKE_TASKY_CONTAINER": other}
    container_cleanup.append(other)
    assert inv("build", "--offline", env=env).returncode == 0
    assert inv("run", env=env).returncode == 0

    dry = json.loads(inv("clean", "--dry-run", "--json", env=env).stdout)
    assert {row["kind"] for row in dry} == {"container", "image (app)"}
    assert all(row["status"] == "would remove" for row in dry)
    assert engine.containers.get(other)

    removed = json.loads(inv("clean", "--json", env=env).stdout)
    assert {row["name"] for row in removed if row["kind"] == "container"} == {other}
    assert not engine.images.list(other)
    assert engine.images.list(IMAGE)          # the session's image is untouched
    assert engine.images.get("tasky-ops/alpine:3.17.0-busybox")


def test_go_unit_tests_pass_in_the_builder(inv, engine):
    proc = inv("app-test")
    assert proc.returncode == 0, proc.output
    assert "ok  \tgithub.com/tasky-ops/tasky" in proc.output
