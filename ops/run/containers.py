"""Running the Tasky container, watching its health, reading its logs, removing it."""
import json
import time
import urllib.error
import urllib.request

from ops.core import redact
from ops.core.console import table
from ops.core.errors import OpsError
from ops.engine import ownership
from ops.engine.connection import image_or_fail
from ops.run import envvars, ports

FIRST_POLL, LAST_POLL = 0.1, 1.0   # seconds between probes at start: backing off, no storm


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
    """What may be printed of this container's output: passed values masked by value."""
    return redact.Masker(passed_env(container), settings.app.public_env)


def tail_logs(container, settings, lines=20):
    text = container.logs(tail=lines).decode("utf-8", "replace")
    return masker(container, settings).lines(line for line in text.splitlines()
                                             if line.strip())


def container_port(settings):
    return f"{settings.app.container_port}/tcp"


def http_health(port, path="/", timeout=1.0):
    """GET the app's probe path through the published port: the app as a user reaches it."""
    url = f"http://127.0.0.1:{port}{path if path.startswith('/') else '/' + path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            found = {"url": url, "status": response.status, "version": None}
            if "json" in (response.headers.get("Content-Type") or ""):
                found["version"] = (json.loads(response.read() or b"{}") or {}).get("version")
            return found
    except urllib.error.HTTPError as exc:
        return {"url": url, "status": exc.code, "error": f"HTTP {exc.code}"}
    except (OSError, ValueError, AttributeError) as exc:
        return {"url": url, "status": None, "error": str(getattr(exc, "reason", exc))}


def answered(app):
    status = app.get("status")
    return status == "healthcheck" or (isinstance(status, int) and status < 400)


def refuse_conflicts(engine, settings, name):
    import docker

    try:
        holder = engine.containers.get(name)
    except docker.errors.NotFound:
        holder = None
    if holder is not None:
        whose = "a tasky-ops" if ownership.started_by_us(holder) else "another"
        raise OpsError(f"container name {name} is taken by {whose} container "
                       f"({holder.short_id}, {holder.status})",
                       fix=f"inv stop --name {name} removes it, or pick another with --name",
                       anchor="name-taken")
    who = settings.port and ports.describe_holder(engine, settings.port, settings.host_ip)
    if who:
        raise OpsError(f"port {settings.port} is already in use by {who}",
                       fix="stop it (inv stop, docker rm -f, or kill the process) or choose "
                           "another with --port", anchor="port-in-use")


def run(engine, settings, tag="latest", env=None, dev=False):
    """Start the image detached with the app port published; fail if it dies at start.

    Port 0 lets Docker pick a free port, which the result reports. Only the container this
    call created is ever removed (by id): a failed start, an interrupt during the start grace,
    never "whatever now has that name" (a concurrent `inv run` may have won it).
    """
    import docker

    ref = f"{settings.image}:{tag}"
    envvars.require(env or {}, settings.app.required_env)
    image_or_fail(engine, ref)
    name = settings.container
    refuse_conflicts(engine, settings, name)
    volumes = {}
    if dev:
        volumes[str(settings.context_path / "assets")] = {"bind": "/app/assets", "mode": "ro"}
    started = time.monotonic()
    host_port = settings.port or None   # None: Docker picks, as -p 8080 does
    with ownership.Owned(engine, "app", settings.image) as ours:
        try:
            container = ours.keep(engine.containers.create(
                ref, detach=True, name=name, environment=env or {}, volumes=volumes,
                ports={container_port(settings): (settings.host_ip, host_port)},
                labels=ours.labels))
            container.start()
        except docker.errors.APIError as exc:
            raise _start_failed(exc, ref, settings) from exc
        port = published_port(container, settings)
        try:
            app = _watch_start(container, settings, port)
        except OpsError:
            ours.release()   # it exited at start: kept for `inv logs`, as the error says
            raise
        ours.release()   # started and watched: the container is the user's now
    return {"container": name, "id": container.short_id, "image": ref, "port": port,
            "url": f"http://localhost:{port}/", "app": "answering" if answered(app)
            else app.get("error"),
            "env": redact.masked(env or {}, settings.app.public_env), "dev_mount": bool(dev),
            "seconds": round(time.monotonic() - started, 2)}


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
    """Wait until the app answers, or fail with its logs if the process exits at start."""
    deadline = time.monotonic() + settings.start_grace
    app, pause = {}, FIRST_POLL
    while time.monotonic() < deadline:
        container.reload()
        if container.status in ("exited", "dead"):
            state = container.attrs["State"]
            raise OpsError(
                f"container {container.name} exited at start with code {state['ExitCode']}"
                + (" (killed: out of memory)" if state.get("OOMKilled") else ""),
                fix="read its log above (a missing or invalid variable is the usual cause); "
                    "inv logs shows all of it, inv stop removes it",
                anchor="container-wont-start", details=tail_logs(container, settings))
        if settings.app.probe_path:
            app = http_health(port, settings.app.probe_path, timeout=0.5)
            if answered(app):
                return app
        else:   # no HTTP probe configured: the image's own HEALTHCHECK says when it is up
            checked = probe(container)
            if checked["ok"] is None:
                return {}
            if checked["ok"]:
                return {"status": "healthcheck", "url": None}
        time.sleep(pause)
        pause = min(pause * 2, LAST_POLL)
    return app


