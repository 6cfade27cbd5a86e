"""`inv health`: Docker's recorded health and a live run of the probe, waited for with --wait;
and the one rule that calls a container healthy (verdict), which every task asks."""
import time

from ops.core.console import table
from ops.core.errors import OpsError
from ops.core.heartbeat import Heartbeat
from ops.core.waiting import wait_until, within
from ops.run import app_probe, containers


def probe_outcome(probe):
    """The live probe as the rule sees it: ok, failed, timed out, or none (no HEALTHCHECK)."""
    if not probe or probe.get("ok") is None:
        return "none"
    if probe["ok"]:
        return "ok"
    return "timed out" if probe.get("timed_out") else "failed"


def verdict(report, confirmed=False):
    """(healthy, why): whether the container the report describes is healthy. The one place
    "healthy" is decided: inv health, verify's row, demo, dev and doctor's row all ask it.

    The report gives the container's state ("running", "exited", ...), Docker's recorded
    status (starting, healthy, unhealthy, none), the live probe (the image's HEALTHCHECK run
    now: ok, failed, timed out, none when the image declares none) and the app's answer
    through its published port (answered, failed, none when not asked). The first rule
    that applies decides:
      1. a container that is not running is not healthy;
      2. Docker says unhealthy: not healthy, whatever the live probe says now (Docker counts
         a streak of failures; one pass does not undo it, Docker's next probe will);
      3. the live probe failed or timed out (ran past the HEALTHCHECK's --timeout, which
         Docker counts as a failure): not healthy;
      4. confirmed (verify: the document's check is Docker's own status) and Docker has not
         said healthy: not healthy;
      5. the live probe passed: healthy (Docker's first probe runs one interval after the
         start, so until then it says starting: the live probe is the fresher word);
      6. no live probe: healthy only when the app answered through its port.
    """
    state, docker = report["state"], report.get("docker_status") or "none"
    probe = report.get("live_probe") or {}
    ran, app = probe_outcome(probe), report.get("app")
    if state != "running":
        return False, f"container is {state}"
    if docker == "unhealthy":
        return False, "docker says unhealthy"
    if ran == "timed out":
        return False, probe.get("output") or "the health command timed out"
    if ran == "failed":
        return False, f"the health command exited {probe.get('exit_code')}"
    if confirmed and docker != "healthy":
        return False, ("no HEALTHCHECK" if docker == "none" else f"docker says {docker}")
    if ran == "ok":
        return True, f"the health command passed; docker says {docker}"
    if app and app_probe.answered(app):
        return True, f"no HEALTHCHECK; {app['url']} answered HTTP {app['status']}"
    return False, ("no HEALTHCHECK and " + (f"{app['url']}: {app.get('error')}" if app
                                            else "no published port to ask"))


def final(report, confirmed=False):
    """Whether waiting can no longer change the verdict: the container stopped; or, when
    Docker's own word must confirm (verify), Docker said unhealthy, or has no HEALTHCHECK."""
    return report["state"] != "running" or (
        confirmed and report.get("docker_status") in ("unhealthy", "none"))


def health_report(container, settings, confirmed=False, limit=None):
    """Docker's record, a live probe (bounded by the HEALTHCHECK's --timeout, and by limit
    seconds when given), the app's answer, and the verdict on them. Docker's status is read
    after the probe too: the worse of the two readings counts."""
    container.reload()
    before = (container.attrs["State"].get("Health") or {}).get("Status", "none")
    running = container.attrs["State"]["Status"] == "running"
    live = (app_probe.probe(container, limit) if running else None)
    if running:
        container.reload()
    state = container.attrs["State"]
    recorded = state.get("Health") or {}
    after = recorded.get("Status", "none")
    report = {"container": container.name, "state": state["Status"],
              "docker_status": "unhealthy" if "unhealthy" in (before, after) else after,
              "failing_streak": recorded.get("FailingStreak", 0),
              "last_probes": [{"end": entry.get("End", "")[:19], "exit_code": entry.get("ExitCode"),
                               "output": " ".join((entry.get("Output") or "").split())[:200]}
                              for entry in (recorded.get("Log") or [])[-3:]]}
    if live is None:
        live = {"ok": False, "exit_code": None, "output": f"container is {state['Status']}"}
    else:
        live["output"] = containers.masker(container, settings).text(live["output"])
        host_port = containers.bound_port(container, settings)
        report["app"] = (app_probe.http_health(host_port, settings.app.probe_path)
                         if host_port and settings.app.probe_path else None)
        if report["app"] and not report["app"].get("version"):   # no version endpoint
            report["app"]["version"] = (container.image.labels or {}).get(
                "org.opencontainers.image.version")
    report["live_probe"] = live
    report["healthy"], report["why"] = verdict(report, confirmed)
    return report


def watch(container, settings, timeout, what, confirmed=False):
    """Poll the verdict until it says healthy, or until waiting cannot change it (final), for
    at most `timeout` seconds in all, probes included: a report still running at the deadline
    is abandoned, so a hung engine or health command never holds the wait past it.

    Returns the report that ended the wait, else the last one whose probe finished (not one
    the deadline cut short), or None when none did; each with its "seconds"."""
    started = time.monotonic()
    deadline = started + timeout
    last = {}

    def settled():
        left = deadline - time.monotonic()
        report = within(left, lambda: health_report(container, settings, confirmed=confirmed,
                                                    limit=left))
        if report is None:
            return None
        if not report["live_probe"].get("cut") or "report" not in last:
            last["report"] = _timed(report, started)
        return report if report["healthy"] or final(report, confirmed) else None

    waited = wait_until(settled, timeout=timeout, what=what)
    return waited.value if waited else last.get("report")


def health(engine, settings, name=None, wait=False):
    """Docker's recorded health plus a live probe; with wait, poll until healthy, for at
    most settings.health_timeout seconds in all, probes included."""
    container = containers.get(engine, name or settings.container)
    if not wait:
        started = time.monotonic()
        with Heartbeat(f"{container.name}: running the image's HEALTHCHECK"):
            return _timed(health_report(container, settings), started)
    timeout = settings.health_timeout
    report = watch(container, settings, timeout, f"{container.name}: waiting for healthy")
    if report and report["healthy"]:
        return report
    if report and final(report):
        raise containers.stopped(container, settings,
                                 f"container {container.name} is {report['state']}, not running",
                                 fix="read its log above; fix the cause and inv run again")
    said = report["why"] if report else "no probe finished in that time"
    raise OpsError(f"{container.name} not healthy after {timeout:g}s: {said}",
                   fix="the probe output and log above say why; inv doctor checks more",
                   anchor="health-check-failing",
                   details=(["probe: " + report["live_probe"]["output"]] if report else [])
                   + containers.tail_logs(container, settings))


def _timed(report, started):
    report["seconds"] = round(time.monotonic() - started, 2)
    return report


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
            {"what": "verdict", "value": "healthy" if report["healthy"]
             else f"NOT healthy: {report['why']}"}]
    return table(rows, [("what", "check"), ("value", "result")])


def unhealthy(report):
    """The failure `inv health` ends with when the report says not healthy."""
    why = report["why"]
    if "docker says" not in why:
        why += f"; docker says {report['docker_status']}"
    return OpsError(f"{report['container']} is not healthy: {why}", fix="the rows above say "
                    f"which probe failed; inv logs --name {report['container']} says why",
                    anchor="health-check-failing")
