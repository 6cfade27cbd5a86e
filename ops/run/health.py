"""`inv health`: Docker's recorded health and a live run of the probe, waited for with --wait."""
import threading
import time

from ops.core.console import table
from ops.core.errors import OpsError
from ops.core.waiting import wait_until
from ops.run import app_probe, containers


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
    report["live_probe"] = app_probe.probe(container)
    report["live_probe"]["output"] = containers.masker(container, settings).text(
        report["live_probe"]["output"])
    host_port = containers.bound_port(container, settings)
    report["app"] = (app_probe.http_health(host_port, settings.app.probe_path)
                     if host_port and settings.app.probe_path else None)
    if report["app"] and not report["app"].get("version"):   # an app with no version endpoint
        report["app"]["version"] = (container.image.labels or {}).get(
            "org.opencontainers.image.version")
    if report["live_probe"]["ok"] is None:   # no HEALTHCHECK: the app's own answer decides
        report["healthy"] = bool(report["app"] and app_probe.answered(report["app"]))
    else:
        report["healthy"] = bool(report["live_probe"]["ok"])
    return report


def health(engine, settings, name=None, wait=False):
    """Docker's recorded health plus a live probe; with wait, poll until healthy, for at
    most settings.health_timeout seconds in all, probes included."""
    container = containers.get(engine, name or settings.container)
    started = time.monotonic()
    if not wait:
        return _timed(health_report(container, settings), started)
    timeout = settings.health_timeout
    deadline = started + timeout
    last = {}

    def healthy():
        # A probe still running at the deadline is abandoned: a hung health command must
        # not hold `--timeout S` past S.
        report = _within(deadline - time.monotonic(), lambda: health_report(container, settings))
        if report is None:
            return None
        last["report"] = _timed(report, started)
        if report["healthy"]:
            return report
        if report["state"] != "running":
            raise OpsError(f"container {container.name} is {report['state']}, not running",
                           fix="read its log above; fix the cause and inv run again",
                           anchor="container-wont-start",
                           details=containers.tail_logs(container, settings))
        return None

    waited = wait_until(healthy, timeout=timeout, what=f"{container.name}: waiting for healthy")
    if waited:
        return waited.value
    report = last.get("report")
    probe = report["live_probe"] if report else {}
    said = (f"the health command exited {probe['exit_code']}" if report else
            "no probe finished in that time")
    raise OpsError(f"{container.name} not healthy after {timeout:g}s: {said}",
                   fix="the probe output and log above say why; inv doctor checks more",
                   anchor="health-check-failing",
                   details=(["probe: " + probe["output"]] if report else [])
                   + containers.tail_logs(container, settings))


def _timed(report, started):
    report["seconds"] = round(time.monotonic() - started, 2)
    return report


def _within(seconds, call):
    """call()'s result, or None when it has not returned within `seconds`. It is left to
    finish on a daemon thread, which never holds the process open."""
    done = {}

    def work():
        try:
            done["value"] = call()
        except Exception as exc:  # noqa: BLE001 (not swallowed: the waiting thread raises it)
            done["error"] = exc

    if seconds <= 0:
        return None
    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(seconds)
    if "error" in done:
        raise done["error"]
    return done.get("value")


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
