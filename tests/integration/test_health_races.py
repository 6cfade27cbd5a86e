"""Trust at 3 a.m., against the real engine: health verdicts that never say healthy while
Docker says unhealthy, a probe that outlives its timeout, a probe that flips; and two tasks
racing for one container name.

The health images are built FROM the offline runtime stand-in (no app, `sleep` as PID 1) with
a HEALTHCHECK of their own; containers carry our labels and the session's name prefix.
"""
import io
import json
import subprocess
import time

import pytest

from ops.engine import ownership
from ops.run import health
from ops.settings import config
from tests.integration.helpers import IMAGE

BASE = config.Settings().bases.offline_runtime   # tasky-ops/alpine:3.17.0-busybox


@pytest.fixture(scope="module")
def base(engine, inv):
    import docker

    try:
        engine.images.get(BASE)
    except docker.errors.ImageNotFound:
        proc = inv("bases")
        assert proc.returncode == 0, proc.output
    return BASE


def image_with(engine, base, tag, healthcheck):
    dockerfile = f'FROM {base}\nHEALTHCHECK {healthcheck}\nCMD ["sleep", "600"]\n'
    engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=f"{IMAGE}:{tag}", rm=True)
    return f"{IMAGE}:{tag}"


def start(engine, ref, name, cleanup):
    cleanup.append(name)
    return engine.containers.run(ref, name=name, detach=True,
                                 labels=ownership.for_container("app", IMAGE))


# --- a HEALTHCHECK that sleeps past its own timeout -------------------------------------

@pytest.mark.parametrize("interval, said", [
    # Docker's first probe is 30 s away: only the live probe can tell (the reported case).
    ("30s", ("the health command gave no answer within the HEALTHCHECK's 1s timeout",)),
    # Docker's own probes time out too and it says unhealthy within seconds.
    ("1s", ("docker says unhealthy",
            "the health command gave no answer within the HEALTHCHECK's 1s timeout"))])
def test_a_probe_past_its_timeout_is_never_healthy_and_the_wait_ends_on_time(
        inv, engine, base, container_cleanup, interval, said):
    ref = image_with(engine, base, f"it-health-hang-{interval}",
                     f"--interval={interval} --timeout=1s --retries=1 CMD sleep 40")
    name = f"{IMAGE}-hang-{interval}"
    start(engine, ref, name, container_cleanup)

    started = time.monotonic()
    proc = inv("health", "--name", name, "--wait", "--timeout", "5")
    took = time.monotonic() - started
    assert proc.returncode == 1, proc.output
    assert took < 7.5, took
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "not healthy after 5s" in errors[0], proc.stderr
    assert any(reason in errors[0] for reason in said), errors[0]
    assert "still waiting" in proc.stderr            # not silent while it waited
    assert "healthy" not in proc.stdout.replace("NOT healthy", "")

    # Without --wait: one probe, bounded by the HEALTHCHECK's 1 s; never healthy.
    started = time.monotonic()
    proc = inv("health", "--name", name, "--json")
    assert proc.returncode == 1 and time.monotonic() - started < 4, proc.output
    report = json.loads(proc.stdout)
    assert report["healthy"] is False and report["live_probe"]["timed_out"] is True
    print(f"hang, interval {interval}: --wait --timeout 5 took {took:.1f}s; "
          f"docker says {report['docker_status']}")


# --- a HEALTHCHECK that flips between pass and fail ---------------------------------------

FLIP = ("--interval=1s --timeout=2s --retries=1 "
        "CMD sh -c 'test $(( $(date +%s) / 2 % 2 )) -eq 0'")   # passes every other 2 s


