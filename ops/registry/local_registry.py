"""`inv registry`: a plain registry on loopback, to try the push flow without AWS."""
import os
import shutil
import signal
import subprocess

from ops.core import files
from ops.core.console import table
from ops.core.errors import OpsError
from ops.core.waiting import wait_until
from ops.engine import ownership
from ops.registry.http_api import request

CONFIG = """version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {addr}
{auth}"""
START_SECONDS = 10   # Debian's docker-registry answers in well under a second


def write_config(folder, addr, htpasswd=None):
    auth = f"auth:\n  htpasswd:\n    realm: tasky-ops\n    path: {htpasswd}\n" if htpasswd else ""
    files.make_folder(folder / "data")
    return files.write_atomically(folder / "config.yml",
                                  CONFIG.format(root=folder / "data", addr=addr, auth=auth))


def serve(folder, addr, htpasswd=None):
    """Start Debian's docker-registry in the background; return the process once it answers."""
    config = write_config(folder, addr, htpasswd)
    with open(folder / "registry.log", "ab") as log:   # the child keeps its own copy
        process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log,
                                   stderr=log, stdin=subprocess.DEVNULL,
                                   start_new_session=True)

    def up():
        if process.poll() is not None:
            raise OpsError(f"docker-registry exited at start (see {folder / 'registry.log'})",
                           fix=f"is {addr} already taken? pick another tasky.ecr.local_registry",
                           anchor="registry-unreachable")
        return process if answering(addr) else None

    try:
        waited = wait_until(up, timeout=START_SECONDS, what=f"docker-registry on {addr}")
    except BaseException:
        # In a session of its own, Ctrl-C never reaches it, and no pid file names it yet.
        process.kill()
        raise
    if waited:
        return process
    process.kill()
    raise OpsError(f"docker-registry did not answer on {addr} within {START_SECONDS}s",
                   fix=f"read {folder / 'registry.log'}", anchor="registry-unreachable")


def answering(addr):
    try:
        request(addr, "/v2/", timeout=1)
        return True
    except OpsError:
        return False


def start_local(engine, settings):
    """`inv registry`: a plain local registry on loopback, Debian's package or registry:2."""
    addr = settings.ecr.local_registry
    folder = settings.bases.cache_path / "registry"
    if answering(addr):
        return {"registry": addr, "status": "already running", "how": "-", "data": str(folder)}
    files.make_folder(folder)
    if shutil.which("docker-registry"):
        process = serve(folder, addr)
        try:
            files.write_atomically(folder / "pid", str(process.pid))
        except BaseException:   # unrecorded, `inv registry --stop` could never find it
            process.kill()
            raise
        return {"registry": addr, "status": "started",
                "how": f"docker-registry (pid {process.pid})", "data": str(folder / "data")}
    import docker

    host, _, port = addr.rpartition(":")
    options = {"detach": True, "name": "tasky-ops-registry",
               "ports": {"5000/tcp": (host, int(port))},
               "volumes": {str(folder / "data"): {"bind": "/var/lib/registry", "mode": "rw"}}}
    try:   # created, registered, started: a signal in between leaves nothing behind
        with ownership.Owned(engine, "registry") as ours:
            try:
                container = ours.create("registry:2", **options)
            except docker.errors.ImageNotFound:   # as docker run does: pull, then create
                engine.images.pull("registry:2")
                container = ours.create("registry:2", **options)
            container.start()
            ours.release()
    except docker.errors.DockerException as exc:
        raise OpsError("no local registry available: docker-registry is not installed and "
                       f"registry:2 cannot be run ({str(exc).splitlines()[0][:160]})",
                       fix="apt-get install docker-registry",
                       anchor="registry-unreachable") from exc
    # This checkout's now: `inv clean --all` may remove it (ops/engine/ownership.py).
    ownership.Ledger.of(settings).record("container", [container.id], role="registry")
    return {"registry": addr, "status": "started", "how": f"registry:2 ({container.short_id})",
            "data": str(folder / "data")}


def stop_local(engine, settings):
    import docker

    folder = settings.bases.cache_path / "registry"
    pidfile = folder / "pid"
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass
        pidfile.unlink()
        return {"registry": settings.ecr.local_registry, "status": "stopped"}
    try:
        found = engine.containers.get("tasky-ops-registry")
    except docker.errors.NotFound:
        return {"registry": settings.ecr.local_registry, "status": "not running"}
    ledger = ownership.Ledger.of(settings)
    if not ledger.owns_container(found):   # the name is no proof: ops/engine/ownership.py
        raise OpsError(f"container tasky-ops-registry ({found.short_id}) was not started by "
                       "tasky-ops from this checkout", fix="stop it where it was started, or "
                       "remove it yourself: docker rm -f tasky-ops-registry",
                       anchor="ownership-records")
    found.remove(force=True)
    ledger.forget("container", [found.id])
    return {"registry": settings.ecr.local_registry, "status": "stopped"}


def render(result):
    return table([result], [(key, key) for key in result])
