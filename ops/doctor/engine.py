"""`inv doctor`'s checks of the Docker side: the CLI, the daemon and who may use it, disk.

The daemon check tells the three ways a unix socket fails apart by connecting to it
directly: it does not exist, nothing listens on it (a stopped daemon), or it refuses
this user (permission denied, explained from the socket's owner, group and mode).
"""
import grp
import os
import pwd
import re
import shutil
import stat
import subprocess

from ops.core import redact
from ops.doctor.rows import needs_engine, row
from ops.engine import connection as engine_client
from ops.engine.connection import docker_host, is_default_socket, socket_path
from ops.engine.install import DOCKERD_LOG, has_systemd

TIMEOUT = 5          # seconds for one Docker API call from doctor
DISK_FAIL_GB = 1     # less than one build needs (builder stage ~0.5 GB, stand-in ~0.5 GB)
DISK_WARN_GB = 5


def connect(timeout=TIMEOUT):
    """(engine or None, [daemon row]): the daemon the SDK would use, honouring DOCKER_HOST."""
    host = docker_host()
    shown = redact.redact_uri(host)
    try:
        engine = engine_client.connect(timeout=timeout, ping_timeout=min(timeout, TIMEOUT))
        version = engine.version()
    except engine_client.EngineUnavailable as error:
        return None, [daemon_row(error, host)]
    via = f"DOCKER_HOST={shown}" if os.environ.get("DOCKER_HOST") else shown
    return engine, [row("docker", "daemon", "ok", f"Engine {version.get('Version')} (API "
                        f"{version.get('ApiVersion')}, {version.get('Os')}/"
                        f"{version.get('Arch')}) via {via}")]


def daemon_row(error, host):
    """The daemon row for an engine that cannot be used, by the kind of failure."""
    if error.path and error.kind in (engine_client.MISSING, engine_client.REFUSED,
                                     engine_client.DENIED):
        return daemon_down(error.path, error.kind)
    shown = redact.redact_uri(host)
    if error.kind == engine_client.SILENT:
        return row("docker", "daemon", "fail", f"the engine at {shown} accepts connections "
                   "but does not answer the API", error.fix, anchor="docker-daemon-not-running")
    if error.kind == engine_client.INVALID:   # not an address: starting a daemon cannot help
        return row("docker", "daemon", "fail", error.message, error.fix, error.anchor)
    return row("docker", "daemon", "fail", error.message, "start it, or point DOCKER_HOST at one "
               "that runs (unset it for the local default)", anchor="docker-daemon-not-running")


def daemon_down(path, kind):
    if kind == engine_client.DENIED:
        return permission_denied(path)
    if kind == engine_client.MISSING:
        what = f"no socket at {path}: the Docker daemon is not running"
    else:
        what = f"nothing listens on {path} (a stale socket): the Docker daemon is not running"
    if not is_default_socket(path):
        what += " (DOCKER_HOST names this socket)"
    fix, can_fix = start_hint(path)
    return row("docker", "daemon", "fail", what, fix, anchor="docker-daemon-not-running",
               autofix="start-daemon" if can_fix else None)


def start_hint(path):
    """(how to start the daemon serving path on this host, whether --fix can do it here)."""
    root, installed = os.geteuid() == 0, shutil.which("dockerd") is not None
    if not is_default_socket(path):
        return (f"unset DOCKER_HOST to use the system daemon, or start the daemon that serves "
                f"{path} (as root, inv doctor --fix starts a private one there)",
                root and installed)
    if not installed:
        return "inv setup installs docker.io and starts it (as root)", False
    if has_systemd():
        return "sudo systemctl start docker (or, as root, inv doctor --fix)", root
    return ("no systemd here: as root, inv doctor --fix (or inv setup) starts dockerd in the "
            f"background; by hand: sudo dockerd > {DOCKERD_LOG} 2>&1 &", root)


