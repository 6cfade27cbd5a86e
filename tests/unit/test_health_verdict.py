"""The one health rule (ops.run.health.verdict) as a property: over every container state,
Docker status, live probe outcome and app answer it agrees with the spec below, written here
apart from the code; and it is the only place in ops/ that decides "healthy".

Spec: healthy exactly when
  the container is running,
  and Docker does not say unhealthy,
  and the live probe neither failed nor timed out,
  and, when Docker's word must confirm (verify), Docker says healthy,
  and either the live probe passed or (no HEALTHCHECK) the app answered through its port.
"""
import ast
import time

from hypothesis import given
from hypothesis import strategies as st

from ops.run import health
from tests.unit.test_polls import Container, running
from tests.unit.unit_support import ROOT

STATES = ["running", "created", "restarting", "paused", "exited", "dead", "removing"]
DOCKER = ["starting", "healthy", "unhealthy", "none"]
PROBES = ["ok", "failed", "timed out", "none"]
APPS = ["answered", "refused", "error status", "none"]


def live(probe, exit_code):
    return {"ok": {"ok": True, "none": None}.get(probe, False), "output": "probe said x",
            "exit_code": None if probe in ("timed out", "none") else exit_code,
            **({"timed_out": True} if probe == "timed out" else {})}


def app_answer(kind, status):
    return {"answered": {"url": "u", "status": status % 400},
            "refused": {"url": "u", "status": None, "error": "refused"},
            "error status": {"url": "u", "status": 400 + status % 200, "error": "HTTP"},
            "none": None}[kind]


def spec(state, docker, probe, app, confirmed):
    answered = app == "answered"
    return (state == "running" and docker != "unhealthy" and probe not in ("failed", "timed out")
            and (not confirmed or docker == "healthy") and (probe == "ok" or (
                probe == "none" and answered)))


@given(state=st.sampled_from(STATES), docker=st.sampled_from(DOCKER),
       probe=st.sampled_from(PROBES), app=st.sampled_from(APPS), confirmed=st.booleans(),
       exit_code=st.integers(1, 255), status=st.integers(200, 399))
def test_the_verdict_is_the_spec(state, docker, probe, app, confirmed, exit_code, status):
    report = {"state": state, "docker_status": docker, "live_probe": live(probe, exit_code),
              "app": app_answer(app, status)}
    healthy, why = health.verdict(report, confirmed)
    assert healthy is spec(state, docker, probe, app, confirmed)
    assert why and "\n" not in why
    # The reason names the first thing that failed, as the one error line will.
    if state != "running":
        assert why == f"container is {state}"
    elif docker == "unhealthy":
        assert why == "docker says unhealthy"
    elif probe == "failed":
        assert why == f"the health command exited {exit_code}"
    elif probe == "timed out":
        assert why == "probe said x"
    if not healthy:
        # A verdict that cannot change by waiting is one that says the container stopped.
        assert health.final(report) is (state != "running")


@given(docker=st.sampled_from(DOCKER), probe=st.sampled_from(PROBES), app=st.sampled_from(APPS))
def test_never_healthy_while_docker_says_unhealthy_or_the_container_is_not_running(
        docker, probe, app):
    for state in STATES:
        report = {"state": state, "docker_status": docker, "live_probe": live(probe, 1),
                  "app": app_answer(app, 200)}
        healthy, _ = health.verdict(report)
        if docker == "unhealthy" or state != "running":
            assert not healthy


def test_a_report_reads_dockers_status_after_the_probe_too():
    # Docker said starting, then while our probe passed, its own probes made it unhealthy.
    container = Container(running("starting"), running("unhealthy"), probes=[0])
    report = health.health_report(container, settings())
    assert report["live_probe"]["ok"] is True
    assert (report["healthy"], report["docker_status"]) == (False, "unhealthy")


def test_a_probe_past_the_healthchecks_timeout_fails_within_that_timeout():
    container = Container(running("starting"), probes=[0], seconds=2.0,
                          timeout_ns=300_000_000)
    started = time.monotonic()
    report = health.health_report(container, settings())
    assert time.monotonic() - started < 1.0
    assert report["live_probe"]["timed_out"] and not report["healthy"]
    assert report["why"] == ("the health command gave no answer within the HEALTHCHECK's "
                             "0.3s timeout")


def test_health_without_wait_on_an_unhealthy_container_is_one_line_naming_docker():
    container = Container(running("unhealthy"), probes=[0])
    error = health.unhealthy(health.health_report(container, settings()))
    assert error.message == "tasky-unit is not healthy: docker says unhealthy"
    assert error.anchor == "health-check-failing"


def settings():
    from ops.settings.config import App, Settings

    return Settings(app=App(probe_path="/"))


def test_no_other_module_decides_healthy():
    """Outside ops/run/health.py nothing compares with "healthy" or "unhealthy", nor sets a
    report's "healthy": every task reads the verdict."""
    offenders = []
    for path in (ROOT / "ops").rglob("*.py"):
        if path == ROOT / "ops/run/health.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                words = {c.value for c in ast.walk(node) if isinstance(c, ast.Constant)}
                if words & {"healthy", "unhealthy"}:
                    offenders.append(f"{path.name}:{node.lineno}")
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) and \
                    isinstance(node.slice, ast.Constant) and node.slice.value == "healthy":
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders


def test_the_wait_ends_naming_the_last_probe_that_finished_not_one_the_deadline_cut(
        monkeypatch):
    import dataclasses

    import pytest

    from ops.core.errors import OpsError
    from ops.run import containers

    container = Container(running("starting"), probes=[0], seconds=0.6, timeout_ns=500_000_000)
    monkeypatch.setattr(containers, "get", lambda engine, name: container)
    monkeypatch.setattr(containers, "tail_logs", lambda container, settings: [])
    started = time.monotonic()
    with pytest.raises(OpsError) as caught:
        health.health(None, dataclasses.replace(settings(), health_timeout=1.3), wait=True)
    assert time.monotonic() - started < 2.0
    assert caught.value.message == ("tasky-unit not healthy after 1.3s: the health command gave "
                                    "no answer within the HEALTHCHECK's 0.5s timeout")
