"""`inv setup --dev`: one list of the Debian packages the tests use (ops/engine/install.py's
DEV_PACKAGES), held to what the tests run, and installed on a machine that has none of them.

The machine without the packages is a throwaway one: a temp folder that is the whole PATH,
with a fake `apt-get` (it records what it is asked and "installs" into a state file), a fake
`dpkg-query` (it knows only what is in that file) and a fake engine on a unix socket.
"""
import ast
import json
import os
import socketserver
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler

import pytest

from ops.engine import install
from tests.integration import goproxy
from tests.unit.unit_support import ROOT

# What runs a command: subprocess's calls and the stand-in builder's wrapper around them.
RUNNERS = {"run", "Popen", "check_output", "check_call", "call", "_run"}
# Commands the tests and the code they drive run that no test package brings: Essential
# packages every Debian system has, apt and dpkg themselves, a service manager that only
# matters where it runs, sudo only for a user who is not root, and the scanners, of which
# every test puts a fake on PATH.
GIVEN = {"cp": "coreutils", "grep": "grep", "apt-get": "apt", "apt-cache": "apt",
         "dpkg": "dpkg", "dpkg-deb": "dpkg", "dpkg-query": "dpkg", "systemctl": "systemd",
         "sudo": "sudo",
         "trivy": "a fake on PATH (tests/integration/test_scan_lint.py)",
         "grype": "a fake on PATH (tests/integration/test_scan_lint.py)"}


def commands_run(tree):
    """The command (argv[0]) of each call that runs one, where the source names it: a list
    literal, a name bound to one, or `name + [...]`."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            bound.setdefault(node.targets[0].id, node.value)

    def head(node, depth=0):
        if node is None or depth > 4:
            return None
        if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
            first = node.elts[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                return first.value
            return head(first.value if isinstance(first, ast.Starred) else
                        bound.get(getattr(first, "id", None)), depth + 1)
        if isinstance(node, ast.BinOp):
            return head(node.left, depth + 1)
        if isinstance(node, ast.Name):
            return head(bound.get(node.id), depth + 1)
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in RUNNERS:
                command = head(node.args[0])
                if command:
                    yield os.path.basename(command)


def commands_of(*folders):
    found = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "data" in path.relative_to(ROOT).parts:
                continue
            for command in commands_run(ast.parse(path.read_text(encoding="utf-8"))):
                found.setdefault(command, str(path.relative_to(ROOT)))
    return found


COMMANDS = commands_of("tests", "ops")
PROVIDED = {command: package for package, commands in install.DEV_PACKAGES.items()
            if isinstance(commands, tuple) for command in commands}


def test_the_scan_finds_the_commands_we_know_the_tests_run():
    assert {"git", "htpasswd", "docker", "docker-registry", "unshare", "useradd",
            "tar"} <= set(COMMANDS), COMMANDS


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_the_tests_run_comes_from_the_one_list(command):
    assert command in PROVIDED or command in GIVEN, (
        f"{COMMANDS[command]} runs {command}: name the Debian package it comes from in "
        "ops/engine/install.py's DEV_PACKAGES, so `inv setup --dev` installs it")


def test_every_go_module_source_the_fixture_needs_is_in_the_one_list():
    needed = {module.package for module in goproxy.MODULES}
    sources = {package for package, why in install.DEV_PACKAGES.items()
               if why == install.GO_MODULE_SOURCES}
    assert needed == sources


@pytest.mark.parametrize("package", sorted(install.DEV_PACKAGES))
def test_every_package_in_the_list_is_used(package):
    commands = install.DEV_PACKAGES[package]
    if commands == install.GO_MODULE_SOURCES:
        assert package in {module.package for module in goproxy.MODULES}
    else:
        assert set(commands) & set(COMMANDS), f"no test runs any of {package}'s {commands}"


def test_ci_and_the_workflow_install_nothing_of_their_own():
    """.ci/run runs the README's test command, which sets the machine up by itself."""
    readme = (ROOT / "README.md").read_text()
    command = next(line for line in readme.splitlines() if "invoke test" in line)
    assert "invoke setup --dev" in command
    ci = (ROOT / ".ci" / "run").read_text()
    assert command in ci
    code = [line for line in ci.splitlines() if not line.lstrip().startswith("#")]
    assert not any("apt-get" in line or "golang-" in line for line in code), ci
    workflow = (ROOT / ".github" / "workflows" / "build-deploy-app.yml").read_text()
    assert "apt-get install" not in workflow and "setup --dev" in workflow


# --- a machine without the packages ------------------------------------------------------

FAKE_APT_GET = """#!/bin/sh
echo "$*" >> "$FAKE_DIR/apt-get.log"
if [ "$1" = install ] && [ -n "$FAKE_APT_FAILS" ]; then
  echo "E: Unable to locate package" >&2; exit 100
fi
if [ "$1" = install ]; then
  for word in "$@"; do
    case "$word" in install|-*) ;; *) echo "$word" >> "$FAKE_DIR/installed" ;; esac
  done
fi
exit 0
"""
FAKE_DPKG_QUERY = """#!/bin/sh
missing=0
for name in "$@"; do
  case "$name" in -*) continue ;; esac
  found=""
  if [ -f "$FAKE_DIR/installed" ]; then
    while IFS= read -r line; do [ "$line" = "$name" ] && found=1; done < "$FAKE_DIR/installed"
  fi
  if [ -n "$found" ]; then echo "$name ii "; else
    echo "dpkg-query: no packages found matching $name" >&2; missing=1; fi
done
exit $missing
"""
FAKE_SUDO = """#!/bin/sh
[ "$1" = -n ] && shift
exec "$@"
"""
FAKE_COMMAND = "#!/bin/sh\nexit 0\n"
# dpkg of an amd64 machine that has arm64 added already (as `inv setup --dev` leaves it).
FAKE_DPKG = """#!/bin/sh
case "$1" in
  --print-architecture) echo amd64 ;;
  --print-foreign-architectures) echo arm64 ;;
  *) echo "$*" >> "$FAKE_DIR/dpkg.log" ;;
esac
"""


