"""`inv doctor` against real failures: dead and missing daemon sockets, a real unprivileged
user, real listeners, real containers, a Go module with a dependency, the moto AWS server
and a second dockerd that doctor --fix starts. Each test reads what a user would: the
row's status, the verdict and the command the fix names."""
import grp
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from importlib import metadata
from pathlib import Path

import docker
import pytest

from ops.doctor.inputs import parse_requirements
from ops.engine import ownership
from tests.integration.helpers import IMAGE, ROOT, RUN_ID, SECRET_MARKERS, project_ledger
from tests.integration.stand_ins import Moto

_, PASSWORD = SECRET_MARKERS
SYSTEM_PYTHON = "/usr/bin/python3"


def run_doctor(inv, *args, env=None, without=(), prefix=()):
    """`inv doctor --json ARGS` as a user runs it: (result, rows by check, the process).

    without drops variables starting with these prefixes; prefix runs the command
    through another one (runuser) with another Python."""
    full = {k: v for k, v in inv.env.items() if not any(k.startswith(p) for p in without)}
    full.update(env or {})
    command = [*prefix, SYSTEM_PYTHON, "-m", "invoke"] if prefix else inv.command()
    proc = subprocess.run([*command, "doctor", "--json", *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=180)
    assert proc.stdout.startswith("{"), proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    # The exit code is the verdict: 0 when nothing fails.
    assert proc.returncode == (0 if result["ok"] else 1), proc.stderr
    proc.output = proc.stdout + proc.stderr
    return result, {r["check"]: r for r in result["rows"]}, proc


def table_of(inv, *args, env=None):
    proc = inv("doctor", *args, env=env, timeout=180)
    return proc.output


# --- a healthy machine ------------------------------------------------------------------

def test_healthy_machine_answers_ok_in_under_a_second_and_a_half(inv, engine):
    result, rows, _ = run_doctor(inv, "--no-aws")
    failing = [r for r in result["rows"] if r["status"] == "fail"]
    assert result["ok"] and not failing, failing
    assert rows["daemon"]["status"] == "ok" and "Engine" in rows["daemon"]["detail"]
    assert rows["port"]["status"] == "ok" and rows["container"]["status"] == "skip"
    assert rows["AWS"]["detail"] == "--no-aws"
    assert result["seconds"]["local"] < 1.5, result["seconds"]
    text = table_of(inv, "--no-aws")
    assert text.splitlines()[-1].startswith("verdict: OK")
    assert re.search(r"^docker\s+daemon\s+ok\s", text, re.M)


# --- the daemon -------------------------------------------------------------------------

@pytest.fixture
def dead_socket():
    """A unix socket file nothing listens on: what a crashed daemon leaves behind."""
    folder = tempfile.mkdtemp(prefix="tdoc-")
    path = os.path.join(folder, "docker.sock")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(path)
    yield path
    shutil.rmtree(folder)


@pytest.mark.parametrize("kind", ["missing", "dead"])
def test_daemon_not_running_is_told_apart_from_a_missing_socket(inv, dead_socket, kind):
    path = dead_socket if kind == "dead" else f"/tmp/tdoc-{RUN_ID}-none/docker.sock"
    env = {"DOCKER_HOST": f"unix://{path}"}
    result, rows, _ = run_doctor(inv, "--no-aws", env=env)
    daemon = rows["daemon"]
    assert not result["ok"] and result["verdict"].startswith("FAIL")
    assert daemon["status"] == "fail" and daemon["anchor"] == "docker-daemon-not-running"
    said = "nothing listens on" if kind == "dead" else "no socket at"
    assert daemon["detail"].startswith(f"{said} {path}")
    assert "the Docker daemon is not running" in daemon["detail"]
    assert daemon["fix"].startswith("unset DOCKER_HOST")
    assert daemon["autofix"] == "start-daemon"   # root, dockerd installed
    for check in ("disk", "base images", "container"):
        assert rows[check]["status"] == "skip"
    text = table_of(inv, "--no-aws", env=env)
    assert re.search(r"^docker\s+daemon\s+FAIL\s", text, re.M)
    assert "See RUNBOOK.md#docker-daemon-not-running" in " ".join(text.split())
    assert text.splitlines()[-1].startswith("verdict: FAIL")


# --- permissions, as a real unprivileged user -------------------------------------------

def copy_distributions(names, target):
    """Copy installed distributions and what they require into target (as pip --target
    would): root's Python lives under /root, which other users cannot enter."""
    todo, done = list(names), set()
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in done:
            continue
        done.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for file in dist.files or []:
            source = Path(dist.locate_file(file))
            if ".." in file.parts or "__pycache__" in file.parts or not source.is_file():
                continue
            (target / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target / file)
        todo += [re.match(r"[A-Za-z0-9._-]+", r).group() for r in dist.requires or []
                 if "extra ==" not in r]


@pytest.fixture(scope="module")
def site_packages():
    """The project's requirements, readable by any user, for the system Python."""
    target = Path(tempfile.mkdtemp(prefix="tdoc-site-"))
    target.chmod(0o755)
    wanted = [name for name, _ in parse_requirements((ROOT / "requirements.txt").read_text())]
    copy_distributions(wanted, target)
    for folder in [target, *(p for p in target.rglob("*") if p.is_dir())]:
        folder.chmod(0o755)
    yield str(target)
    shutil.rmtree(target)


@pytest.fixture
def user():
    """A real unprivileged user with no home, removed (with its group memberships) after."""
    name = f"tasky-doc-{uuid.uuid4().hex[:6]}"
    subprocess.run(["useradd", "-M", "-s", "/bin/sh", name], check=True)
    yield name
    subprocess.run(["userdel", name], check=True)


def socket_group():
    path = (os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock")[len("unix://"):]
    return path, grp.getgrgid(os.stat(path).st_gid).gr_name


def socket_owner_and_mode(path):
    info = os.stat(path)
    return pwd.getpwuid(info.st_uid).pw_name, f"{stat.S_IMODE(info.st_mode):04o}"


def test_permission_denied_then_in_etc_group_but_not_this_session_then_fresh_login(
        inv, engine, user, site_packages):
    path, group = socket_group()
    assert group != "root", "the daemon socket must belong to a group (docker) for this test"
    owner, mode = socket_owner_and_mode(path)
    as_user = {"prefix": ["runuser", "-u", user, "--"], "env": {"PYTHONPATH": site_packages}}

    _, rows, proc = run_doctor(inv, "--no-aws", **as_user)
    daemon = rows["daemon"]
    assert daemon["status"] == "fail" and daemon["anchor"] == "permission-denied"
    assert (f"permission denied on {path} (owner {owner}, group {group}, mode {mode}) for user "
            f"{user}: {user} is not in group {group}") == daemon["detail"]
    assert daemon["fix"].startswith(f"sudo usermod -aG {group} $USER, then log out and back in")
    assert "root-equivalent" in daemon["fix"]
    assert rows["packages"]["status"] == "ok", rows["packages"]   # the user's own Python

    # A session that began before the group change keeps its old groups.
    stale = subprocess.Popen(
        ["runuser", "-u", user, "--", "/bin/sh", "-c",
         f"echo ready; read go; exec {SYSTEM_PYTHON} -m invoke doctor --json --no-aws"],
        cwd=ROOT, env={**inv.env, "PYTHONPATH": site_packages}, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert stale.stdout.readline().strip() == "ready"
        subprocess.run(["gpasswd", "-a", user, group], check=True, capture_output=True)
        out, err = stale.communicate("go\n", timeout=120)
    finally:
        if stale.poll() is None:
            stale.kill()
    daemon = {r["check"]: r for r in json.loads(out)["rows"]}["daemon"]
    assert daemon["status"] == "fail", err
    assert f"{user} is in group {group} in /etc/group, but not in this session" in daemon["detail"]
    assert "log out and back in" in daemon["fix"] and f"newgrp {group}" in daemon["fix"]

    # A fresh login (runuser reads the groups again) reaches the daemon.
    _, rows, _ = run_doctor(inv, "--no-aws", **as_user)
    assert rows["daemon"]["status"] == "ok", rows["daemon"]


def test_fix_adds_the_user_who_ran_sudo_to_the_docker_group(inv, engine, user):
    _, group = socket_group()
    _, rows, _ = run_doctor(inv, "--no-aws", env={"SUDO_USER": user})
    checked = rows["docker group"]
    assert checked["status"] == "warn" and checked["autofix"] == "docker-group"
    assert checked["fix"].startswith(f"sudo usermod -aG {group} {user}")

    result, rows, _ = run_doctor(inv, "--no-aws", "--fix", env={"SUDO_USER": user})
    assert [f["fix"] for f in result["fixed"]] == ["docker-group"]
    assert result["fixed"][0]["result"].startswith(f"added {user} to group {group}")
    assert rows["docker group"]["status"] == "ok"
    assert user in grp.getgrnam(group).gr_mem


# --- the port ---------------------------------------------------------------------------

def test_port_held_by_a_process_names_it(inv, engine):
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", inv.port))
        listener.listen()
        result, rows, _ = run_doctor(inv, "--no-aws")
    port = rows["port"]
    assert not result["ok"] and port["status"] == "fail" and port["anchor"] == "port-in-use"
    assert f"held by process PID {os.getpid()} " in port["detail"]
    assert port["fix"] == f"stop that process, or run elsewhere: inv run --port {inv.port + 1}"


def test_port_held_by_another_container_of_ours_and_then_the_app_itself(
        inv, engine, built, container_cleanup):
    holder = f"{IMAGE}-holder"
    container_cleanup.append(holder)
    ran = inv("run", "--name", holder, "-e", "JWT_SECRET=" + "j" * 40)
    assert ran.returncode == 0, ran.output

    result, rows, _ = run_doctor(inv, "--no-aws")
    assert not result["ok"] and rows["port"]["status"] == "fail"
    assert f"container {holder} (" in rows["port"]["detail"]
    assert "started by tasky-ops" in rows["port"]["detail"]
    assert rows["port"]["fix"].startswith(f"inv stop --name {holder}")

    # Seen as the app it is: port, container, health and variables all fine.
    result, rows, _ = run_doctor(inv, "--no-aws", env={"INVOKE_TASKY_CONTAINER": holder})
    assert result["ok"], result["verdict"]
    assert rows["port"]["detail"] == (f"{inv.port} is published by our container {holder} on "
                                      "loopback only (127.0.0.1): this machine alone reaches it")
    assert rows["container"]["status"] == "ok" and "running" in rows["container"]["detail"]
    assert rows["health"]["status"] == "ok" and "live probe passed" in rows["health"]["detail"]
    assert rows["JWT_SECRET"]["detail"].endswith(f"set in container {holder}")
    assert "j" * 40 not in json.dumps(result)


# --- the container ----------------------------------------------------------------------

def test_container_that_exits_at_start_shows_its_log_and_cause_never_the_password(
        inv, engine, built, container_cleanup):
    container_cleanup.append(inv.container)
    ran = inv("run", "-e", f"MONGODB_URI=http://tasky:{PASSWORD}@mongo/tasky")
    assert ran.returncode == 1, ran.output

    result, rows, proc = run_doctor(inv, "--no-aws")
    found = rows["container"]
    assert not result["ok"] and found["status"] == "fail"
    assert found["anchor"] == "container-wont-start"
    assert found["detail"].startswith(f"{inv.container} exited (exit code 1")
    assert "likely cause: an invalid or missing MONGODB_URI" in found["detail"]
    assert "MONGODB_URI is invalid" in found["detail"]          # the app's own log line
    assert "inv run -e MONGODB_URI=" in found["fix"]
    assert found["autofix"] == "remove-stale-container"
    text = table_of(inv, "--no-aws")
    assert "likely cause: an invalid or missing MONGODB_URI" in " ".join(text.split())
    assert PASSWORD not in proc.output and PASSWORD not in text

    # --fix removes the stopped container of ours that holds the name, and says so.
    result, rows, proc = run_doctor(inv, "--no-aws", "--fix")
    assert [f["fix"] for f in result["fixed"]] == ["remove-stale-container"]
    assert result["fixed"][0]["result"].startswith(
        f"removed the stopped container {inv.container} (exit code 1)")
    assert rows["container"]["status"] == "skip"
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(inv.container)
    assert PASSWORD not in proc.output


def test_health_probe_failing_runs_the_probe_live_and_names_the_fix(
        inv, engine, built, container_cleanup):
    container_cleanup.append(inv.container)
    started = engine.containers.run(f"{IMAGE}:latest", entrypoint=["sleep", "300"],
                                    name=inv.container, detach=True,
                                    labels=ownership.for_container("app", IMAGE))
    # Started as tasky-ops starts one: recorded as this checkout's (labels prove nothing).
    project_ledger().record("container", [started.id], role="app", image=IMAGE)
    result, rows, _ = run_doctor(inv, "--no-aws")
    assert rows["container"]["status"] == "ok"        # running, no restarts
    checked = rows["health"]
    assert not result["ok"] and checked["status"] == "fail"
    assert checked["anchor"] == "health-check-failing"
    assert "live probe (the image's HEALTHCHECK via docker exec) exited 1" in checked["detail"]
    assert "Connection refused" in checked["detail"] or "can't connect" in checked["detail"]
    assert "docker says starting" in checked["detail"]
    assert checked["fix"].startswith(f"inv logs --name {inv.container}")


# --- Go modules -------------------------------------------------------------------------

def test_goproxy_off_with_a_dependency_and_no_vendor_directory(inv, engine, tmp_path):
    module = tmp_path / "app"
    module.mkdir()
    (module / "go.mod").write_text("module example.com/app\n\ngo 1.19\n\n"
                                   "require golang.org/x/text v0.14.0\n")
    (module / "main.go").write_text('package main\n\nimport _ "golang.org/x/text/language"\n\n'
                                    "func main() {}\n")
    env = {"GOPROXY": "off", "INVOKE_TASKY_CONTEXT": str(module)}
    result, rows, _ = run_doctor(inv, "--no-aws", env=env)
    checked = rows["go modules"]
    assert not result["ok"] and checked["status"] == "fail"
    assert "golang.org/x/text and GOPROXY=off (this shell)" in checked["detail"]
    assert "module lookup disabled by GOPROXY=off" in checked["detail"]
    assert checked["fix"].startswith("vendor them where they can be fetched: inv vendor (or "
                                     f"cd {module} && go mod vendor)")
    assert checked["anchor"] == "go-modules-offline"

    vendor = module / "vendor"
    vendor.mkdir()
    (vendor / "modules.txt").write_text("# golang.org/x/text v0.14.0\n## explicit\n")
    _, rows, _ = run_doctor(inv, "--no-aws", env=env)
    assert rows["go modules"]["status"] == "ok", rows["go modules"]


def test_rows_about_the_app_read_its_repository_and_its_env_file(inv, tmp_path):
    """The app in a repository of its own, at another SHA, with a change: doctor's git row
    names that repository's state (the build's tag), and the variables rows its own .env."""
    fixture = ROOT / "tests" / "fixtures" / "thirdparty-app"
    repo = tmp_path / "repo"
    shutil.copytree(fixture, repo)

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                               "user.email=t@t", "-c", "commit.gpgsign=false", *args],
                              check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "the user's app")
    (repo / "main.go").write_text((repo / "main.go").read_text() + "// changed\n")
    short = git("rev-parse", "--short", "HEAD")
    ours = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    _, rows, proc = run_doctor(inv, "--no-aws", env={"INVOKE_TASKY_CONTEXT": str(repo)})
    assert rows["git"]["status"] == "warn" and rows["git"]["anchor"] == "dirty-tag"
    assert rows["git"]["detail"].startswith(f"{short} with uncommitted changes: images built "
                                            f"now are tagged {short}-dirty")
    assert ours not in rows["git"]["detail"]
    for name in ("MONGODB_URI", "SECRET_KEY"):    # the fixture's .env sets both
        assert rows[name]["status"] == "ok"
        assert rows[name]["detail"].startswith(f"set in {repo / '.env'}"), rows[name]
    assert "fixture-db-pw-2f9c1e" not in proc.output


# --- AWS, against the moto server -------------------------------------------------------

@pytest.fixture(scope="module")
def moto():
    server = Moto().start()
    yield server
    server.stop()


def aws_rows(rows):
    return {name: r for name, r in rows.items() if r["area"] == "aws"}


def test_aws_without_credentials_fails_the_credentials_row_only(inv, tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("")
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(empty), "AWS_CONFIG_FILE": str(empty),
           "AWS_EC2_METADATA_DISABLED": "true", "HOME": str(tmp_path)}
    result, rows, _ = run_doctor(inv, env=env, without=("AWS_",))
    aws = aws_rows(rows)
    assert aws["credentials"]["status"] == "fail"
    assert aws["credentials"]["detail"].startswith("no AWS credentials found")
    assert "aws configure" in aws["credentials"]["fix"]
    assert aws["credentials"]["anchor"] == "aws-credentials"
    assert aws["ECR repository"]["status"] == aws["ECR token"]["status"] == "skip"
    assert not result["ok"] and "inv doctor --no-aws" in result["verdict"]


def test_aws_with_credentials_and_without_then_with_the_repository(inv, moto, tmp_path):
    import boto3

    secret = f"secret-{RUN_ID}"
    env = {**moto.env(tmp_path, secret), "INVOKE_TASKY_ECR_REPOSITORY": f"tasky-doc-{RUN_ID}"}
    result, rows, proc = run_doctor(inv, env=env, without=("AWS_",))
    aws = aws_rows(rows)
    assert aws["credentials"]["status"] == "ok"
    assert aws["credentials"]["detail"].startswith("account 123456789012, arn:aws:")
    assert aws["region"]["detail"] == "us-east-1 (AWS_DEFAULT_REGION)"
    assert aws["ECR repository"]["status"] == "fail"
    assert aws["ECR repository"]["anchor"] == "ecr-repository-missing"
    assert "inv push --create-repo" in aws["ECR repository"]["fix"]
    assert aws["ECR token"]["status"] == "ok"
    assert result["seconds"]["aws"] < 10
    assert secret not in proc.output and "test-access-key-id" not in proc.output

    boto3.client("ecr", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{moto.port}",
                 aws_access_key_id="test-access-key-id", aws_secret_access_key=secret
                 ).create_repository(repositoryName=f"tasky-doc-{RUN_ID}")
    result, rows, proc = run_doctor(inv, env=env, without=("AWS_",))
    aws = aws_rows(rows)
    assert [r["status"] for r in aws.values()] == ["ok"] * 4, aws
    assert aws["ECR repository"]["detail"].startswith(
        f"123456789012.dkr.ecr.us-east-1.amazonaws.com/tasky-doc-{RUN_ID}")
    assert secret not in proc.output


# --- --fix with a second daemon: start it, build the bases ------------------------------

def answers(sock):
    try:
        return docker.DockerClient(base_url=f"unix://{sock}", timeout=5).ping()
    except docker.errors.DockerException:
        return False


def stop_daemon(home):
    """SIGTERM the daemon whose pid file is in home (whoever started it); wait for it."""
    pidfile = home / "dockerd.pid"
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text().strip())
    os.kill(pid, signal.SIGTERM)
    for _ in range(200):
        if not Path(f"/proc/{pid}").exists() or "zombie" in _proc_state(pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def _proc_state(pid):
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


@pytest.fixture
def second_daemon():
    """A dockerd of the test's own: socket, data root, exec root and pid file in one tmp
    folder, in a network namespace of its own (on the host's network it would take over,
    or with --bridge none delete, the system daemon's docker0); stopped and removed after,
    whoever started it."""
    home = Path(tempfile.mkdtemp(prefix="tdoc-d-"))
    sock = home / "docker.sock"
    with open(home / "test-dockerd.log", "wb") as log:
        first = subprocess.Popen(
            ["unshare", "--net", "--", "dockerd", "--host", f"unix://{sock}",
             "--data-root", str(home / "data-root"), "--exec-root", str(home / "exec-root"),
             "--pidfile", str(home / "dockerd.pid"), "--iptables=false"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while not answers(sock):
        assert time.monotonic() < deadline and first.poll() is None, \
            (home / "test-dockerd.log").read_text()[-2000:]
        time.sleep(0.2)
    yield home, sock, first
    stop_daemon(home)
    first.wait(timeout=30)
    for line in reversed(Path("/proc/mounts").read_text().splitlines()):
        if str(home) in line.split()[1]:
            subprocess.run(["umount", line.split()[1]], capture_output=True)
    shutil.rmtree(home)


def host_bridge():
    """The system daemon's docker0 interface index, or None when there is none."""
    path = Path("/sys/class/net/docker0/ifindex")
    return path.read_text().strip() if path.exists() else None


def test_fix_starts_a_stopped_daemon_and_builds_the_offline_bases(inv, second_daemon):
    home, sock, first = second_daemon
    bridge = host_bridge()
    env = {"DOCKER_HOST": f"unix://{sock}"}
    _, rows, _ = run_doctor(inv, "--no-aws", env=env)
    assert rows["daemon"]["status"] == "ok"
    assert f"via DOCKER_HOST=unix://{sock}" in rows["daemon"]["detail"]
    go_base = rows["base golang:1.19"]
    assert go_base["status"] == "warn" and go_base["autofix"] == "bases"
    assert "tasky-ops/golang:1.19-debian is missing too" in go_base["detail"]
    assert go_base["fix"].startswith("inv bases builds the stand-ins")

    stop_daemon(home)
    first.wait(timeout=30)
    result, rows, _ = run_doctor(inv, "--no-aws", env=env)
    assert not result["ok"] and rows["daemon"]["status"] == "fail"
    assert "the Docker daemon is not running" in rows["daemon"]["detail"]
    assert "inv doctor --fix" in rows["daemon"]["fix"]

    result, rows, proc = run_doctor(inv, "--no-aws", "--fix", env=env)
    assert [f["fix"] for f in result["fixed"]] == ["start-daemon", "bases"], proc.stderr
    assert result["fixed"][0]["result"].startswith(f"started dockerd on {sock}")
    assert result["fixed"][1]["result"] == ("offline bases: tasky-ops/golang:1.19-debian built, "
                                            "tasky-ops/alpine:3.17.0-busybox built")
    assert rows["daemon"]["status"] == "ok"
    assert "offline stand-in tasky-ops/golang:1.19-debian is present" in \
        rows["base golang:1.19"]["detail"]
    assert answers(sock)
    images = docker.DockerClient(base_url=f"unix://{sock}").images.list()
    assert {t for i in images for t in i.tags} >= {"tasky-ops/golang:1.19-debian",
                                                  "tasky-ops/alpine:3.17.0-busybox"}
    # The system daemon's network was never touched by the private one.
    assert host_bridge() == bridge
