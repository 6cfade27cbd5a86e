"""The document's "Verifying the Build", done so each check can really fail.

The document's commands are `docker run --rm tasky cat /app/wizexercise.txt` and
`docker run --rm tasky whoami`; with ENTRYPOINT ["/app/tasky"] both only pass words to
the app, and `sleep 10` then inspect still says `starting` because Docker's first probe
runs one full interval (30 s) after start. Here the file is read from the container's
filesystem, the user is the one PID 1 runs as, and health is waited for with the probe
interval shortened at run time (the image's own probe command is kept).
"""
import io
import tarfile
import time

from ops.core.console import table
from ops.core.errors import OpsError
from ops.engine import ownership
from ops.engine.connection import image_or_fail

FAST_PROBE = {"interval": 1_000_000_000, "start_period": 5_000_000_000}


# ELF e_machine -> the platform architecture a binary runs on
ELF_MACHINES = {0x3E: "amd64", 0xB7: "arm64", 0x28: "arm", 0x15: "ppc64le", 0x16: "s390x",
                0x03: "386"}


def read_file(container, path, raw=False):
    """A file's text (bytes if raw) from a container, via the archive API: works with no
    shell or cat."""
    import docker

    try:
        chunks, _ = container.get_archive(path)
    except docker.errors.NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
        member = archive.next()
        handle = archive.extractfile(member) if member and member.isfile() else None
        if handle is None:
            return None
        return handle.read() if raw else handle.read().decode("utf-8", "replace")


def binary_architecture(container, image):
    """(path, architecture) of the image's entrypoint binary, read from its ELF header:
    what the CPU must be, whatever the image's metadata says."""
    config = image.attrs.get("Config") or {}
    command = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
    path = command[0] if command and command[0].startswith("/") else None
    head = read_file(container, path, raw=True) if path else None
    if not head or head[:4] != b"\x7fELF" or len(head) < 20:
        return path, "not an ELF binary" if head else "not found"
    machine = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    return path, ELF_MACHINES.get(machine, f"ELF machine {machine:#x}")


def platform_rows(container, image, platform):
    """The image's recorded platform and its binary's architecture, both `platform`'s."""
    from ops.engine.emulation import image_platform

    built = image_platform(image.attrs) or "none recorded"
    path, arch = binary_architecture(container, image)
    return [outcome("platform", str(platform), built, built == str(platform)),
            outcome(f"binary {path or '(no entrypoint)'}", platform.architecture, arch,
                    arch == platform.architecture)]


def process_user(container):
    """(uid, name) of the container's main process, named by the image's /etc/passwd."""
    top = container.top(ps_args="-o uid,pid")
    uid = int(top["Processes"][0][0])
    names = {}
    for line in (read_file(container, "/etc/passwd") or "").splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2].isdigit():
            names.setdefault(int(fields[2]), fields[0])
    return uid, names.get(uid, str(uid))


def wait_healthy(container, settings, timeout):
    """(healthy, why): the one rule's verdict (ops.run.health.verdict) with Docker's own status
    confirming it, waited for until waiting cannot change it, for timeout seconds in all."""
    from ops.run import health

    report = health.watch(container, settings, timeout, confirmed=True,
                          what="verify: waiting for Docker's health verdict")
    if report is None:
        return False, f"no probe finished in {timeout:g}s"
    return report["healthy"], ("healthy" if report["healthy"] else report["why"])


def run_as_non_root(config_user):
    """(what Kubernetes makes of the image's USER, whether runAsNonRoot admits it). With no
    runAsUser in the pod, the kubelet reads the image's user and admits only a numeric uid
    other than 0: a name fails the pod with CreateContainerConfigError ("image has
    non-numeric user (appuser), cannot verify user is non-root")."""
    user = (config_user or "").split(":", 1)[0]
    if not user:
        return "no USER: runs as root", False
    if not user.isdigit():
        return f"USER {config_user}: a name, cannot verify user is non-root", False
    if int(user) == 0:
        return f"USER {config_user}: root", False
    return f"USER {config_user}", True