def _name(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def permission_denied(path):
    uid = os.geteuid()
    user = _name(pwd.getpwuid, uid)
    try:
        info = os.stat(path)
    except OSError as exc:
        return row("docker", "daemon", "fail", f"permission denied on {path} ({exc.strerror})",
                   "run as root, or fix the permissions of the socket's folder",
                   anchor="permission-denied")
    group = _name(grp.getgrgid, info.st_gid)
    try:
        members = grp.getgrgid(info.st_gid).gr_mem
        primary = pwd.getpwuid(uid).pw_gid
    except KeyError:
        members, primary = [], None
    detail, fix = permission_advice(
        user, _name(pwd.getpwuid, info.st_uid), group, stat.S_IMODE(info.st_mode), path,
        in_group_file=user in members or primary == info.st_gid,
        in_session=info.st_gid in os.getgroups() or info.st_gid == os.getegid())
    return row("docker", "daemon", "fail", detail, fix, anchor="permission-denied")


def permission_advice(user, owner, group, mode, path, in_group_file, in_session):
    """(detail, fix) for permission denied on the daemon socket; pure, for the tests."""
    said = (f"permission denied on {path} (owner {owner}, group {group}, mode {mode:04o}) "
            f"for user {user}")
    usermod = (f"sudo usermod -aG {group} $USER, then log out and back in (or newgrp {group}); "
               f"the {group} group is root-equivalent: on shared machines prefer sudo or "
               "rootless Docker")
    if group == "root":
        return (said + ": the socket's group is root, so only root may use it",
                "use sudo, or create the docker group (groupadd docker) and restart dockerd, "
                "which then gives the socket to that group")
    if in_session and mode & 0o060 != 0o060:
        return (said + f": {user} is in group {group}, but the socket is not group read-write",
                f"sudo chmod 660 {path} (dockerd sets this when it starts)")
    if in_session:
        return (said + f": {user} is in group {group} and the mode allows it (an ACL or a "
                "security module denies it)", "run as root, or check getfacl and the audit log")
    if in_group_file:
        return (said + f": {user} is in group {group} in /etc/group, but not in this session "
                "(the group was added after login)",
                f"log out and back in, or run `newgrp {group}`: group membership is read at "
                "login")
    return said + f": {user} is not in group {group}", usermod


def sudo_user_group(engine, settings):
    """As root under sudo: can the user who ran sudo use Docker without it?"""
    user = os.environ.get("SUDO_USER")
    if os.geteuid() != 0 or not user or user == "root":
        return []
    path = socket_path(docker_host()) or engine_client.DEFAULT_SOCKET
    try:
        gid = os.stat(path).st_gid
        group = grp.getgrgid(gid)
        account = pwd.getpwnam(user)
    except (OSError, KeyError):
        return []
    if group.gr_name == "root":
        return []
    if user in group.gr_mem or account.pw_gid == gid:
        return [row("docker", "docker group", "ok", f"{user} (who ran sudo) is in group "
                    f"{group.gr_name}")]
    return [row("docker", "docker group", "warn", f"{user} (who ran sudo) is not in group "
                f"{group.gr_name}: without sudo, docker says permission denied",
                f"sudo usermod -aG {group.gr_name} {user}, then {user} logs out and back in "
                f"(the {group.gr_name} group is root-equivalent)", anchor="permission-denied",
                autofix="docker-group")]


def add_to_group(user, group="docker"):
    proc = subprocess.run(["usermod", "-aG", group, user], capture_output=True, text=True)
    if proc.returncode != 0:
        return f"could not add {user} to {group}: {proc.stderr.strip()[-200:]}"
    return (f"added {user} to group {group} (usermod -aG); {user} must log out and back in; "
            "the group is root-equivalent")


def docker_cli(engine, settings):
    path = shutil.which("docker")
    if path is None:
        return [row("docker", "cli", "warn", "no docker command on PATH: tasky-ops does not need "
                    "it, but the runbook's diagnose commands do",
                    "apt-get install docker.io (it brings /usr/bin/docker)",
                    anchor="docker-daemon-not-running")]
    proc = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    found = re.search(r"version ([^\s,]+)", proc.stdout)
    return [row("docker", "cli", "ok" if found else "warn",
                f"{path}: " + (f"Docker {found.group(1)}" if found else
                               f"`docker --version` said {proc.stdout.strip()[:80]!r}"),
                None if found else "reinstall it: apt-get install docker.io",
                None if found else "docker-daemon-not-running")]


def disk_space(engine, settings):
    if engine is None:
        return [needs_engine("docker", "disk")]
    root = engine.info().get("DockerRootDir") or "/var/lib/docker"
    try:
        usage = shutil.disk_usage(root)
    except OSError:
        return [row("docker", "disk", "skip", f"the engine keeps its data in {root}, which is "
                    "not on this host (a remote or rootless engine)")]
    free, total = usage.free / 1e9, usage.total / 1e9
    detail = f"{free:.1f} GB free of {total:.0f} GB under {root}"
    fix = ("free space: inv clean --cache removes this project's build caches; docker system df "
           "shows what else uses it")
    if free < DISK_FAIL_GB:
        return [row("docker", "disk", "fail", detail + ": a build needs about 1 GB", fix,
                    anchor="low-disk-space")]
    if free < DISK_WARN_GB:
        return [row("docker", "disk", "warn", detail, fix, anchor="low-disk-space")]
    return [row("docker", "disk", "ok", detail)]


def build_backend(engine, settings):
    """Which builder `inv build` will use, and why (tasky.builder, the engine's answer)."""
    from ops.image import buildkit

    if engine is None:
        return [needs_engine("docker", "builder")]
    if settings.builder == "classic":
        return [row("docker", "builder", "ok", "classic (tasky.builder is classic): no Go "
                    "caches between builds; set it to auto for BuildKit")]
    can, why = buildkit.available(engine)
    if can:
        return [row("docker", "builder", "ok", f"BuildKit through the Engine API (version=2): "
                    f"{why}")]
    if settings.builder == "buildkit":
        return [row("docker", "builder", "fail", f"tasky.builder is buildkit, but {why}",
                    "use an engine with BuildKit (18.09+, not disabled in daemon.json), or set "
                    "tasky.builder to auto", anchor="build-fails")]
    return [row("docker", "builder", "warn", f"classic, because {why}: every build compiles "
                "all Go packages again", "enable BuildKit in the engine (daemon.json "
                "features.buildkit) for one-second rebuilds", anchor="build-fails")]


def platforms(engine, settings, proc=None):
    """A row per platform tasky.platforms names: the engine runs its images (its own, or
    emulation registered as containers need it: ops/engine/emulation.py), or why not."""
    from ops.engine import emulation

    wanted = settings.platforms
    if not wanted:
        return []
    if engine is not None:
        native = emulation.engine_platform(engine)
    elif emulation.is_local():
        native = emulation.host_platform()
    else:
        return [needs_engine("docker", f"platform {p}") for p in wanted]
    rows = []
    for platform in wanted:
        ok, why, fix = emulation.status(platform, native, proc=proc or emulation.BINFMT)
        status = {True: "ok", False: "fail", None: "skip"}[ok]
        rows.append(row("docker", f"platform {platform}", status, why, fix,
                        anchor=None if ok else "multi-arch"))
    return rows