class FakeEngine(BaseHTTPRequestHandler):
    """Enough of the Engine API for `inv setup` to see an engine that answers."""

    def do_GET(self):
        body = (json.dumps({"ApiVersion": "1.41", "Version": "20.10.24"}).encode()
                if self.path.endswith("/version") else b"OK")
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if body != b"OK" else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def address_string(self):
        return "fake-engine"

    def log_message(self, *args):
        pass


@pytest.fixture
def machine(tmp_path):
    """A PATH of fakes only, and an engine that answers; run(*args) runs `inv setup`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, script in (("apt-get", FAKE_APT_GET), ("dpkg-query", FAKE_DPKG_QUERY),
                         ("sudo", FAKE_SUDO), ("dpkg", FAKE_DPKG)):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    # A kernel whose binfmt_misc has qemu-aarch64 registered (ops/engine/emulation.py): the
    # emulation `setup --dev` asks for is there, so no real mount or kernel write happens.
    binfmt = tmp_path / "binfmt_misc"
    binfmt.mkdir()
    (binfmt / "register").write_text("")
    (binfmt / "status").write_text("enabled\n")
    (binfmt / "qemu-aarch64").write_text(f"enabled\ninterpreter {bin_dir / 'sudo'}\n"
                                         "flags: POF\noffset 0\n")
    sock = tmp_path / "engine.sock"
    server = socketserver.ThreadingUnixStreamServer(str(sock), FakeEngine)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def run(*args, **env):
        full = {key: value for key, value in os.environ.items()
                if not key.startswith(("INVOKE_TASKY_", "DOCKER_"))}
        full.update(PATH=str(bin_dir), FAKE_DIR=str(tmp_path), DOCKER_HOST=f"unix://{sock}",
                    TASKY_BINFMT_MISC=str(binfmt), **env)
        return subprocess.run([sys.executable, "-m", "invoke", "setup", *args], cwd=ROOT,
                              env=full, capture_output=True, text=True, timeout=60)

    def apt_calls():
        log = tmp_path / "apt-get.log"
        return log.read_text().splitlines() if log.exists() else []

    run.bin, run.apt_calls = bin_dir, apt_calls
    yield run
    server.shutdown()
    server.server_close()


def test_setup_dev_on_a_bare_machine_installs_exactly_the_list_and_says_so(machine):
    proc = machine("--dev", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wanted = list(install.DEV_PACKAGES)
    assert machine.apt_calls() == ["update -q", "install -y -q " + " ".join(wanted)]
    rows = {row["component"]: row["action"] for row in json.loads(proc.stdout)}
    assert all(rows[name].startswith("installed") for name in wanted), rows
    assert rows["docker daemon"] == "already running"
    assert f"installing {len(wanted)} Debian package(s) with apt-get: " + " ".join(wanted) \
        in proc.stderr

    # Once there, a second run installs nothing and says so (it refreshes apt's lists only
    # where they are gone).
    again = machine("--dev")
    assert again.returncode == 0, again.stdout + again.stderr
    assert [call for call in machine.apt_calls()[2:] if call != "update -q"] == []
    for name in wanted:
        assert f"{name}  " in again.stdout and "already installed" in again.stdout


def test_setup_dev_leaves_docker_io_out_where_another_packaging_of_docker_is_there(machine):
    """A CI runner has Docker's own docker-ce: docker.io beside it would conflict."""
    for name in ("dockerd", "docker"):
        (machine.bin / name).write_text(FAKE_COMMAND)
        (machine.bin / name).chmod(0o755)
    proc = machine("--dev", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert machine.apt_calls()[-1] == "install -y -q " + " ".join(
        name for name in install.DEV_PACKAGES if name != "docker.io")
    rows = {row["component"]: row["action"] for row in json.loads(proc.stdout)}
    assert rows["docker.io"] == "not installed; its commands are there already: dockerd, docker"


def test_setup_dev_when_apt_fails_is_one_line_naming_the_runbook(machine):
    proc = machine("--dev", FAKE_APT_FAILS="1")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: `")
    assert "Unable to locate package" in proc.stderr
    assert "RUNBOOK.md#test-packages" in proc.stderr


def test_setup_without_the_flag_installs_no_test_package(machine):
    proc = machine("--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert machine.apt_calls() == []
    rows = {row["component"]: row["action"] for row in json.loads(proc.stdout)}
    assert rows["docker engine"] == "already installed"
    assert not set(rows) & set(install.DEV_PACKAGES) - {"git", "tar"}


def test_setup_platform_registers_emulation_once_and_says_what_it_found(machine):
    """--platform linux/arm64 beside --dev (which asks for it too): one set of rows; on a
    machine where qemu-aarch64 is registered and dpkg has arm64, nothing is done again."""
    proc = machine("--dev", "--platform", "linux/arm64", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(proc.stdout)
    components = [row["component"] for row in rows]
    assert components.count("qemu-user-static") == 1
    actions = {row["component"]: row["action"] for row in rows}
    assert actions["emulation linux/arm64"] == "already registered (flags POF)"
    assert actions["dpkg architecture arm64"] == "already added"


def test_setup_with_a_platform_it_cannot_read_is_one_line(machine):
    proc = machine("--platform", "linux/sparc")
    assert proc.returncode == 1
    assert "invalid platform 'linux/sparc' (--platform)" in proc.stderr
    assert "RUNBOOK.md#multi-arch" in proc.stderr
