"""Make this machine able to build (a Docker engine installed and answering) and, with
`inv setup --dev`, able to run the tests (every Debian package they use, DEV_PACKAGES)."""
import os
import shutil
import subprocess
from pathlib import Path

from ops.core.console import table
from ops.core.errors import OpsError
from ops.core.waiting import wait_until
from ops.engine.apt import apt_get, as_root, installed_packages  # noqa: F401  (callers')
from ops.engine.connection import answers

DOCKERD_LOG = "/var/log/tasky-ops-dockerd.log"

# Every Debian package the test suite uses, in this one list: `inv setup --dev` installs
# those missing, and the README's test command, .ci/run and the workflow go through it.
# Each maps to the commands the tests (or the ops code they drive) run from it; a package
# without commands says why it is here. tests/unit/test_setup.py holds this list to what
# the tests need (their subprocess calls, tests/integration/goproxy.py's modules).
# `inv bases` fetches busybox-static and golang-1.19 itself (apt-get download): not here.
# The platform `setup --dev` registers emulation for (ops/engine/emulation.py): the tests
# build and run its stand-in and images.
DEV_EMULATED = "linux/arm64"
GO_MODULE_SOURCES = "Go module sources served to the third-party fixture's builds"
DEV_PACKAGES = {
    "docker.io": ("dockerd", "docker"),   # the engine; /usr/bin/docker is the 20.10 CLI
    "git": ("git",),                      # images are tagged by commit; fixture repositories
    "tar": ("tar",),
    "docker-registry": ("docker-registry",),   # the push tests' real registry
    "apache2-utils": ("htpasswd",),            # its logins
    "util-linux": ("unshare", "runuser"),      # a second daemon; doctor as another user
    "passwd": ("useradd", "userdel", "gpasswd", "usermod"),
    "mount": ("mount", "umount"),   # tmpfs filesystems that fill up (files tests)
    # arm64 stand-ins and images run under emulation (setup --dev also registers it).
    "qemu-user-static": ("qemu-aarch64-static",),
    "golang-github-gorilla-handlers-dev": GO_MODULE_SOURCES,
    "golang-github-gorilla-mux-dev": GO_MODULE_SOURCES,
    "golang-github-gorilla-sessions-dev": GO_MODULE_SOURCES,
    "golang-github-gorilla-securecookie-dev": GO_MODULE_SOURCES,
    "golang-github-joho-godotenv-dev": GO_MODULE_SOURCES,
}
# Installing Debian's docker-registry under systemd starts a registry on :5000, the port of
# `inv registry`; the tests start their own. Setup stops the one it installed.
STOPPED_SERVICES = {"docker-registry": "docker-registry"}
# apt's package lists: `inv bases` (which the tests run) asks apt-cache for its packages.
APT_LISTS = Path("/var/lib/apt/lists")


def is_debian():
    return Path("/etc/debian_version").exists() and shutil.which("apt-get") is not None


def has_systemd():
    return Path("/run/systemd/system").is_dir()


