"""`inv scan --ecr`: ECR's own scan of a pushed image as the release gate.

Polls describe_image_scan_findings in the project's one poll loop (ops.core.waiting), not
boto3's image_scan_complete waiter (it gives up on FAILED with an unhelpful WaiterError and
knows nothing of our deadline); every call goes through ops.registry.ecr. It starts a scan
when scan on push did not run, and reads basic and enhanced (Inspector) findings. A scan
that did not finish never passes the gate.
"""
import time

from ops.core.console import table
from ops.core.errors import OpsError
from ops.core.waiting import wait_until
from ops.gates import scan
from ops.registry import ecr

RANK = dict(scan.RANK, INFORMATIONAL=0, UNDEFINED=0, UNTRIAGED=0)
DONE = ("COMPLETE", "ACTIVE")
WAITING = ("IN_PROGRESS", "PENDING")
POLL_SECONDS = 5.0


def image_id(ref):
    return {"imageDigest": ref} if ref.startswith("sha256:") else {"imageTag": ref}


def basic(finding):
    attrs = {a["key"]: a.get("value") for a in finding.get("attributes") or []}
    return {"id": finding.get("name"), "severity": finding.get("severity", "UNDEFINED"),
            "package": attrs.get("package_name"), "installed": attrs.get("package_version"),
            "fixed": "", "target": "os"}


def enhanced(finding):
    details = finding.get("packageVulnerabilityDetails") or {}
    packages = details.get("vulnerablePackages") or [{}]
    return {"id": details.get("vulnerabilityId") or finding.get("title"),
            "severity": finding.get("severity", "UNDEFINED"),
            "package": packages[0].get("name"), "installed": packages[0].get("version"),
            "fixed": packages[0].get("fixedInVersion") or "",
            "target": packages[0].get("packageManager") or finding.get("type")}


class Scanner:
    """The ECR calls of one gate, on one client (the cached one unless given)."""

    # Answers that are states of the scan or the image, not failures of the call.
    ANSWERS = ("ScanNotFoundException", "UnsupportedImageTypeException",
               "LimitExceededException", "ImageNotFoundException")

    def __init__(self, settings, client=None):
        self.settings, self.client = settings, client

    def call(self, method, **kwargs):
        try:
            return ecr.call(self.settings, method, api=self.client,
                            repositoryName=self.settings.ecr.repository, **kwargs)
        except ecr.AwsError as error:
            if error.code in self.ANSWERS:
                return {"error": error.code, "message": error.reply}
            raise

    def findings(self, ident):
        """Every page of findings; the first page's status and counts."""
        first = page = self.call("describe_image_scan_findings", imageId=ident)
        out = []
        while "error" not in page:
            body = page.get("imageScanFindings") or {}
            out += [basic(f) for f in body.get("findings") or []]
            out += [enhanced(f) for f in body.get("enhancedFindings") or []]
            if not page.get("nextToken"):
                break
            page = self.call("describe_image_scan_findings", imageId=ident,
                             nextToken=page["nextToken"])
        return first, out


def missing_image(settings, ref):
    return OpsError(f"ECR repository {settings.ecr.repository} has no image {ref}",
                    fix="inv images lists what it holds", anchor="promote-source-missing")


def ecr_scan(settings, digest_or_tag="latest", wait_seconds=0, severity="CRITICAL,HIGH",
             client=None, sleep=time.sleep, clock=time.monotonic, progress=print):
    """ECR's scan of the image as a gate; the same result shape as ops.gates.scan.scan."""
    severities = scan.parse_severities(severity, RANK)
    ident = image_id(digest_or_tag)
    scanner = Scanner(settings, client)
    wait = float(wait_seconds or 0)
    deadline = clock() + wait
    seen = {"status": None, "started": False}

    def finished():
        """(page, findings, status) once the scan is done; None while it runs."""
        page, findings = scanner.findings(ident)
        if page.get("error") == "ScanNotFoundException" and not seen["started"]:
            start_scan(settings, scanner, ident, digest_or_tag, progress)
            seen["started"] = True   # LimitExceeded means a scan ran today: read it
            page, findings = scanner.findings(ident)
        status = running_status(settings, digest_or_tag, page)
        if status in DONE:
            return page, findings, status
        seen["status"] = status
        left = deadline - clock()
        if left > 0:
            progress(f"ecr scan: {status}, {left:.0f}s left")
        return None

    # Polled at a steady POLL_SECONDS and no heartbeat of the loop's own: each poll prints
    # its line, and each ECR call inside has ecr.call's heartbeat.
    waited = wait_until(finished, timeout=wait, what=f"ECR scan of {digest_or_tag}",
                        first=POLL_SECONDS, most=POLL_SECONDS, clock=clock, sleep=sleep,
                        heartbeat=False)
    if waited.timed_out:
        raise OpsError(f"ECR scan of {digest_or_tag} is still {seen['status']} after "
                       f"{wait:g}s; an unfinished scan does not pass",
                       fix="wait longer: inv scan --ecr --wait 300", anchor="ecr-scan-gate")
    page, findings, status = waited.value
    return result(settings, digest_or_tag, page, findings, severities, status)


