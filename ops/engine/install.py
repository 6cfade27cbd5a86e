"""Make this machine able to build: a Docker engine installed and answering."""
import os
import shutil
import subprocess
from pathlib import Path

from ops.core.console import table
from ops.core.errors import OpsError
from ops.core.waiting import wait_until
from ops.engine.connection import answers

DOCKERD_LOG = "/var/log/tasky-ops-dockerd.log"


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


def setup(progress=print):
    """Install and start what is missing; one row per component with what was done."""
    rows = []
    if shutil.which("dockerd") is None and not answers():
        install_engine(progress)
        rows.append({"component": "docker engine", "action": "installed docker.io"})
    else:
        rows.append({"component": "docker engine", "action": "already installed"})
    if answers():
        rows.append({"component": "docker daemon", "action": "already running"})
    else:
        rows.append({"component": "docker daemon", "action": "started: " + start_engine(progress)})
    for tool in ("git", "apt-get", "dpkg-deb", "tar"):
        found = shutil.which(tool)
        rows.append({"component": tool,
                     "action": "present" if found else "MISSING (needed for offline bases)"})
    return rows


def render(rows):
    return table(rows, [("component", "component"), ("action", "action")])
