"""The polls that go through ops/core/waiting.wait_until, each with what it used to return and
say: run's start watch, health --wait (bounded in all, probes included), verify's wait for
Docker's verdict, the local registry's start and setup's wait for dockerd."""
import time

import pytest

from ops.core.errors import OpsError
from ops.settings.config import App, Settings


class Exec:
    def __init__(self, exit_code, output=b""):
        self.exit_code, self.output = exit_code, output


class Image:
    attrs, labels = {"Config": {"Env": []}}, {}


class Container:
    """A container whose State goes through `states`, one per reload, the last one staying;
    its HEALTHCHECK (when `probes` is given) exits with each of `probes` in turn, the last
    one staying, and takes `seconds` to."""

    name = "tasky-unit"
    image = Image()

    def __init__(self, *states, probes=(), seconds=0.0, timeout_ns=0):
        self.states, self.reloads = list(states), 0
        self.probes, self.execs, self.seconds = list(probes), 0, seconds
        check = {"Test": ["CMD", "probe"], "Timeout": timeout_ns} if probes else {}
        self.config = {"Healthcheck": check, "Env": []}
        self.attrs = self._attrs(self.states[0])

    def _attrs(self, state):
        return {"State": state, "Config": self.config, "NetworkSettings": {"Ports": {}}}

    @property
    def status(self):
        return self.attrs["State"]["Status"]

    def reload(self):
        self.attrs = self._attrs(self.states[min(self.reloads, len(self.states) - 1)])
        self.reloads += 1

    def exec_run(self, command, demux=False):
        code = self.probes[min(self.execs, len(self.probes) - 1)]
        self.execs += 1
        time.sleep(self.seconds)
        return Exec(code)


def running(health=None):
    return {"Status": "running", "ExitCode": 0, **({"Health": {"Status": health}}
                                                   if health else {})}


EXITED = {"Status": "exited", "ExitCode": 3, "OOMKilled": False}


# --- verify: Docker's own verdict and the live probe, through the one rule ----------------

def test_verify_waits_through_starting_for_the_verdict():
    from ops.gates.verify import wait_healthy

    container = Container(running("starting"), running("starting"), running("healthy"),
                          probes=[0])
    assert wait_healthy(container, Settings(), timeout=10) == (True, "healthy")
    assert container.execs == 2   # one live probe per poll; the second saw Docker say healthy


@pytest.mark.parametrize("state, probes, said", [
    (running("unhealthy"), [0], "docker says unhealthy"),
    (running(), [], "no HEALTHCHECK"),
    (EXITED, [0], "container is exited")])
def test_verify_ends_at_the_first_final_answer(state, probes, said):
    from ops.gates.verify import wait_healthy

    started = time.monotonic()
    assert wait_healthy(Container(state, probes=probes), Settings(), timeout=10) == (False, said)
    assert time.monotonic() - started < 2


def test_verify_says_why_when_the_timeout_passes_first():
    from ops.gates.verify import wait_healthy

    started = time.monotonic()
    assert wait_healthy(Container(running("starting"), probes=[0]), Settings(),
                        timeout=0.3) == (False, "docker says starting")
    assert time.monotonic() - started < 2


def test_verify_never_takes_dockers_healthy_over_a_failing_live_probe():
    from ops.gates.verify import wait_healthy

    assert wait_healthy(Container(running("healthy"), probes=[1]), Settings(),
                        timeout=0.3) == (False, "the health command exited 1")


def test_verify_counts_a_probe_past_the_healthchecks_timeout_as_failed():
    from ops.gates.verify import wait_healthy

    started = time.monotonic()
    healthy, why = wait_healthy(Container(running("healthy"), probes=[0], seconds=1.0,
                                          timeout_ns=200_000_000), Settings(), timeout=0.7)
    assert not healthy and why.startswith("the health command gave no answer within")
    assert time.monotonic() - started < 1.5


# --- run: the start watch -----------------------------------------------------------------

def settings_for_run(grace=10.0, probe_path="/"):
    return Settings(start_grace=grace, app=App(probe_path=probe_path))


def test_run_returns_the_first_answer_of_the_app(monkeypatch):
    from ops.run import app_probe, containers

    answers = iter([{"status": None, "error": "refused"}, {"status": 200, "url": "u"}])
    monkeypatch.setattr(app_probe, "http_health", lambda port, path, timeout: next(answers))
    assert containers._watch_start(Container(running()), settings_for_run(), 8080) == {
        "status": 200, "url": "u"}


def test_run_returns_the_last_probe_when_the_grace_passes(monkeypatch):
    from ops.run import app_probe, containers

    refused = {"status": None, "error": "connection refused"}
    monkeypatch.setattr(app_probe, "http_health", lambda port, path, timeout: refused)
    assert containers._watch_start(Container(running()), settings_for_run(0.3), 8080) == refused


def test_run_without_a_probe_path_trusts_the_images_healthcheck(monkeypatch):
    from ops.run import app_probe, containers

    verdicts = iter([{"ok": False}, {"ok": True}])
    monkeypatch.setattr(app_probe, "probe", lambda container: next(verdicts))
    assert containers._watch_start(Container(running()), settings_for_run(probe_path=""),
                                   8080) == {"status": "healthcheck", "url": None}
    monkeypatch.setattr(app_probe, "probe", lambda container: {"ok": None})
    assert containers._watch_start(Container(running()), settings_for_run(probe_path=""),
                                   8080) == {}


def test_run_fails_with_the_logs_when_the_app_exits_at_start(monkeypatch):
    from ops.run import containers

    monkeypatch.setattr(containers, "tail_logs", lambda container, settings: ["JWT_SECRET?"])
    with pytest.raises(OpsError) as caught:
        containers._watch_start(Container(running(), EXITED), settings_for_run(), 8080)
    assert "exited at start with code 3" in caught.value.message
    assert caught.value.details == ["JWT_SECRET?"]


