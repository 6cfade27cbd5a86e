"""`inv run`, `health`, `logs`, `stop`, `verify`: the container on the real engine."""
import io
import json
import socket
import urllib.request

import docker
import pytest

from tests.integration.helpers import IMAGE, SECRET_MARKERS, free_port

JWT, PASSWORD = SECRET_MARKERS


def test_run_health_logs_stop_never_show_secrets(inv, engine, built, container_cleanup):
    container_cleanup.append(inv.container)
    uri = f"mongodb://tasky:{PASSWORD}@mongo:27017/tasky"
    ran = inv("run", "-e", f"JWT_SECRET={JWT}", "-e", f"MONGODB_URI={uri}", "-e",
              "GREETING=hi-there", "-e", "TZ=UTC")
    assert ran.returncode == 0, ran.output
    assert "mongodb://tasky:****@mongo:27017/tasky" in ran.stdout
    # Only allow-listed names (tasky.app.public_env) show their values.
    assert "GREETING=****" in ran.stdout and "hi-there" not in ran.output
    assert "TZ=UTC" in ran.stdout

    health = inv("health", "--wait", "--json")
    assert health.returncode == 0, health.output
    report = json.loads(health.stdout)
    assert report["healthy"] is True and report["live_probe"]["exit_code"] == 0
    assert report["state"] == "running"
    assert (report["app"]["status"], report["app"]["version"]) == (200, built["version"])

    with urllib.request.urlopen(f"http://127.0.0.1:{inv.port}/healthz", timeout=5) as response:
        assert json.load(response)["version"] == built["version"]

    logs = inv("logs")
    assert logs.returncode == 0 and "listening on :8080" in logs.stdout
    for proc in (ran, health, logs):
        assert JWT not in proc.output and PASSWORD not in proc.output
    # The values did reach the app (so masking is not hiding an empty value).
    env = engine.containers.get(inv.container).attrs["Config"]["Env"]
    assert f"JWT_SECRET={JWT}" in env

    stopped = inv("stop")
    assert stopped.returncode == 0 and "removed" in stopped.stdout
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(inv.container)


def test_env_file_values_reach_the_app_and_stay_hidden(inv, engine, built, container_cleanup,
                                                       tmp_path):
    container_cleanup.append(inv.container)
    env_file = tmp_path / "tasky.env"
    env_file.write_text(f"# run settings\nJWT_SECRET={JWT}\n\nAPP_MODE=test\n")
    ran = inv("run", "--env-file", str(env_file))
    assert ran.returncode == 0, ran.output
    assert JWT not in ran.output and "JWT_SECRET=****" in ran.stdout
    assert "APP_MODE=test" in engine.containers.get(inv.container).attrs["Config"]["Env"]


def bindings(engine, name):
    ports = engine.containers.get(name).attrs["NetworkSettings"]["Ports"]["8080/tcp"]
    return sorted(binding["HostIp"] for binding in ports)


def test_published_on_loopback_by_default_and_everywhere_only_when_asked(
        inv, engine, built, container_cleanup):
    """gin in debug mode is no service for the network: --host-ip 0.0.0.0 is a choice."""
    container_cleanup.append(inv.container)
    assert inv("run").returncode == 0
    assert bindings(engine, inv.container) == ["127.0.0.1"]
    doctor = json.loads(inv("doctor", "--no-aws", "--json").stdout)
    port = {row["check"]: row for row in doctor["rows"]}["port"]
    assert "loopback only (127.0.0.1)" in port["detail"], port
    assert inv("stop").returncode == 0

    ran = inv("run", "--host-ip", "0.0.0.0")
    assert ran.returncode == 0, ran.output
    assert "0.0.0.0" in bindings(engine, inv.container)
    doctor = json.loads(inv("doctor", "--no-aws", "--json").stdout)
    port = {row["check"]: row for row in doctor["rows"]}["port"]
    assert "every interface" in port["detail"], port

    refused = inv("run", "--host-ip", "everywhere")
    assert refused.returncode == 1 and "--host-ip" in refused.stderr


def test_dev_mode_mounts_assets_read_only(inv, engine, built, container_cleanup):
    container_cleanup.append(inv.container)
    assert inv("run", "--dev").returncode == 0
    mounts = engine.containers.get(inv.container).attrs["Mounts"]
    assert [(m["Destination"], m["RW"]) for m in mounts] == [("/app/assets", False)]
    assert mounts[0]["Source"].endswith("/app/assets")


