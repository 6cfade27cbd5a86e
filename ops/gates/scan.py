"""`inv scan`: the document's vulnerability gate (CRITICAL,HIGH) with Trivy or Grype."""
import datetime
import os
import re
import shutil
import subprocess

from ops.core import answers
from ops.core.answers import Maybe
from ops.core.console import table
from ops.core.errors import OpsError
from ops.core.heartbeat import Heartbeat
from ops.engine.connection import image_or_fail

INSTALL = ("install Trivy (https://aquasecurity.github.io/trivy: apt repository or release "
           "binary) or Grype (https://github.com/anchore/grype)")
RANK = {"UNKNOWN": 0, "NEGLIGIBLE": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}


def pick_scanner(choice):
    if choice in ("trivy", "grype"):
        if not shutil.which(choice):
            raise OpsError(f"{choice} is not installed", fix=INSTALL, anchor="scan-gate-failed")
        return choice
    if choice != "auto":
        raise OpsError(f"unknown scanner {choice!r}", fix="use --scanner trivy, grype or auto",
                       anchor="bad-flag")
    for name in ("trivy", "grype"):
        if shutil.which(name):
            return name
    raise OpsError("no vulnerability scanner installed: a scan cannot pass by default",
                   fix=INSTALL, anchor="scan-gate-failed")


def parse_severities(text, known=RANK):
    """--severity as a list of upper-case names; `known` is the scanner's ranks (ECR's gate
    passes its own, which adds INFORMATIONAL, UNDEFINED and UNTRIAGED)."""
    wanted = [s.strip().upper() for s in (text or "").split(",") if s.strip()]
    if not wanted or any(s not in known for s in wanted):
        names = ", ".join(sorted(known, key=lambda name: -known[name]))   # most severe first
        raise OpsError(f"bad --severity {text!r}", fix=f"a comma list of {names}",
                       anchor="bad-flag")
    return wanted


# What is read of each report: anything else is one line naming the scanner, not a KeyError.
TEXT = Maybe(str)
TRIVY = {"Results": Maybe([{"Target": TEXT, "Vulnerabilities": Maybe([{
    "VulnerabilityID": TEXT, "Severity": TEXT, "PkgName": TEXT, "InstalledVersion": TEXT,
    "FixedVersion": TEXT}])}])}
TRIVY_VERSION = {"VulnerabilityDB": Maybe({"UpdatedAt": TEXT})}
GRYPE = {"matches": Maybe([{
    "vulnerability": {"id": TEXT, "severity": TEXT, "fix": Maybe({"versions": Maybe([str])})},
    "artifact": {"name": TEXT, "version": TEXT, "type": TEXT}}])}
GRYPE_STATUS = {"built": TEXT}


def _run(args, shape, env=None):
    with Heartbeat(f"scan: {' '.join(args[:2])}"):   # a scan takes tens of seconds
        proc = subprocess.run(args, capture_output=True, text=True, env=env)
    if proc.returncode not in (0, 1):   # 1 can mean "findings" for both scanners
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise OpsError(f"{args[0]} failed (exit {proc.returncode})",
                       fix="an offline machine needs --skip-db-update and a database already "
                           "downloaded", anchor="scan-gate-failed", details=tail)
    try:
        return answers.parse(proc.stdout or "{}", shape, f"the output of `{' '.join(args[:2])}`",
                             "scan-gate-failed", fix="check the scanner's version")
    except answers.WrongAnswer as error:
        error.details = proc.stderr.splitlines()[-3:]
        raise


def trivy(ref, severities, skip_db_update):
    args = ["trivy", "image", "--quiet", "--format", "json", "--severity", ",".join(severities)]
    if skip_db_update:
        args.append("--skip-db-update")
    report = _run(args + [ref], TRIVY)
    findings = [{"id": v.get("VulnerabilityID"), "severity": v.get("Severity") or "UNKNOWN",
                 "package": v.get("PkgName"), "installed": v.get("InstalledVersion"),
                 "fixed": v.get("FixedVersion") or "", "target": result.get("Target")}
                for result in report.get("Results") or []
                for v in result.get("Vulnerabilities") or []]
    meta = _run(["trivy", "version", "--format", "json"], TRIVY_VERSION)
    db = (meta.get("VulnerabilityDB") or {}).get("UpdatedAt")
    return findings, db


def grype(ref, severities, skip_db_update):
    env = dict(os.environ, GRYPE_DB_AUTO_UPDATE="false") if skip_db_update else None
    report = _run(["grype", f"docker:{ref}", "-o", "json", "-q"], GRYPE, env=env)
    findings = [{"id": m["vulnerability"].get("id"),
                 "severity": (m["vulnerability"].get("severity") or "UNKNOWN").upper(),
                 "package": m["artifact"].get("name"), "installed": m["artifact"].get("version"),
                 "fixed": ", ".join((m["vulnerability"].get("fix") or {}).get("versions") or []),
                 "target": m["artifact"].get("type")}
                for m in report.get("matches") or []]
    findings = [f for f in findings if f["severity"] in severities]
    status = _run(["grype", "db", "status", "-o", "json"], GRYPE_STATUS, env=env)
    return findings, status.get("built")


def age(timestamp):
    """'3 days' for a scanner's database timestamp, so an offline database shows its staleness.

    Both scanners write UTC (nanoseconds, 'Z' or '+00:00'); the seconds are enough here.
    """
    match = re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", timestamp or "")
    if not match:
        return "unknown"
    built = datetime.datetime.fromisoformat(match.group()).replace(tzinfo=datetime.timezone.utc)
    days = (datetime.datetime.now(datetime.timezone.utc) - built).days
    return f"{days} day{'s' if days != 1 else ''}"


def scan(engine, settings, tag="latest", severity="CRITICAL,HIGH", scanner="auto",
         skip_db_update=False):
    ref = f"{settings.image}:{tag}"
    image_or_fail(engine, ref)
    severities = parse_severities(severity)
    name = pick_scanner(scanner)
    findings, db_built = (trivy if name == "trivy" else grype)(ref, severities, skip_db_update)
    findings.sort(key=lambda f: (-RANK.get(f["severity"], 0), f["id"] or ""))
    return {"image": ref, "scanner": name, "severity": ",".join(severities),
            "database_built": db_built or "unknown", "database_age": age(db_built),
            "findings": findings,
            "passed": not findings}


def render(result):
    findings = (table(result["findings"], [
        ("id", "vulnerability"), ("severity", "severity"), ("package", "package"),
        ("installed", "installed"), ("fixed", "fixed in")]) if result["findings"]
        else "no findings")
    return (findings + f"\n{result['scanner']} on {result['image']}, gate {result['severity']}, "
            f"database {result['database_built']} ({result['database_age']} old): "
            + ("PASSED" if result["passed"] else f"FAILED with {len(result['findings'])} findings"))


def failed(result):
    return OpsError(f"scan gate failed: {len(result['findings'])} {result['severity']} findings",
                    fix="update the packages named in 'fixed in' (usually the base image)",
                    anchor="scan-gate-failed")
