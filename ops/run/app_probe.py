"""Asking the app whether it is up: through its published port, or by its own HEALTHCHECK."""
import json
import time
import urllib.error
import urllib.request


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
