"""Faults made real: signals to real `inv` processes, two `inv run` racing for one name, an
endpoint that accepts and never answers, a registry named in capitals, secret canaries."""
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.helpers import IMAGE, ROOT, free_port

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


def named(engine, name):
    """Ids of containers with exactly this name (the raw API: no inspect that can race)."""
    return [c["Id"] for c in engine.api.containers(all=True, filters={"name": f"^{name}$"})]


class Silent:
    """A TCP endpoint that accepts every connection and never sends a byte."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held, self.done = [], threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.done.is_set():
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                continue

    def close(self):
        self.done.set()
        for conn in self.held:
            conn.close()
        self.sock.close()


@pytest.fixture
def silent():
    endpoint = Silent()
    yield endpoint
    endpoint.close()


def start(inv, *args, env=None):
    return subprocess.Popen(inv.command(*args), cwd=ROOT, env={**inv.env, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(found, what, limit=60):
    """Poll until found() is truthy (a bound against a hang, not a timed assertion)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"{what} never happened")


def finish(proc):
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


# --- signals: the same clean-up for SIGINT, SIGTERM and SIGHUP -------------------------

@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_during_run_start_grace_removes_the_new_container(inv, engine, built, signum):
    name = f"{IMAGE}-sig-{uuid.uuid4().hex[:6]}"
    # A probe path the app never answers keeps `inv run` inside its start grace.
    proc = start(inv, "run", "--port", "0", "--name", name,
                 env={"INVOKE_TASKY_START_GRACE": "120",
                      "INVOKE_TASKY_APP_PROBE_PATH": "/never-answered"})
    wait_for(lambda: named(engine, name), "the container")
    time.sleep(0.5)   # inside the start grace, polling the app
    proc.send_signal(signum)
    code, _, err = finish(proc)
    assert code == 128 + signum, err
    assert "Traceback" not in err and f"interrupted ({signal.Signals(signum).name})" in err
    assert named(engine, name) == []


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_during_verify_removes_its_container(inv, engine, built, signum):
    def ours():
        return [c["Id"] for c in engine.api.containers(all=True, filters={
            "ancestor": f"{IMAGE}:latest", "label": "org.tasky-ops.role=verify"})]

    proc = start(inv, "verify")
    seen = wait_for(ours, "the verify container")
    proc.send_signal(signum)
    code, _, err = finish(proc)
    if code == 0:
        pytest.skip("verify finished before the signal arrived")
    assert code == 128 + signum, err
    assert "Traceback" not in err
    left = {c["Id"] for c in engine.api.containers(all=True)}
    assert not set(seen) & left


class StallingRegistry(Silent):
    """Answers 'no such manifest' at once (so the push starts) and then never answers."""

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.done.is_set():
            try:
                conn = self.sock.accept()[0]
            except OSError:
                continue
            self.held.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            request = conn.recv(65536).decode("latin-1")
        except OSError:
            return
        if request.startswith("HEAD ") and "/manifests/" in request:
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")


def test_sigterm_during_push_removes_the_local_registry_tag(inv, engine, built):
    stall = StallingRegistry()
    host = f"127.0.0.1:{stall.port}"
    repo = f"{IMAGE}-stall"
    try:
        proc = start(inv, "push", "--registry", "local", "--tag", "latest",
                     env={"INVOKE_TASKY_ECR_LOCAL_REGISTRY": host,
                          "INVOKE_TASKY_ECR_REPOSITORY": repo})
        tagged = f"{host}/{repo}:latest"
        wait_for(lambda: tagged in engine.images.get(f"{IMAGE}:latest").tags, "the local tag")
        proc.send_signal(signal.SIGTERM)
        code, _, err = finish(proc)
    finally:
        stall.close()
    assert code == 143, err
    assert "Traceback" not in err
    assert tagged not in engine.images.get(f"{IMAGE}:latest").tags


# --- ownership: two `inv run` racing for one name --------------------------------------

def test_two_concurrent_runs_the_loser_leaves_the_winners_container(inv, engine, built):
    name = f"{IMAGE}-race-{uuid.uuid4().hex[:6]}"
    procs = [start(inv, "run", "--port", "0", "--name", name, "--json") for _ in range(2)]
    results = [finish(proc) for proc in procs]
    try:
        codes = sorted(code for code, _, _ in results)
        assert codes == [0, 1], results
        winner = next(json.loads(out) for code, out, _ in results if code == 0)
        loser = next(err for code, _, err in results if code == 1)
        assert "Traceback" not in loser
        # Met while the winner still held the name (ops.engine.locks), or its container after.
        assert "RUNBOOK.md#name-taken" in loser or (
            "RUNBOOK.md#name-in-use" in loser and "(inv run)" in loser), loser
        running = engine.containers.get(name)
        assert running.short_id == winner["id"] and running.status == "running"
    finally:
        for container_id in named(engine, name):
            engine.api.remove_container(container_id, force=True)


def test_port_zero_reports_the_port_docker_picked_and_the_app_answers_there(inv, engine, built):
    import urllib.request

    name = f"{IMAGE}-zero-{uuid.uuid4().hex[:6]}"
    try:
        result = inv.json("run", "--port", "0", "--name", name)
        assert result["port"] not in (0, None)
        assert result["url"] == f"http://localhost:{result['port']}/"
        with urllib.request.urlopen(f"http://127.0.0.1:{result['port']}/", timeout=5) as answer:
            assert answer.status == 200
    finally:
        for container_id in named(engine, name):
            engine.api.remove_container(container_id, force=True)