def test_a_flipping_probe_is_never_called_healthy_while_docker_says_unhealthy(
        inv, engine, base, container_cleanup):
    ref = image_with(engine, base, "it-health-flip", FLIP)
    name = f"{IMAGE}-flip"
    container = start(engine, ref, name, container_cleanup)
    settings = config.Settings(container=name)
    seen = {"healthy": 0, "not": 0, "docker unhealthy, probe passed": 0}
    deadline = time.monotonic() + 14
    while time.monotonic() < deadline:
        report = health.health_report(container, settings)
        probe_ok = report["live_probe"]["ok"]
        if report["healthy"]:
            seen["healthy"] += 1
            assert report["docker_status"] != "unhealthy" and probe_ok, report
        else:
            seen["not"] += 1
        if probe_ok and report["docker_status"] == "unhealthy":
            seen["docker unhealthy, probe passed"] += 1
            assert not report["healthy"]
        time.sleep(0.1)
    assert seen["healthy"] and seen["not"], seen   # it did flip, and each side was seen

    # The same through `inv health`: exit 0 exactly when it says healthy, never with Docker
    # saying unhealthy.
    verdicts = []
    for _ in range(6):
        proc = inv("health", "--name", name, "--json")
        report = json.loads(proc.stdout)
        assert (proc.returncode == 0) is report["healthy"], proc.output
        if report["healthy"]:
            assert report["docker_status"] != "unhealthy"
        else:
            assert proc.stderr.count("error: ") == 1
        verdicts.append(report["healthy"])
    print(f"flip: in-process {seen}; inv health verdicts {verdicts}")


# --- races: one container name, two tasks -------------------------------------------------

def test_two_runs_on_one_name_at_once_exactly_one_wins_and_the_other_names_it(
        inv, engine, built, container_cleanup):
    name = f"{IMAGE}-race"
    container_cleanup.append(name)
    # An app that never answers its probe path keeps `inv run` in its start watch (and on the
    # name) for the whole grace, so the two runs surely overlap.
    env = {**inv.env, "INVOKE_TASKY_APP_PROBE_PATH": "/never-there",
           "INVOKE_TASKY_START_GRACE": "4"}
    procs = [subprocess.Popen(inv.command("run", "--name", name, "--port", "0"), cwd=inv.cwd,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    results = [(proc.pid, proc.wait(timeout=120), *proc.communicate()) for proc in procs]
    winners = [r for r in results if r[1] == 0]
    losers = [r for r in results if r[1] != 0]
    assert len(winners) == 1 and len(losers) == 1, results
    (winner_pid, _, _, _), (_, code, stdout, stderr) = winners[0], losers[0]
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert code == 1 and len(errors) == 1, stderr
    assert errors[0].startswith(f"error: container name {name} is in use by pid {winner_pid} "
                                "(inv run)"), errors[0]
    assert "RUNBOOK.md#name-in-use" in errors[0] and stdout == ""
    survivors = engine.containers.list(all=True, filters={"name": name})
    assert [c.status for c in survivors] == ["running"]   # the winner's, untouched


def test_a_second_dev_demo_or_run_on_the_name_of_a_running_dev_stops_at_once(
        inv, engine, built, container_cleanup, tmp_path):
    import shutil

    from tests.integration.helpers import ROOT
    from tests.integration.test_dev import Dev

    context = tmp_path / "app"
    shutil.copytree(ROOT / "app", context, ignore=shutil.ignore_patterns("vendor"))
    container_cleanup.append(inv.container)
    first = Dev(inv, context)
    try:
        assert first.next()["action"] == "started"
        serving = engine.containers.get(inv.container).id
        # (demo reads git first: it builds the project's own app, same container name)
        for argv, env in ((["dev", "--offline"], {"INVOKE_TASKY_CONTEXT": str(context)}),
                          (["demo"], {}), (["run"], {})):
            started = time.monotonic()
            proc = inv(*argv, env=env)
            errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
            assert proc.returncode == 1 and len(errors) == 1, proc.output
            assert f"is in use by pid {first.proc.pid} (inv dev)" in errors[0], errors[0]
            assert time.monotonic() - started < 10, argv    # at once: no build, no wait
            # The first loop's container is untouched: same one, still running.
            container = engine.containers.get(inv.container)
            assert (container.id, container.status) == (serving, "running"), argv
        assert first.interrupt() == 130
    finally:
        first.kill()