def install_engine(progress):
    if os.geteuid() != 0 or not is_debian():
        raise OpsError("no Docker engine is installed (dockerd not found)",
                       fix="install Docker Engine: on Debian/Ubuntu `sudo apt-get install "
                           "docker.io`, elsewhere see your distribution's Docker package",
                       anchor="docker-daemon-not-running")
    progress("setup: installing docker.io with apt-get (a minute or two)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for args in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "docker.io"]):
        proc = subprocess.run(args, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise OpsError(f"`{' '.join(args)}` failed: {proc.stderr.strip()[-300:]}",
                           fix="fix apt (network, lock) and run inv setup again",
                           anchor="docker-daemon-not-running")


def private_dockerd(socket):
    """dockerd serving another unix socket (DOCKER_HOST=unix://PATH), its state kept next to
    the socket, in a network namespace of its own: its bridge, NAT rules and sysctls never
    touch the system daemon's (on the host's network a second daemon shares docker0 and its
    addresses, and with `--bridge none` deletes it). Returns the command and its log file."""
    home = Path(socket).parent
    return (["unshare", "--net", "--", "dockerd", "--host", f"unix://{socket}",
             "--data-root", str(home / "data-root"), "--exec-root", str(home / "exec-root"),
             "--pidfile", str(home / "dockerd.pid"), "--iptables=false"],
            str(home / "dockerd.log"))


def start_engine(progress, wait=30, socket=None):
    """Start dockerd the way this host manages services; wait until it answers.

    socket: a unix socket other than the default one, served by a private daemon."""
    if os.geteuid() != 0:
        raise OpsError("the Docker engine is installed but not running",
                       fix="start it: sudo systemctl start docker (or sudo dockerd &)",
                       anchor="docker-daemon-not-running")
    if socket:
        command, log_path = private_dockerd(socket)
    else:
        command, log_path = ["dockerd"], DOCKERD_LOG
    if has_systemd() and not socket:
        progress("setup: systemctl start docker")
        subprocess.run(["systemctl", "start", "docker"], capture_output=True)
        how = "systemctl start docker"
    else:
        progress(f"setup: starting {' '.join(command)} in the background (log: {log_path})")
        with open(log_path, "ab") as log:
            subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        how = f"dockerd{' on ' + socket if socket else ''} (log {log_path})"
    if wait_until(lambda: how if answers() else None, timeout=wait, progress=progress,
                  what=f"setup: waiting for the engine ({how})"):
        return how
    raise OpsError(f"started the engine ({how}) but it did not answer within {wait}s",
                   fix=f"read {log_path} or `journalctl -u docker`",
                   anchor="docker-daemon-not-running")


def commands_present(package):
    """For a package whose commands are all on PATH already (another packaging of them,
    e.g. Docker's own docker-ce on a CI runner: installing docker.io beside it conflicts):
    the commands, else None."""
    commands = DEV_PACKAGES[package]
    if isinstance(commands, tuple) and commands and all(shutil.which(c) for c in commands):
        return commands
    return None


def install_dev_packages(progress):
    """Every DEV_PACKAGES entry installed; one row per package with what was done."""
    if not is_debian():
        raise OpsError("`inv setup --dev` installs Debian packages, and this is not a "
                       "Debian-family host with apt-get",
                       fix="install the equivalents of: " + " ".join(DEV_PACKAGES),
                       anchor="test-packages")
    names = list(DEV_PACKAGES)
    there = installed_packages(names)
    rows, missing = [], []
    for name in names:
        if name in there:
            rows.append({"component": name, "action": "already installed"})
        elif commands_present(name):
            rows.append({"component": name, "action": "not installed; its commands are "
                         "there already: " + ", ".join(commands_present(name))})
        else:
            missing.append(name)
            rows.append({"component": name, "action": None})
    if missing or not any(APT_LISTS.glob("*_Packages*")):
        # Also with nothing to install, when the lists are gone (images often delete them):
        # the stand-in bases are fetched with apt-get download.
        progress("setup: apt-get update")
        apt_get("update", "-q")
    if missing:
        progress(f"setup: installing {len(missing)} Debian package(s) with apt-get: "
                 + " ".join(missing))
        apt_get("install", "-y", "-q", *missing)
        absent = [name for name in missing if name not in installed_packages(missing)]
        if absent:
            raise OpsError("apt-get said it installed " + " ".join(absent) + ", but dpkg "
                           "does not know them as installed",
                           fix="apt-get install -y " + " ".join(absent) + ", and read its "
                               "output", anchor="test-packages")
    for row in rows:
        if row["action"] is None:
            row["action"] = "installed"
            service = STOPPED_SERVICES.get(row["component"])
            if service and has_systemd() and shutil.which("systemctl"):
                subprocess.run(as_root(["systemctl", "disable", "--now", service]),
                               capture_output=True)
                row["action"] += f" (its {service} service stopped and disabled)"
    return rows


def setup(progress=print, dev=False, platforms=()):
    """Install and start what is missing; one row per component with what was done.

    dev: first every Debian package the tests use (DEV_PACKAGES); its docker.io row then
    says how the engine is installed, and emulation of DEV_EMULATED is registered.
    platforms: Platforms (ops/core/platforms.py) whose images must run here: emulation
    registered for each that is not this machine's (ops/engine/emulation.py)."""
    from ops.engine import emulation

    if dev:
        rows = install_dev_packages(progress)
    elif shutil.which("dockerd") is None and not answers():
        install_engine(progress)
        rows = [{"component": "docker engine", "action": "installed docker.io"}]
    else:
        rows = [{"component": "docker engine", "action": "already installed"}]
    if answers():
        rows.append({"component": "docker daemon", "action": "already running"})
    else:
        rows.append({"component": "docker daemon", "action": "started: " + start_engine(progress)})
    named = {row["component"] for row in rows}
    for tool in ("git", "apt-get", "dpkg-deb", "tar"):
        if tool in named:
            continue   # --dev: its package's row says it
        found = shutil.which(tool)
        rows.append({"component": tool,
                     "action": "present" if found else "MISSING (needed for offline bases)"})
    wanted = [*platforms, *([DEV_EMULATED] if dev else [])]
    for platform in dict.fromkeys(wanted):
        named = {row["component"] for row in rows}   # qemu-user-static: once
        rows += [row for row in emulation.register(platform, progress)
                 if row["component"] not in named]
    return rows


def render(rows):
    return table(rows, [("component", "component"), ("action", "action")])