def test_crash_at_start_shows_the_log_not_the_password(inv, built, container_cleanup):
    container_cleanup.append(inv.container)
    proc = inv("run", "-e", f"MONGODB_URI=http://tasky:{PASSWORD}@mongo/tasky")
    assert proc.returncode == 1
    assert "exited at start with code 1" in proc.stderr
    assert "MONGODB_URI is invalid" in proc.stderr           # the app's own log line
    assert "RUNBOOK.md#container-wont-start" in proc.stderr
    assert PASSWORD not in proc.output and "Traceback" not in proc.output


def test_busy_port_names_the_process(inv, built, container_cleanup):
    port = free_port()
    with socket.socket() as listener:
        listener.bind(("0.0.0.0", port))
        listener.listen()
        proc = inv("run", "--port", str(port), "--name", f"{IMAGE}-busy")
    container_cleanup.append(f"{IMAGE}-busy")
    assert proc.returncode == 1
    assert f"port {port} is already in use by process PID" in proc.stderr
    assert "RUNBOOK.md#port-in-use" in proc.stderr


def test_busy_port_names_the_container(inv, engine, built, container_cleanup):
    container_cleanup.extend([inv.container, f"{IMAGE}-second"])
    assert inv("run").returncode == 0
    proc = inv("run", "--name", f"{IMAGE}-second")
    assert proc.returncode == 1
    assert f"in use by container {inv.container}" in proc.stderr
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(f"{IMAGE}-second")   # nothing half-made left behind


def test_taken_name_is_refused(inv, built, container_cleanup):
    container_cleanup.append(inv.container)
    assert inv("run").returncode == 0
    proc = inv("run", "--port", str(free_port()))
    assert proc.returncode == 1
    assert f"container name {inv.container} is taken by a tasky-ops container" in proc.stderr
    assert "RUNBOOK.md#name-taken" in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["-e", "=s3cr3t-xyz"], "malformed -e value '=...'"),
    (["-e", "NOT-A-KEY=s3cr3t-xyz"], "malformed -e value 'NOT-A-KEY=...'"),
    (["--env-file", "/nonexistent/tasky.env"], "cannot read env file /nonexistent/tasky.env"),
])
def test_bad_env_input_is_one_clear_line(inv, built, args, message):
    proc = inv("run", *args)
    assert proc.returncode == 1
    assert message in proc.stderr and "RUNBOOK.md#bad-env" in proc.stderr
    assert "s3cr3t-xyz" not in proc.output and "Traceback" not in proc.output


def test_health_without_container_says_how_to_start_one(inv, engine):
    proc = inv("health", "--name", f"{IMAGE}-absent")
    assert proc.returncode == 1
    assert f"no container named {IMAGE}-absent" in proc.stderr and "inv run" in proc.stderr


def test_health_wait_fails_with_probe_output(inv, engine, built, container_cleanup):
    # A container whose probe can never pass: the app is not running in it.
    name = f"{IMAGE}-sleeper"
    container_cleanup.append(name)
    engine.containers.run(f"{IMAGE}:latest", entrypoint=["sleep", "300"], name=name, detach=True)
    proc = inv("health", "--name", name, "--wait", "--timeout", "1")
    assert proc.returncode == 1
    assert "not healthy after 1s" in proc.stderr
    assert "probe: " in proc.stderr and "Connection refused" in proc.stderr
    assert "RUNBOOK.md#health-check-failing" in proc.stderr


def test_image_without_healthcheck_is_judged_by_the_app_itself(inv, engine, built,
                                                               container_cleanup):
    container_cleanup.append(inv.container)
    engine.images.build(fileobj=io.BytesIO(
        f"FROM {IMAGE}:latest\nHEALTHCHECK NONE\n".encode()), tag=f"{IMAGE}:it-nocheck", rm=True)
    assert inv("run", "--tag", "it-nocheck").returncode == 0
    proc = inv("health", "--wait", "--json")
    assert proc.returncode == 0, proc.output
    report = json.loads(proc.stdout)
    assert report["live_probe"]["output"] == "the image declares no HEALTHCHECK"
    assert report["app"]["status"] == 200 and report["healthy"] is True
