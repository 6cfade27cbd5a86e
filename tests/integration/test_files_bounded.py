"""Issue 17's files and bounded classes with real faults: a full filesystem under
`inv login --docker-config` (a 64 KB tmpfs, moto's ECR), a truncated .deb in the bases cache,
`go mod vendor` failing over an existing vendor/, FIFOs handed to `inv`, and a quiet
`inv build --json` timed line by line on stderr against the real engine."""
import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from ops.core.errors import OpsError
from ops.image import standins, vendor
from ops.settings.config import Settings
from tests.integration.helpers import IMAGE, ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "thirdparty-app"
OWNER = (4321, 4321)


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


# ---- a full filesystem ----------------------------------------------------------------------

@pytest.fixture
def tiny_fs(tmp_path):
    """A 64 KB tmpfs (root only), unmounted whatever the test did."""
    folder = tmp_path / "tmpfs"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_login_on_a_full_disk_is_one_line_and_the_docker_config_is_untouched(
        inv, moto, good_registry, tmp_path, tiny_fs):
    env = moto.user_env(tmp_path, "aws-secret-files", good_registry, IMAGE)
    config = tiny_fs / "config.json"
    others = {f"registry-{n}.example": {"auth": "dXNlcjpwYXNzd29yZA=="} for n in range(400)}
    config.write_text(json.dumps({"auths": others}, indent=2))
    before = config.read_bytes()
    free = os.statvfs(tiny_fs)
    (tiny_fs / "filler").write_bytes(b"\0" * (free.f_bavail * free.f_frsize - 4096))
    proc = inv("login", "--docker-config", env={**env, "DOCKER_CONFIG": str(tiny_fs)})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.output
    [line] = error_lines(proc.stderr)
    assert f"cannot write {config} (no space left): filesystem {tiny_fs}, " in line
    assert "free of 64.0 KB" in line and "RUNBOOK.md#file-not-written" in line
    assert config.read_bytes() == before
    assert sorted(os.listdir(tiny_fs)) == ["config.json", "filler"]


def test_a_docker_config_that_is_not_json_is_one_line_naming_it(inv, moto, good_registry,
                                                                tmp_path):
    env = moto.user_env(tmp_path, "aws-secret-files", good_registry, IMAGE)
    folder = tmp_path / "docker"
    folder.mkdir()
    (folder / "config.json").write_text('{"auths": {"a": ')
    proc = inv("login", "--docker-config", env={**env, "DOCKER_CONFIG": str(folder)})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.output
    [line] = error_lines(proc.stderr)
    assert f"docker config {folder / 'config.json'} is not valid JSON" in line
    assert (folder / "config.json").read_text() == '{"auths": {"a": '


# ---- the bases cache -----------------------------------------------------------------------

