"""Running the app's container, reading its logs, removing it."""
import time

from ops.core import redact
from ops.core.console import table
from ops.core.errors import OpsError
from ops.core.waiting import wait_until
from ops.engine import locks, ownership
from ops.engine.connection import image_or_fail
from ops.run import app_probe, ports
from ops.settings import envvars


def get(engine, name):
    import docker

    try:
        return engine.containers.get(name)
    except docker.errors.NotFound as exc:
        raise OpsError(f"no container named {name}", fix="start one with `inv run`",
                       anchor="container-wont-start") from exc


def passed_env(container):
    """The variables given to this container (-e, env files), not those its image sets."""
    def pairs(items):
        return dict(item.split("=", 1) for item in items or [] if "=" in item)

    image_env = pairs((container.image.attrs.get("Config") or {}).get("Env"))
    return {key: value for key, value in pairs(container.attrs["Config"].get("Env")).items()
            if image_env.get(key) != value}


def masker(container, settings):
    """What may be printed of this container's output. Its passed values are made known to
    the redactor every byte goes out through; the Masker hides them in text a report keeps."""
    passed = passed_env(container)
    for key, value in passed.items():
        if not envvars.public(key, settings.app):
            redact.SECRETS.add(value)
    return redact.Masker(passed, shown_names(passed, settings))


def shown_names(env, settings):
    """The names whose values may be shown: public, and not declared secret."""
    return [key for key in env if envvars.public(key, settings.app)]


def tail_logs(container, settings, lines=20):
    text = container.logs(tail=lines).decode("utf-8", "replace")
    return masker(container, settings).lines(line for line in text.splitlines()
                                             if line.strip())


def stopped(container, settings, message, fix):
    """The error for a container whose process ended at start (run) or before it was healthy
    (health --wait): message and fix, with its log; or, when the log or the engine's State.Error
    says `exec format error`, that cause named (the image's platform against the engine's)
    with its fix (ops/engine/emulation.py). The one place both ask."""
    import docker

    from ops.engine import emulation

    lines = tail_logs(container, settings)
    said = "\n".join([*lines, container.attrs["State"].get("Error") or ""])
    if emulation.EXEC_FORMAT.search(said):
        image = engine = emulated = None
        try:
            image = emulation.image_platform(container.image.attrs)
            engine = emulation.engine_platform(container.client)
            emulated = emulation.status(image, engine)[0]
        except (OpsError, docker.errors.DockerException, KeyError):
            pass   # what is known is said: the image's platform, or only the error
        cause, fix = emulation.exec_format(said, image, engine, emulated)
        return OpsError(f"{message}: {cause}", fix=fix, anchor="multi-arch", details=lines)
    return OpsError(message, fix=fix, anchor="container-wont-start", details=lines)


def container_port(settings):
    return f"{settings.app.container_port}/tcp"


def refuse_conflicts(engine, settings, name):
    import docker

    try:
        holder = engine.containers.get(name)
    except docker.errors.NotFound:
        holder = None
    ledger = ownership.Ledger.of(settings)
    if holder is not None:
        ours = ledger.owns_container(holder)
        whose = "a tasky-ops" if ours else "another"
        remove = (f"inv stop --name {name} removes it" if ours else
                  f"it is not this checkout's: remove it yourself (docker rm -f {name})")
        raise OpsError(f"container name {name} is taken by {whose} container "
                       f"({holder.short_id}, {holder.status})",
                       fix=f"{remove}, or pick another with --name", anchor="name-taken")
    who = settings.port and ports.describe_holder(engine, settings.port, settings.host_ip,
                                                  ledger)
    if who:
        raise OpsError(f"port {settings.port} is already in use by {who}",
                       fix="stop it (inv stop, docker rm -f, or kill the process) or choose "
                           "another with --port", anchor="port-in-use")


def owner(engine, settings):
    """What owns an app container until it is the user's (ownership.Owned): `inv run`'s own,
    or one a flow holds across its later steps (demo keeps the app only if all of it passed)."""
    return ownership.Owned(engine, "app", settings.image, ledger=ownership.Ledger.of(settings))


