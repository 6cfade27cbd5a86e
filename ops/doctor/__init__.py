"""`inv doctor`: every documented failure diagnosed for real, each with its cause and fix.

The local checks run in a thread pool next to the AWS checks (short timeouts), so the
answer takes as long as the slowest check. `--fix` applies only the safe fixes a row
names in its `autofix`, then checks again; anything else stays a command to run.
"""
import collections
import subprocess
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

from ops.core.console import table
from ops.core.errors import OpsError
from ops.doctor import aws as aws_checks
from ops.doctor import engine as engine_checks
from ops.doctor import fixes
from ops.doctor import inputs as input_checks
from ops.doctor import registry as registry_checks
from ops.doctor import run as run_checks
from ops.doctor.rows import row

AREAS = ("python", "docker", "build", "run", "aws", "registry")
REMOTE = ("aws", "registry")   # the areas that need AWS: checked once, skipped by --no-aws
# (area, check) in display order; each check takes (engine or None, settings).
LOCAL_CHECKS = (("python", input_checks.python_packages), ("docker", engine_checks.docker_cli),
                ("docker", engine_checks.sudo_user_group), ("docker", engine_checks.disk_space),
                ("docker", engine_checks.build_backend), ("docker", engine_checks.platforms),
                ("build", input_checks.base_images), ("build", input_checks.git_state),
                ("build", input_checks.go_modules), ("run", run_checks.host_port),
                ("run", run_checks.container), ("run", run_checks.variables),
                ("run", run_checks.app_log))
# Where a check that broke unexpectedly sends the reader.
AREA_ANCHORS = {"python": "python-packages", "docker": "docker-daemon-not-running",
                "build": "build-fails", "run": "container-wont-start"}
SHOWN = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "skip": "skip"}


def run_check(area, check, engine, settings):
    """A check's rows; a Docker or OS error it did not expect becomes a failed row."""
    import docker

    try:
        return check(engine, settings)
    except (OpsError, docker.errors.DockerException, OSError,
            subprocess.SubprocessError) as exc:
        return [row(area, check.__name__.replace("_", " "), "fail", f"the check failed: {exc}",
                    "run inv doctor again; the message says what broke",
                    anchor=AREA_ANCHORS[area])]


def diagnose(settings, aws=True):
    """(rows in area order, seconds for the local part and for AWS)."""
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(LOCAL_CHECKS) + 1) as pool:
        aws_part = pool.submit(_timed, aws_and_registry_rows, settings) if aws else None
        engine, rows = engine_checks.connect()
        futures = [pool.submit(run_check, area, check, engine, settings)
                   for area, check in LOCAL_CHECKS]
        for future in futures:
            rows.extend(future.result())
        local = time.monotonic() - started
        if aws_part is None:
            aws_rows, aws_seconds = [row("aws", "AWS", "skip", "--no-aws")], 0.0
        else:
            aws_rows, aws_seconds = aws_part.result()
    rows.sort(key=lambda r: AREAS.index(r["area"]))  # stable: check order within an area
    return rows + aws_rows, {"local": round(local, 2), "aws": round(aws_seconds, 2)}


def aws_and_registry_rows(settings):
    """The AWS rows, then the registry's (account, region, IAM, docker config) when the
    credentials work: both need AWS, and --no-aws skips both."""
    rows = aws_checks.aws_rows(settings)
    if any(r["check"] == "credentials" and r["status"] == "ok" for r in rows):
        rows += registry_checks.rows(settings)
    return rows


def _timed(function, *args):
    started = time.monotonic()
    result = function(*args)
    return result, time.monotonic() - started


def verdict(rows):
    """(one line, ok): ok when nothing fails; warnings and skips are counted, not failed."""
    counts = collections.Counter(r["status"] for r in rows)
    fails, warns = counts["fail"], counts["warn"]
    extra = ", ".join(f"{n} {word}" for n, word in ((warns, _plural(warns, "warning")),
                                                   (counts["skip"], "skipped")) if n)
    if fails:
        line = f"FAIL: {fails} {_plural(fails, 'check')} failing" + (f", {extra}" if extra else "")
        line += ": fix the FAIL rows first"
        if all(r["area"] in REMOTE for r in rows if r["status"] == "fail"):
            line += " (inv doctor --no-aws checks only this machine)"
        return line, False
    return (f"OK: {counts['ok']} {_plural(counts['ok'], 'check')} passed"
            + (f", {extra}" if extra else "")), True


def _plural(n, word):
    return word if n == 1 else word + "s"


def doctor(settings, aws=True, fix=False, progress=print):
    """Check everything; with fix, apply the safe fixes and check again (AWS only once)."""
    started = time.monotonic()
    rows, seconds = diagnose(settings, aws=aws)
    fixed, tried = [], set()
    while fix:
        todo = [r["autofix"] for r in rows if r["autofix"] and r["status"] != "ok"
                and r["autofix"] not in tried]
        if not todo:
            break
        for action in dict.fromkeys(todo):
            tried.add(action)
            fixed.append(fixes.apply_fix(action, settings, progress))
        local, seconds_again = diagnose(settings, aws=False)   # fixes are all local
        rows = ([r for r in local if r["area"] not in REMOTE]
                + [r for r in rows if r["area"] in REMOTE])
        seconds["local"] = seconds_again["local"]
    line, ok = verdict(rows)
    seconds["total"] = round(time.monotonic() - started, 2)
    return {"verdict": line, "ok": ok, "rows": rows, "fixed": fixed, "seconds": seconds}


# --- for people -------------------------------------------------------------------------

def render(result, width=76):
    """The table grouped by area, the fixes for the rows that need one, then the verdict."""
    shown, previous = [], None
    for r in result["rows"]:
        detail = "\n".join(_wrap(line, width, "", "  ")
                           for line in (r["detail"] or "").splitlines())
        shown.append({"area": r["area"] if r["area"] != previous else "", "check": r["check"],
                      "status": SHOWN[r["status"]], "detail": detail})
        previous = r["area"]
    lines = [table(shown, [("area", "area"), ("check", "check"), ("status", "status"),
                           ("detail", "detail")])]
    todo = [r for r in result["rows"] if r["status"] in ("fail", "warn") and r["fix"]]
    if todo:
        lines += ["", "fixes:"]
        for r in todo:
            text = r["fix"].rstrip(".") + "."
            if r["autofix"] and "inv doctor --fix" not in text:
                text += f" ({fixes.FIX_SAYS[r['autofix']]}.)"
            if r["anchor"]:
                text += f" See RUNBOOK.md#{r['anchor']}"
            lines.append(_wrap(f"{r['check']}: {text}", width + 20, "  ", "    "))
    if result["fixed"]:
        lines += ["", "--fix did:"] + [f"  {f['result']}" for f in result["fixed"]]
    lines += ["", "verdict: " + result["verdict"]]
    return "\n".join(lines)


def _wrap(text, width, first, rest):
    return textwrap.fill(text, width, initial_indent=first, subsequent_indent=rest,
                         break_on_hyphens=False, break_long_words=False)
