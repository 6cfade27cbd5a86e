"""`inv scan` against a stand-in scanner on PATH (the only scanner offline), and `inv lint`."""
import json
import os
import stat

import pytest

from tests.integration.helpers import IMAGE

# A scanner executable that records its arguments and prints a canned report, the way
# Trivy does (`trivy image ... --format json IMAGE`, `trivy version --format json`).
FAKE_TRIVY = """#!/bin/sh
echo "$@" >> "$SCAN_ARGS"
if [ "$1" = version ]; then
  echo '{"Version":"0.50.0","VulnerabilityDB":{"UpdatedAt":"2026-11-20T06:11:02.123456789Z"}}'
  exit 0
fi
cat "$SCAN_REPORT"
"""
FAKE_GRYPE = """#!/bin/sh
echo "$@" >> "$SCAN_ARGS"
if [ "$1" = db ]; then echo '{"built":"2026-11-01T00:00:00Z"}'; exit 0; fi
cat "$SCAN_REPORT"
"""
TRIVY_FINDINGS = {"Results": [{"Target": "tasky (alpine 3.17.0)", "Vulnerabilities": [
    {"VulnerabilityID": "CVE-2023-0001", "PkgName": "libcrypto3", "InstalledVersion": "3.0.7-r0",
     "FixedVersion": "3.0.8-r0", "Severity": "HIGH"},
    {"VulnerabilityID": "CVE-2023-0002", "PkgName": "busybox", "InstalledVersion": "1.35.0",
     "FixedVersion": "", "Severity": "CRITICAL"}]}]}


@pytest.fixture
def scanner_dir(tmp_path):
    def install(name, script, report):
        path = tmp_path / name
        path.write_text(script)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
        (tmp_path / "report.json").write_text(json.dumps(report))
        return {"PATH": f"{tmp_path}:{os.environ['PATH']}",
                "SCAN_ARGS": str(tmp_path / "args"),
                "SCAN_REPORT": str(tmp_path / "report.json")}
    install.dir = tmp_path
    return install


def test_findings_fail_the_gate_with_a_table(inv, built, scanner_dir):
    env = scanner_dir("trivy", FAKE_TRIVY, TRIVY_FINDINGS)
    proc = inv("scan", "--skip-db-update", env=env)
    assert proc.returncode == 1
    assert "CVE-2023-0002" in proc.stdout and "3.0.8-r0" in proc.stdout
    assert "FAILED with 2 findings" in proc.stdout and "days old" in proc.stdout
    assert "RUNBOOK.md#scan-gate-failed" in proc.stderr
    args = (scanner_dir.dir / "args").read_text().splitlines()
    assert args[0] == (f"image --quiet --format json --severity CRITICAL,HIGH --skip-db-update "
                       f"{IMAGE}:latest")
    # Critical first.
    rows = json.loads(inv("scan", "--json", env=env).stdout)["findings"]
    assert [r["severity"] for r in rows] == ["CRITICAL", "HIGH"]


def test_no_findings_pass(inv, built, scanner_dir):
    env = scanner_dir("trivy", FAKE_TRIVY, {"Results": [{"Target": "x"}]})
    proc = inv("scan", "--severity", "critical", env=env)
    assert proc.returncode == 0, proc.output
    assert "PASSED" in proc.stdout
    assert "--severity CRITICAL " in (scanner_dir.dir / "args").read_text()


def test_grype_is_used_when_trivy_is_absent(inv, built, scanner_dir):
    report = {"matches": [{"vulnerability": {"id": "GHSA-1", "severity": "High",
                                             "fix": {"versions": ["1.2"]}},
                           "artifact": {"name": "stdlib", "version": "go1.19.8", "type": "go"}},
                          {"vulnerability": {"id": "GHSA-2", "severity": "Low"},
                           "artifact": {"name": "x", "version": "1", "type": "apk"}}]}
    env = scanner_dir("grype", FAKE_GRYPE, report)
    env["PATH"] = f"{scanner_dir.dir}:/usr/bin:/bin"   # no trivy anywhere
    proc = inv("scan", "--json", env=env)
    assert proc.returncode == 1
    result = json.loads(proc.stdout)
    assert result["scanner"] == "grype"
    assert [f["id"] for f in result["findings"]] == ["GHSA-1"]   # Low is under the gate


def test_no_scanner_is_an_error_never_a_pass(inv, built, tmp_path):
    proc = inv("scan", env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert proc.returncode == 1
    assert "no vulnerability scanner installed" in proc.stderr
    assert "install Trivy" in proc.stderr and "PASSED" not in proc.output


def test_bad_severity_is_a_flag_error(inv, built, scanner_dir):
    env = scanner_dir("trivy", FAKE_TRIVY, {})
    proc = inv("scan", "--severity", "SEVERE", env=env)
    assert proc.returncode == 1 and "bad --severity 'SEVERE'" in proc.stderr


def test_lint_is_clean_on_the_repository(inv, engine):
    proc = inv("lint", "--json")
    result = json.loads(proc.stdout)
    assert proc.returncode == 0, result
    assert [t["result"] for t in result["tools"]] == ["clean", "clean", "clean"]
    # Not even hadolint's info-level ones: DL3066 (a USER by name) went with USER 10001:10001.
    assert [f["code"] for f in result["findings"] if f["tool"] == "hadolint"] == []


def test_lint_reports_a_known_hadolint_finding(inv, engine, tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM debian:12\nRUN apt-get update && apt-get install -y curl\n")
    proc = inv("lint", "--json", env={"INVOKE_TASKY_DOCKERFILE": str(dockerfile)})
    assert proc.returncode == 1
    result = json.loads(proc.stdout)
    codes = {f["code"] for f in result["findings"] if f["tool"] == "hadolint"}
    assert {"DL3008", "DL3009"} <= codes
    assert result["tools"][0] == {"tool": "hadolint", "result": "FAILED", "findings": len(
        [f for f in result["findings"] if f["tool"] == "hadolint"])}
