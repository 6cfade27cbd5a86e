"""`inv doctor --fix`: the safe fixes a row may name in its `autofix`, and nothing else.

Each fix does one reversible, local thing (start the daemon, add the sudo user to the
docker group, build the offline bases, remove our own stopped container) and says what
it did; anything riskier stays a command in the row's fix for a person to run.
"""
import os

from ops.core.errors import OpsError
from ops.doctor import engine as engine_checks
from ops.engine import ownership
from ops.engine.connection import docker_host, is_default_socket, socket_path


def fix_start_daemon(settings, progress):
    from ops.engine.install import start_engine

    path = socket_path(docker_host())
    private = None if is_default_socket(path) else path
    return "started " + start_engine(progress, socket=private)


def fix_docker_group(settings, progress):
    return engine_checks.add_to_group(os.environ["SUDO_USER"])


def fix_bases(settings, progress):
    from ops.image import standins

    engine, _ = engine_checks.connect(timeout=settings.docker_timeout)   # imports are long
    built = standins.ensure(engine, settings.bases, only_missing=True, progress=progress,
                            ledger=ownership.Ledger.of(settings))
    return "offline bases: " + ", ".join(f"{r['base']} {r['status']}" for r in built)


def fix_stale_container(settings, progress):
    engine, _ = engine_checks.connect()
    found = engine.containers.get(settings.container)
    ledger = ownership.Ledger.of(settings)
    if not ledger.owns_container(found):
        return f"left {found.name} alone: not started by tasky-ops from this checkout"
    if found.status in ("running", "paused", "restarting"):
        return f"left {found.name} alone ({found.status})"
    found.remove()
    ledger.forget("container", [found.id])
    return (f"removed the stopped container {found.name} (exit code "
            f"{found.attrs['State'].get('ExitCode')}) that held the name")


FIXES = {"start-daemon": fix_start_daemon, "docker-group": fix_docker_group,
         "bases": fix_bases, "remove-stale-container": fix_stale_container}
# What each safe fix does, as the fixes list tells it.
FIX_SAYS = {"start-daemon": "inv doctor --fix starts it", "docker-group": "inv doctor --fix "
            "adds them", "bases": "inv doctor --fix builds them",
            "remove-stale-container": "inv doctor --fix removes the stopped container"}


def apply_fix(action, settings, progress):
    import docker

    progress(f"doctor --fix: {action}")
    try:
        done = FIXES[action](settings, progress)
    except (OpsError, docker.errors.DockerException, OSError) as exc:
        done = f"{action} failed: {exc}"
    progress(f"doctor --fix: {done}")
    return {"fix": action, "result": done}