def run(engine, settings, tag="latest", env=None, dev=False, owned_by=None, supervised=None):
    """Start the image detached with the app port published; fail if it dies at start.

    Port 0 lets Docker pick a free port, which the result reports. Only the container this
    call created is ever removed (by id): a failed start, an interrupt during the start grace,
    never "whatever now has that name" (a concurrent `inv run` may have won it). It is
    created, registered and only then started (Owned.create); the name is held
    (ops.engine.locks) from the check that it is free to the end. With `owned_by`, the
    caller's Owned keeps it until the caller releases it; else it is the user's once it
    answers. `supervised`: inv dev's entrypoint, command and extra volumes (flows/dev_fast.py).
    """
    with locks.holding(settings.container, "run"):   # a second task on the name stops here
        if owned_by is not None:
            return _run(engine, settings, tag, env, dev, owned_by, supervised)
        with owner(engine, settings) as ours:
            result = _run(engine, settings, tag, env, dev, ours, supervised)
            ours.release()   # started and watched: the container is the user's now
        return result


def _run(engine, settings, tag, env, dev, ours, supervised=None):
    ref = f"{settings.image}:{tag}"
    envvars.require(env or {}, settings.app.required_env)
    image_or_fail(engine, ref)
    refuse_conflicts(engine, settings, settings.container)
    return _start(engine, settings, ref, env, dev, ours, supervised)


def _start(engine, settings, ref, env, dev, ours, supervised=None):
    import docker

    name = settings.container
    options = dict(supervised or {})
    volumes = options.pop("volumes", {})
    if dev:
        volumes[str(settings.context_path / "assets")] = {"bind": "/app/assets", "mode": "ro"}
    started = time.monotonic()
    host_port = settings.port or None   # None: Docker picks, as -p 8080 does
    try:
        container = ours.create(ref, detach=True, name=name, environment=env or {},
                                volumes=volumes, **options,
                                ports={container_port(settings): (settings.host_ip, host_port)})
        container.start()
    except docker.errors.APIError as exc:
        raise _start_failed(exc, ref, settings) from exc
    port = published_port(container, settings)
    try:
        app = _watch_start(container, settings, port)
    except OpsError:
        ours.release()   # it exited at start: kept for `inv logs`, as the error says
        raise
    return {"container": name, "id": container.short_id, "image": ref, "port": port,
            "url": f"http://localhost:{port}/", "app": "answering" if app_probe.answered(app)
            else app.get("error"),
            "env": redact.masked(env or {}, shown_names(env or {}, settings)),
            "dev_mount": bool(dev), "seconds": round(time.monotonic() - started, 2),
            "raw_log_secrets": raw_log_secrets(
                container, settings, container.logs(tail=200).decode("utf-8", "replace"))}


def _start_failed(exc, ref, settings):
    text = str(exc)
    if exc.status_code == 409 and "is already in use" in text:
        return OpsError(f"container name {settings.container} was taken while starting (another "
                        "inv run at the same moment?)", fix=f"inv stop --name {settings.container}"
                        " removes it, or pick another with --name", anchor="name-taken")
    if "port is already allocated" in text or "address already in use" in text:
        return OpsError(f"port {settings.port} is already in use",
                        fix="choose another with --port", anchor="port-in-use")
    return OpsError(f"docker could not start {ref}: {exc.explanation or exc}",
                    fix="read the message; inv doctor checks the engine",
                    anchor="container-wont-start")


def published_port(container, settings):
    """The host port Docker bound (the one it picked for --port 0)."""
    if settings.port:
        return settings.port
    container.reload()
    return bound_port(container, settings)


def bound_port(container, settings):
    """The host port the app's port is published on, as last read from Docker, or None."""
    bindings = (container.attrs["NetworkSettings"].get("Ports") or {}).get(
        container_port(settings)) or []
    return int(bindings[0]["HostPort"]) if bindings else None