# --- endpoints that accept and never answer ---------------------------------------------

def test_a_silent_ecr_endpoint_fails_with_progress_never_silently(inv, built, silent, tmp_path):
    endpoint = f"http://127.0.0.1:{silent.port}"
    env = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL_ECR": endpoint, "AWS_ENDPOINT_URL_STS": endpoint,
           "AWS_EC2_METADATA_DISABLED": "true", "HOME": str(tmp_path)}
    proc = inv("push", env=env, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "still waiting" in proc.stderr   # a person sees why nothing else happens
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("error: ")]
    assert "RUNBOOK.md#registry-unreachable" in line


def test_a_silent_registry_fails_the_push_and_leaves_no_tag(inv, engine, built, silent):
    host = f"127.0.0.1:{silent.port}"
    proc = inv("push", "--registry", "local", env={"INVOKE_TASKY_ECR_LOCAL_REGISTRY": host},
               timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "still waiting" in proc.stderr
    assert f"registry {host} is unreachable" in proc.stderr
    assert not [t for t in engine.images.get(f"{IMAGE}:latest").tags if t.startswith(host)]


def test_a_registry_named_in_capitals_is_the_local_one(inv, engine, built, tmp_path):
    from ops.registry import local_registry

    port = free_port()
    process = local_registry.serve(tmp_path, f"127.0.0.1:{port}")
    try:
        result = inv.json("push", "--registry", "local",
                          env={"INVOKE_TASKY_ECR_LOCAL_REGISTRY": f"LOCALHOST:{port}",
                               "INVOKE_TASKY_ECR_REPOSITORY": f"{IMAGE}-caps"})
        assert result["status"] == "pushed"
        assert result["registry"] == f"localhost:{port}"
    finally:
        process.kill()
        process.wait()


# --- secrets: canaries passed every supported way appear nowhere ------------------------

def test_secret_canaries_appear_in_no_output_file_or_image(inv, engine, built, tmp_path):
    run_id = uuid.uuid4().hex[:10]
    canaries = {name: f"canary-{name.lower()}-{run_id}" for name in (
        "JWT_SECRET", "FILE_TOKEN", "PROFILE_KEY", "URI_PASSWORD", "SHELL_SECRET",
        "AWS_SECRET", "AWS_SESSION", "BAD_ASSIGNMENT")}
    home = tmp_path / "home"
    home.mkdir()
    env_file = tmp_path / "app.env"
    env_file.write_text(f"FILE_TOKEN={canaries['FILE_TOKEN']}\n"
                        f"MONGODB_URI=mongodb://u:{canaries['URI_PASSWORD']}@db:27017/x\n")
    profile = tmp_path / "profile.env"
    profile.write_text(f"PROFILE_KEY={canaries['PROFILE_KEY']}\n")
    env = {"HOME": str(home), "SHELL_SECRET": canaries["SHELL_SECRET"],
           "AWS_SECRET_ACCESS_KEY": canaries["AWS_SECRET"],
           "AWS_SESSION_TOKEN": canaries["AWS_SESSION"], "AWS_ACCESS_KEY_ID": "AKIDCANARY",
           "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_ENDPOINT_URL_ECR": f"http://127.0.0.1:{free_port()}",
           "AWS_ENDPOINT_URL_STS": f"http://127.0.0.1:{free_port()}",
           "INVOKE_TASKY_APP_ENV_FILE": str(profile)}
    name = f"{IMAGE}-canary-{run_id}"
    given = ["-e", f"JWT_SECRET={canaries['JWT_SECRET']}", "-e", "SHELL_SECRET",
             "--env-file", str(env_file)]
    started = time.time()
    runs = [inv("run", *given, "--port", "0", "--name", name, "--json", env=env),
            inv("run", *given, "--port", "0", "--name", name, env=env),   # name taken
            inv("health", "--name", name, "--json", env=env),
            inv("logs", "--name", name, env=env),
            inv("verify", *given, "--json", env=env),
            inv("verify", *given, env=env),
            inv("run", "-e", f"DB_PASSWORD:{canaries['BAD_ASSIGNMENT']}", env=env),
            inv("push", "--json", env=env, timeout=120),
            inv("doctor", "--json", env=env, timeout=120)]
    container = engine.containers.get(name)
    try:
        assert runs[0].returncode == 0, runs[0].output
        assert container.attrs["Config"]["Env"]   # the values did reach the container
        history = json.dumps(engine.images.get(f"{IMAGE}:latest").history())
    finally:
        inv("stop", "--name", name, env=env)
    leaks = []
    for value in canaries.values():
        for index, proc in enumerate(runs):
            if value in proc.stdout or value in proc.stderr:
                leaks.append(f"{value} in the output of run {index}")
        if value in history:
            leaks.append(f"{value} in the image history")
    for folder in (home, Path("/tmp")):
        for path in files_changed_since(folder, started, skip={env_file, profile}):
            try:
                data = path.read_bytes()
            except OSError:
                continue
            leaks += [f"{value} in {path}" for value in canaries.values()
                      if value.encode() in data]
    assert leaks == []


def files_changed_since(folder, started, skip=()):
    for root, _, names in os.walk(folder):
        for file_name in names:
            path = Path(root) / file_name
            try:
                stat = path.stat()
            except OSError:
                continue
            if path not in skip and stat.st_mtime >= started and stat.st_size < 20_000_000 \
                    and path.is_file():
                yield path