# --- health --wait --------------------------------------------------------------------------

def report(healthy, state="running", exit_code=1):
    from ops.run.health import verdict

    found = {"container": "tasky-unit", "state": state, "docker_status": "starting",
             "live_probe": {"ok": healthy, "exit_code": exit_code, "output": "curl: refused"}}
    found["healthy"], found["why"] = verdict(found)
    return found


@pytest.fixture
def health_of(monkeypatch):
    """health.health on a fake container whose reports come from `reports()`."""
    from ops.run import containers, health

    monkeypatch.setattr(containers, "get", lambda engine, name: Container(running()))
    monkeypatch.setattr(containers, "tail_logs", lambda container, settings: ["last log"])

    def run(reports, timeout=10.0, wait=True):
        monkeypatch.setattr(health, "health_report", lambda container, settings, **_: reports())
        return health.health(None, Settings(health_timeout=timeout), wait=wait)
    return run


def test_health_wait_returns_the_first_healthy_report_with_its_seconds(health_of):
    answers = iter([report(False), report(False), report(True)])
    found = health_of(lambda: next(answers))
    assert found["healthy"] and isinstance(found["seconds"], float)


def test_health_without_wait_returns_one_report_healthy_or_not(health_of):
    assert health_of(lambda: report(False), wait=False)["healthy"] is False


def test_health_wait_fails_at_once_when_the_container_stopped(health_of):
    with pytest.raises(OpsError) as caught:
        health_of(lambda: report(False, state="exited"))
    assert caught.value.message == "container tasky-unit is exited, not running"
    assert caught.value.details == ["last log"]


def test_health_wait_times_out_with_the_probes_exit_code_and_output(health_of):
    with pytest.raises(OpsError) as caught:
        health_of(lambda: report(False, exit_code=7), timeout=0.3)
    assert caught.value.message == ("tasky-unit not healthy after 0.3s: the health command "
                                    "exited 7")
    assert caught.value.details == ["probe: curl: refused", "last log"]


def test_health_wait_is_bounded_by_its_timeout_even_when_a_probe_hangs(health_of):
    def hangs():
        time.sleep(5)
        return report(True)

    started = time.monotonic()
    with pytest.raises(OpsError) as caught:
        health_of(hangs, timeout=0.5)
    assert time.monotonic() - started < 1.5
    assert caught.value.message == "tasky-unit not healthy after 0.5s: no probe finished in " \
                                   "that time"


def test_a_failing_probe_is_raised_not_taken_for_a_hang(health_of):
    def broken():
        raise OpsError("the Docker engine refused the request")

    with pytest.raises(OpsError, match="refused the request"):
        health_of(broken)


# --- the local registry and dockerd --------------------------------------------------------

class Process:
    pid = 4242

    def __init__(self, exits=False):
        self.exits, self.killed = exits, False

    def poll(self):
        return 1 if self.exits else None

    def kill(self):
        self.killed = True


@pytest.fixture
def registry(monkeypatch, tmp_path):
    from ops.registry import local_registry

    process = Process()
    monkeypatch.setattr(local_registry.subprocess, "Popen", lambda *a, **k: process)
    monkeypatch.setattr(local_registry, "START_SECONDS", 0.3)
    return local_registry, process, tmp_path


def test_the_registry_is_returned_once_it_answers(registry, monkeypatch):
    local_registry, process, folder = registry
    answers = iter([False, True])
    monkeypatch.setattr(local_registry, "answering", lambda addr: next(answers))
    assert local_registry.serve(folder, "127.0.0.1:5999") is process and not process.killed


def test_a_registry_that_never_answers_is_killed(registry, monkeypatch):
    local_registry, process, folder = registry
    monkeypatch.setattr(local_registry, "answering", lambda addr: False)
    with pytest.raises(OpsError, match="did not answer on 127.0.0.1:5999 within 0.3s"):
        local_registry.serve(folder, "127.0.0.1:5999")
    assert process.killed


def test_a_registry_that_exits_at_start_is_said_at_once(registry, monkeypatch):
    local_registry, process, folder = registry
    process.exits = True
    with pytest.raises(OpsError, match="exited at start"):
        local_registry.serve(folder, "127.0.0.1:5999")


def test_ctrl_c_while_the_registry_starts_does_not_leave_it_running(registry, monkeypatch):
    local_registry, process, folder = registry

    def interrupted(addr):
        raise KeyboardInterrupt

    monkeypatch.setattr(local_registry, "answering", interrupted)
    with pytest.raises(KeyboardInterrupt):
        local_registry.serve(folder, "127.0.0.1:5999")
    assert process.killed


@pytest.fixture
def dockerd(monkeypatch):
    from ops.engine import install

    monkeypatch.setattr(install.os, "geteuid", lambda: 0)
    monkeypatch.setattr(install, "has_systemd", lambda: True)
    monkeypatch.setattr(install.subprocess, "run", lambda *a, **k: None)
    return install


def test_setup_returns_how_it_started_the_engine_once_it_answers(dockerd, monkeypatch):
    answers = iter([False, False, True])
    monkeypatch.setattr(dockerd, "answers", lambda: next(answers))
    assert dockerd.start_engine([].append, wait=10) == "systemctl start docker"


def test_setup_says_when_the_engine_never_answers(dockerd, monkeypatch):
    monkeypatch.setattr(dockerd, "answers", lambda: False)
    with pytest.raises(OpsError, match=r"did not answer within 0.3s"):
        dockerd.start_engine([].append, wait=0.3)