def _watch_start(container, settings, port):
    """Wait until the app answers, or fail with its logs if the process exits at start.

    After settings.start_grace: the last HTTP probe's answer ({} when there was none)."""
    last = {"app": {}}

    def answering():
        container.reload()
        if container.status in ("exited", "dead"):
            state = container.attrs["State"]
            raise stopped(
                container, settings,
                f"container {container.name} exited at start with code {state['ExitCode']}"
                + (" (killed: out of memory)" if state.get("OOMKilled") else ""),
                fix="read its log above (a missing or invalid variable is the usual cause); "
                    "inv logs shows all of it, inv stop removes it")
        if settings.app.probe_path:
            last["app"] = app_probe.http_health(port, settings.app.probe_path, timeout=0.5)
            return last["app"] if app_probe.answered(last["app"]) else None
        # No HTTP probe configured: the image's own HEALTHCHECK says when it is up.
        checked = app_probe.probe(container)
        if checked["ok"] is None:
            return {}
        return {"status": "healthcheck", "url": None} if checked["ok"] else None

    # Polled every 50-200 ms, not with the default back-off to 1 s: an app that answers
    # 0.35 s after its start was otherwise seen at 0.7 s, on every `inv run` and dev cycle.
    waited = wait_until(answering, timeout=settings.start_grace, first=0.05, most=0.2,
                        what=f"{container.name}: waiting for the app to answer")
    return waited.value if waited else last["app"]


def logs(engine, settings, name=None, tail=100, follow=False, write=print, progress=None):
    """The container's log, masked; a warning (once a variable) when the raw log holds a
    secret's value, which `docker logs` and every log shipper get unmasked."""
    from ops.core.console import progress as to_stderr

    progress = progress or to_stderr
    container = get(engine, name or settings.container)
    warned = set()

    def warn_once(text):
        names = [n for n in raw_log_secrets(container, settings, text) if n not in warned]
        if names:
            warned.update(names)
            progress(raw_log_warning(names))

    if not follow:
        warn_once(container.logs(tail=tail).decode("utf-8", "replace"))
        return tail_logs(container, settings, lines=tail)
    shown = masker(container, settings)
    for chunk in container.logs(stream=True, follow=True, tail=tail):
        text = chunk.decode("utf-8", "replace").rstrip("\n")
        warn_once(text)
        write(shown.text(text))
    return []


def raw_log_secrets(container, settings, text):
    """The names of the secret variables passed to the container whose value, in any form,
    the app itself printed: the raw log holds them; only tasky-ops's own output masks them."""
    return sorted(key for key, value in passed_env(container).items()
                  if value and not envvars.public(key, settings.app)
                  and any(form in text for form in redact.forms(value)))


def raw_log_warning(names):
    listed = ", ".join(names)
    return (f"warning: the app prints the value of {listed} in its own log: `docker logs` and "
            "any log shipper see it unmasked (tasky-ops masks only its own output); make the "
            "app redact it before logging (RUNBOOK.md#app-logs-a-secret)")


def stop(engine, settings, name=None, force=False):
    """Remove the container `inv run` started in this checkout (ops/engine/ownership.py's
    rule); refuse any other, whatever its labels say, unless forced."""
    import docker

    name = name or settings.container
    try:
        container = engine.containers.get(name)
    except docker.errors.NotFound:
        return {"container": name, "status": "not found (nothing to stop)"}
    ledger = ownership.Ledger.of(settings)
    if not ledger.owns_container(container) and not force:
        raise OpsError(f"container {name} was not started by tasky-ops from this checkout "
                       f"({container.short_id}: no ownership record of it; labels are "
                       "inherited, so they prove nothing)",
                       fix=f"remove it yourself (docker rm -f {name}) or pass --force",
                       anchor="name-taken")
    container.remove(force=True)
    ledger.forget("container", [container.id])
    return {"container": name, "status": f"removed (was {container.status})"}


def render_run(result):
    text = table([result], [("container", "container"), ("id", "id"), ("image", "image"),
                            ("url", "url"), ("app", "app"), ("env", "env (masked)"),
                            ("seconds", "seconds")])
    names = result.get("raw_log_secrets")
    return text + ("\n" + raw_log_warning(names) if names else "")


def render_stop(result):
    return f"{result['container']}: {result['status']}"