def start_scan(settings, scanner, ident, ref, progress):
    """Start the scan that scan on push did not run; an image ECR cannot scan stops here."""
    progress(f"ecr scan: no scan of {ref} yet (scan on push off?); starting one")
    begun = scanner.call("start_image_scan", imageId=ident)
    if begun.get("error") == "UnsupportedImageTypeException":
        raise unsupported(settings, ref, begun["message"])
    if begun.get("error") == "ImageNotFoundException":
        raise missing_image(settings, ref)


def running_status(settings, ref, page):
    """The scan's status from a findings page; raises when the scan can never pass."""
    error = page.get("error")
    if error == "ImageNotFoundException":
        raise missing_image(settings, ref)
    status = (page.get("imageScanStatus") or {}).get("status", "IN_PROGRESS")
    description = (page.get("imageScanStatus") or {}).get("description", "")
    if status == "UNSUPPORTED_IMAGE":
        raise unsupported(settings, ref, description)
    if status not in DONE and status not in WAITING and error is None:
        raise OpsError(f"ECR scan of {ref} ended {status}: {description}",
                       fix="start it again (aws ecr start-image-scan) or scan locally: "
                           "inv scan", anchor="ecr-scan-gate")
    return status


def unsupported(settings, ref, description):
    return OpsError(f"ECR cannot scan {settings.ecr.repository}:{ref}: UNSUPPORTED_IMAGE "
                    f"({description or 'its base OS is not supported'})",
                    fix="gate with a local scanner instead: inv scan", anchor="ecr-scan-gate")


def result(settings, ref, page, findings, severities, status):
    body = page.get("imageScanFindings") or {}
    gated = sorted((f for f in findings if f["severity"] in severities),
                   key=lambda f: (-RANK.get(f["severity"], 0), f["id"] or ""))
    updated = body.get("vulnerabilitySourceUpdatedAt")
    updated = updated.isoformat() if hasattr(updated, "isoformat") else updated
    digest = (page.get("imageId") or {}).get("imageDigest")
    return {"image": f"{settings.ecr.repository}:{ref}", "digest": digest, "scanner": "ecr",
            "status": status, "severity": ",".join(severities),
            "database_built": updated or "unknown", "database_age": scan.age(updated),
            "counts": dict(body.get("findingSeverityCounts") or {}),
            "findings": gated, "passed": not gated}


def render(result):
    lines = [table(result["findings"], [("id", "vulnerability"), ("severity", "severity"),
                                        ("package", "package"), ("installed", "installed"),
                                        ("fixed", "fixed in")])
             if result["findings"] else "no findings at the gate's severities"]
    counts = ", ".join(f"{k}={v}" for k, v in result["counts"].items()) or "none"
    lines.append(f"ECR scan of {result['image']} ({result['status']}), all severities: "
                 f"{counts}; gate {result['severity']}: "
                 + ("PASSED" if result["passed"] else
                    f"FAILED with {len(result['findings'])} findings"))
    return "\n".join(lines)


def failed(result):
    return OpsError(f"ECR scan gate failed: {len(result['findings'])} {result['severity']} "
                    f"findings in {result['image']}", fix="update the packages named in 'fixed "
                    "in' (usually the base image), rebuild and push", anchor="ecr-scan-gate")