def test_a_truncated_or_corrupt_deb_in_the_bases_cache_is_detected_and_fetched_again(tmp_path):
    record = standins.package_records(["busybox-static"])["busybox-static"]
    said = []
    deb = standins.fetch("busybox-static", record, tmp_path, said.append)
    whole = deb.read_bytes()
    assert len(whole) == int(record["Size"])
    deb.write_bytes(whole[:len(whole) // 3])          # what a full disk leaves behind
    again = standins.fetch("busybox-static", record, tmp_path, said.append)
    assert again.read_bytes() == whole
    assert any(f"is short ({len(whole) // 3} of {len(whole)} bytes): fetching it again" in line
               for line in said), said
    again.write_bytes(b"\0" * len(whole))             # the right size, the wrong bytes
    third = standins.fetch("busybox-static", record, tmp_path, said.append)
    assert third.read_bytes() == whole and "corrupt" in " ".join(said)
    left = [p.name for p in deb.parent.iterdir()]
    assert left == [deb.name], left                   # no partial download folder


# ---- vendor/ swapped in whole ----------------------------------------------------------------

@pytest.fixture
def app(tmp_path, engine):
    standins.ensure(engine, Settings().bases, only_missing=True, progress=lambda line: None)
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE, repo / "app")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for folder, dirs, names in os.walk(repo / "app"):
        for name in dirs + names + ["."]:
            os.chown(os.path.join(folder, name), *OWNER)
    return repo / "app"


def test_a_failed_vendor_leaves_the_old_vendor_intact_and_a_good_one_replaces_it(
        engine, app, proxy):
    old = app / "vendor"
    old.mkdir()
    (old / "modules.txt").write_text("# the vendor/ that was there\n")
    with pytest.raises(OpsError):
        vendor.vendor(engine, Settings(context=str(app)), goproxy="off",
                      progress=lambda line: None)
    assert (old / "modules.txt").read_text() == "# the vendor/ that was there\n"
    assert not [p for p in os.listdir(app) if p.startswith(".vendor")]
    done = vendor.vendor(engine, Settings(context=str(app)), goproxy=f"file://{proxy}",
                         progress=lambda line: None)
    assert done["modules"] == 6
    modules = old / "modules.txt"
    assert "# github.com/gorilla/mux" in modules.read_text()
    assert (modules.stat().st_uid, modules.stat().st_gid) == OWNER
    assert not [p for p in os.listdir(app) if p.startswith(".vendor")]


# ---- FIFOs -----------------------------------------------------------------------------------

def test_fifos_as_env_file_dockerignore_or_dockerfile_are_one_line_never_a_hang(
        inv, tmp_path, engine):
    fifo = tmp_path / "app.env"
    os.mkfifo(fifo)
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "app", repo, ignore=shutil.ignore_patterns(".dockerignore"))
    shutil.copy(ROOT / "Dockerfile", tmp_path / "Dockerfile")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    os.mkfifo(repo / ".dockerignore")
    os.mkfifo(tmp_path / "Dockerfile.fifo")
    image = {"INVOKE_TASKY_IMAGE": f"{IMAGE}-fifo"}
    cases = {
        "env file": (["run", "--env-file", str(fifo)], {}, f"env file {fifo} is a FIFO"),
        ".dockerignore": (["build", "--offline", "--json"],
                          {"INVOKE_TASKY_CONTEXT": str(repo),
                           "INVOKE_TASKY_DOCKERFILE": str(tmp_path / "Dockerfile")},
                          f".dockerignore {repo / '.dockerignore'} is a FIFO"),
        "Dockerfile": (["build", "--offline"],
                       {"INVOKE_TASKY_DOCKERFILE": str(tmp_path / "Dockerfile.fifo")},
                       f"Dockerfile {tmp_path / 'Dockerfile.fifo'} is a FIFO"),
    }
    for name, (argv, env, said) in cases.items():
        proc = inv(*argv, env={**image, **env}, timeout=120)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, (name, proc.output)
        lines = error_lines(proc.stderr)
        assert len(lines) == 1 and said in lines[0], (name, proc.stderr)


# ---- never silent ----------------------------------------------------------------------------

def test_a_quiet_json_build_is_never_silent_for_more_than_5_seconds(inv, engine):
    """A no-cache build: every step runs again, the go build among them; --json hides the
    steps, so only the heartbeat speaks on stderr."""
    env = {**inv.env, "INVOKE_TASKY_IMAGE": f"{IMAGE}-quiet"}
    started = time.monotonic()
    proc = subprocess.Popen(inv.command("build", "--offline", "--no-cache", "--json"),
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    stamped = []

    def read():
        for line in proc.stderr:
            stamped.append((time.monotonic(), line.rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    out = proc.stdout.read()
    proc.wait(timeout=600)
    reader.join(10)
    ended = time.monotonic()
    assert proc.returncode == 0, [line for _, line in stamped]
    assert json.loads(out)["ran_steps"] >= 2
    times = [started] + [at for at, _ in stamped] + [ended]
    gaps = [round(b - a, 1) for a, b in zip(times, times[1:])]
    assert max(gaps) <= 5.0, list(zip(gaps, [line for _, line in stamped] + ["(exit)"]))
    if ended - started > 8:   # a build that long must have said why it is still busy
        assert any("still waiting" in line and "build at #" in line for _, line in stamped)