def probe(container):
    """Run the image's own HEALTHCHECK command now, as Docker would, and time it."""
    test = (container.attrs["Config"].get("Healthcheck") or {}).get("Test") or []
    if not test or test[0] == "NONE":
        return {"ok": None, "exit_code": None, "output": "the image declares no HEALTHCHECK"}
    command = ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
    started = time.monotonic()
    result = container.exec_run(command, demux=False)
    output = (result.output or b"").decode("utf-8", "replace").strip()
    return {"ok": result.exit_code == 0, "exit_code": result.exit_code, "output": output,
            "seconds": round(time.monotonic() - started, 3)}


def health_report(container, settings):
    container.reload()
    state = container.attrs["State"]
    recorded = state.get("Health") or {}
    report = {"container": container.name, "state": state["Status"],
              "docker_status": recorded.get("Status", "none"),
              "failing_streak": recorded.get("FailingStreak", 0),
              "last_probes": [{"end": entry.get("End", "")[:19], "exit_code": entry.get("ExitCode"),
                               "output": " ".join((entry.get("Output") or "").split())[:200]}
                              for entry in (recorded.get("Log") or [])[-3:]]}
    if state["Status"] != "running":
        report.update(live_probe={"ok": False, "output": f"container is {state['Status']}"},
                      healthy=False)
        return report
    report["live_probe"] = probe(container)
    report["live_probe"]["output"] = masker(container, settings).text(
        report["live_probe"]["output"])
    host_port = bound_port(container, settings)
    report["app"] = (http_health(host_port, settings.app.probe_path)
                     if host_port and settings.app.probe_path else None)
    if report["app"] and not report["app"].get("version"):   # an app with no version endpoint
        report["app"]["version"] = (container.image.labels or {}).get(
            "org.opencontainers.image.version")
    if report["live_probe"]["ok"] is None:   # no HEALTHCHECK: the app's own answer decides
        report["healthy"] = bool(report["app"] and answered(report["app"]))
    else:
        report["healthy"] = bool(report["live_probe"]["ok"])
    return report


def health(engine, settings, name=None, wait=False):
    """Docker's recorded health plus a live probe; with wait, poll until healthy or
    settings.health_timeout."""
    container = get(engine, name or settings.container)
    timeout = settings.health_timeout
    started = time.monotonic()
    while True:
        report = health_report(container, settings)
        report["seconds"] = round(time.monotonic() - started, 2)
        if not wait or report["healthy"]:
            return report
        if report["state"] != "running":
            raise OpsError(f"container {container.name} is {report['state']}, not running",
                           fix="read its log above; fix the cause and inv run again",
                           anchor="container-wont-start",
                           details=tail_logs(container, settings))
        if time.monotonic() - started > timeout:
            raise OpsError(
                f"{container.name} not healthy after {timeout:g}s: the health command exited "
                f"{report['live_probe']['exit_code']}",
                fix="the probe output and log above say why; inv doctor checks more",
                anchor="health-check-failing",
                details=["probe: " + report["live_probe"]["output"]]
                + tail_logs(container, settings))
        time.sleep(0.2)


def logs(engine, settings, name=None, tail=100, follow=False, write=print):
    container = get(engine, name or settings.container)
    if not follow:
        return tail_logs(container, settings, lines=tail)
    shown = masker(container, settings)
    for chunk in container.logs(stream=True, follow=True, tail=tail):
        write(shown.text(chunk.decode("utf-8", "replace").rstrip("\n")))
    return []


def stop(engine, settings, name=None, force=False):
    """Remove the container `inv run` started; refuse one tasky-ops did not start."""
    import docker

    name = name or settings.container
    try:
        container = engine.containers.get(name)
    except docker.errors.NotFound:
        return {"container": name, "status": "not found (nothing to stop)"}
    if not ownership.started_by_us(container) and not force:
        raise OpsError(f"container {name} was not started by tasky-ops",
                       fix=f"remove it yourself (docker rm -f {name}) or pass --force",
                       anchor="name-taken")
    container.remove(force=True)
    return {"container": name, "status": f"removed (was {container.status})"}


def render_run(result):
    return table([result], [("container", "container"), ("id", "id"), ("image", "image"),
                            ("url", "url"), ("app", "app"), ("env", "env (masked)"),
                            ("seconds", "seconds")])


def _app_line(app):
    if not app:
        return "port not published"
    if app.get("status"):
        return f"{app['url']}: HTTP {app['status']}, version {app.get('version')}"
    return f"{app['url']}: {app.get('error')}"


def render_health(report):
    probe = report["live_probe"]
    rows = [{"what": "container state", "value": report["state"]},
            {"what": "docker health", "value": f"{report['docker_status']} "
                                               f"(failing streak {report['failing_streak']})"},
            *({"what": f"docker probe {p['end']}", "value": f"exit {p['exit_code']}: {p['output']}"}
              for p in report["last_probes"]),
            {"what": "live probe (image's HEALTHCHECK)",
             "value": f"exit {probe.get('exit_code')}: {probe.get('output')}"},
            {"what": "app from the host", "value": _app_line(report.get("app"))},
            {"what": "verdict", "value": "healthy" if report["healthy"] else "NOT healthy"}]
    return table(rows, [("what", "check"), ("value", "result")])


def unhealthy(report):
    """The failure `inv health` ends with when the report says not healthy."""
    return OpsError(f"{report['container']} is not healthy ({report['state']}, docker says "
                    f"{report['docker_status']})", fix="the rows above say which probe failed; "
                    f"inv logs --name {report['container']} says why",
                    anchor="health-check-failing")


def render_stop(result):
    return f"{result['container']}: {result['status']}"
