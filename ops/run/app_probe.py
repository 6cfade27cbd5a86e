"""Asking the app whether it is up: through its published port, or by its own HEALTHCHECK."""
import json
import time
import urllib.error
import urllib.request

from ops.core.waiting import within


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


DEFAULT_TIMEOUT = 30.0   # seconds: Docker's own when a HEALTHCHECK sets no --timeout


def probe_timeout(container):
    """The HEALTHCHECK's --timeout in seconds (Config.Healthcheck.Timeout is nanoseconds; 0 or
    absent is Docker's default, 30 s): how long Docker lets one probe run before failing it."""
    nanoseconds = (container.attrs["Config"].get("Healthcheck") or {}).get("Timeout") or 0
    return nanoseconds / 1e9 if nanoseconds > 0 else DEFAULT_TIMEOUT


def probe(container, limit=None):
    """Run the image's own HEALTHCHECK command now, as Docker would, and time it.

    A run longer than the HEALTHCHECK's --timeout fails, as Docker fails it ("timed_out"); it
    is abandoned then (the command may go on in the container, as Docker leaves it). `limit`
    (seconds) can cut the wait shorter, a caller's own deadline: "cut" then says so.
    """
    test = (container.attrs["Config"].get("Healthcheck") or {}).get("Test") or []
    if not test or test[0] == "NONE":
        return {"ok": None, "exit_code": None, "output": "the image declares no HEALTHCHECK"}
    command = ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
    allowed = probe_timeout(container)
    bound = allowed if limit is None else max(0.0, min(allowed, limit))
    started = time.monotonic()
    result = within(bound, lambda: container.exec_run(command, demux=False))
    seconds = round(time.monotonic() - started, 3)
    if result is None:
        cut = bound < allowed   # the caller's deadline came first: no verdict on the probe
        said = "the health command gave no answer within " + (
            f"the {bound:.1f}s left to wait" if cut else f"the HEALTHCHECK's {allowed:g}s timeout")
        return {"ok": False, "exit_code": None, "timed_out": True, "cut": cut, "output": said,
                "seconds": seconds}
    output = (result.output or b"").decode("utf-8", "replace").strip()
    return {"ok": result.exit_code == 0, "exit_code": result.exit_code, "output": output,
            "seconds": seconds}