def outcome(name, expected, actual, passed):
    return {"check": name, "expected": expected, "actual": actual, "passed": bool(passed)}


def verify(engine, settings, ref, env=None, platform=None):
    """Run the image once (with the app's env) and check file, user, health and size; with
    `platform`, also that the image and its binary are that platform's (run under emulation
    when it is not the engine's own)."""
    from ops.run import containers
    from ops.settings import envvars

    envvars.require(env or {}, settings.app.required_env, task="verify")
    image = image_or_fail(engine, ref)
    started = time.monotonic()
    log = []
    # Removed by id however this ends (a failed check, Ctrl-C, SIGTERM): see ownership.Owned.
    with ownership.Owned(engine, "verify") as ours:
        container = ours.create(ref, detach=True, healthcheck=FAST_PROBE,
                                environment=env or {})
        container.start()
        text = read_file(container, "/app/wizexercise.txt")
        rows = [outcome("/app/wizexercise.txt", settings.wizexercise,
                      "missing" if text is None else text.strip(),
                      text is not None and text.strip() == settings.wizexercise)]
        if platform:
            rows += platform_rows(container, image, platform)
        container.reload()
        if container.status == "running":
            uid, user = process_user(container)
            rows.append(outcome("process user", f"{settings.app_user} (not root)",
                              f"{user} (uid {uid})", user == settings.app_user and uid != 0))
        else:
            rows.append(outcome("process user", f"{settings.app_user} (not root)",
                              f"not running ({container.status})", False))
        healthy, status = wait_healthy(container, settings, settings.health_timeout)
        rows.append(outcome("becomes healthy", "healthy", status, healthy))
        if not healthy:   # why, in the app's own (masked) words
            log = containers.tail_logs(container, settings, lines=10)
    size_mb = round(image.attrs["Size"] / 1e6, 2)
    rows.append(outcome("image size", f"<= {settings.size_budget_mb:g} MB", f"{size_mb} MB",
                      size_mb <= settings.size_budget_mb))
    rows.append(outcome("runAsNonRoot (Kubernetes)", "a numeric USER, not 0",
                        *run_as_non_root(image.attrs["Config"].get("User"))))
    return {"image": ref, "id": image.short_id.split(":")[-1],
            "passed": all(r["passed"] for r in rows), "checks": rows, "log": log,
            "seconds": round(time.monotonic() - started, 2),
            **({"platform": str(platform)} if platform else {})}


def verify_each(engine, settings, tag, env=None):
    """verify() of IMAGE:TAG, or with tasky.platforms of each platform's IMAGE:TAG-linux-ARCH
    (ops/image/platform_images.py). {"passed", "images": [verify()'s result, ...]}."""
    from ops.image import platform_images

    chosen, _ = platform_images.asked(engine, settings)
    if not chosen:
        return verify(engine, settings, f"{settings.image}:{tag}", env=env)
    results = [verify(engine, settings,
                      f"{settings.image}:{platform_images.local_tag(tag, platform)}",
                      env=env, platform=platform) for platform in chosen]
    return {"passed": all(r["passed"] for r in results), "images": results,
            "checks": [dict(row, check=f"{r['platform']}: {row['check']}")
                       for r in results for row in r["checks"]],
            "image": ", ".join(r["image"] for r in results),
            "id": ", ".join(r["id"] for r in results),
            "log": [line for r in results for line in r["log"]]}


def render(result):
    return (table(result["checks"], [("check", "check"), ("expected", "expected"),
                                     ("actual", "actual"), ("passed", "passed")])
            + f"\n{'PASSED' if result['passed'] else 'FAILED'}: {result['image']} ({result['id']})")


def failed(result):
    names = ", ".join(row["check"] for row in result["checks"] if not row["passed"])
    return OpsError(f"verify failed: {names}", fix="the failed rows above say what the image "
                    "lacks", anchor="verify-fails", details=result.get("log") or [])
