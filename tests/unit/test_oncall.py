"""On-call logic where moto cannot produce the state: botocore's Stubber returns the real
response shapes (a slow scan, enhanced findings, paged describe_images with scan counts,
ECR's AccessDeniedException), and the pure parts (history, policy document, hosts)."""
import datetime

import pytest
from botocore.stub import Stubber

from ops.core.errors import OpsError  # noqa: E402
from ops.doctor import registry as doctor_registry  # noqa: E402
from ops.gates import ecr_scan  # noqa: E402
from ops.registry import ecr_policy, history, listing, promotion  # noqa: E402
from ops.settings import config  # noqa: E402
from tests.unit.unit_support import ROOT  # noqa: F401 - puts the repository on sys.path

REPO = "wiz-exercise-tasky"
DIGEST = "sha256:" + "a" * 64
QUIET = lambda line: None   # noqa: E731


@pytest.fixture
def settings(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unit-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unit-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return config.Settings()


@pytest.fixture
def stubbed(settings):
    import boto3

    client = boto3.client("ecr", region_name="us-east-1")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def scan_page(status, findings=(), enhanced=(), counts=None, description=""):
    page = {"repositoryName": REPO, "imageId": {"imageDigest": DIGEST, "imageTag": "v1"},
            "imageScanStatus": {"status": status, "description": description}}
    if status in ecr_scan.DONE:
        page["imageScanFindings"] = {
            "findings": list(findings), "enhancedFindings": list(enhanced),
            "findingSeverityCounts": counts or {},
            "vulnerabilitySourceUpdatedAt": datetime.datetime(2024, 5, 1)}
    return page


class Clock:
    def __init__(self):
        self.now, self.slept = 0.0, []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_slow_scan_is_polled_until_complete(settings, stubbed):
    client, stub = stubbed
    ident = {"repositoryName": REPO, "imageId": {"imageTag": "v1"}}
    for _ in range(2):
        stub.add_response("describe_image_scan_findings", scan_page("IN_PROGRESS"), ident)
    stub.add_response("describe_image_scan_findings", scan_page("COMPLETE", enhanced=[{
        "severity": "CRITICAL", "title": "CVE-2024-0001 - openssl", "type": "PACKAGE_VULNERABILITY",
        "packageVulnerabilityDetails": {"vulnerabilityId": "CVE-2024-0001", "vulnerablePackages": [
            {"name": "openssl", "version": "3.0.1", "fixedInVersion": "3.0.9",
             "packageManager": "OS"}]}}], counts={"CRITICAL": 1}), ident)
    clock, lines = Clock(), []
    found = ecr_scan.ecr_scan(settings, "v1", wait_seconds=60, client=client, sleep=clock.sleep,
                              clock=clock, progress=lines.append)
    assert clock.slept == [5.0, 5.0] and lines == ["ecr scan: IN_PROGRESS, 60s left",
                                                    "ecr scan: IN_PROGRESS, 55s left"]
    assert found["passed"] is False and found["digest"] == DIGEST
    assert found["findings"] == [{"id": "CVE-2024-0001", "severity": "CRITICAL",
                                  "package": "openssl", "installed": "3.0.1", "fixed": "3.0.9",
                                  "target": "OS"}]
    assert found["database_built"].startswith("2024-05-01")


def test_unfinished_scan_never_passes(settings, stubbed):
    client, stub = stubbed
    for _ in range(3):
        stub.add_response("describe_image_scan_findings", scan_page("IN_PROGRESS"))
    clock = Clock()
    with pytest.raises(OpsError) as caught:
        ecr_scan.ecr_scan(settings, "v1", wait_seconds=10, client=client, sleep=clock.sleep,
                          clock=clock, progress=QUIET)
    assert "still IN_PROGRESS after 10s" in caught.value.message
    assert "--wait" in caught.value.fix and caught.value.anchor == "ecr-scan-gate"


def test_scan_not_found_starts_one_and_unsupported_stops(settings, stubbed):
    client, stub = stubbed
    stub.add_client_error("describe_image_scan_findings", "ScanNotFoundException",
                          "Image scan does not exist for the image")
    stub.add_client_error("start_image_scan", "UnsupportedImageTypeException",
                          "The operating system and/or package manager are not supported.")
    with pytest.raises(OpsError) as caught:
        ecr_scan.ecr_scan(settings, DIGEST, client=client, progress=QUIET)
    assert "UNSUPPORTED_IMAGE (The operating system" in caught.value.message


def test_basic_findings_below_the_gate_pass(settings, stubbed):
    client, stub = stubbed
    stub.add_response("describe_image_scan_findings", scan_page("COMPLETE", findings=[
        {"name": "CVE-1", "severity": "MEDIUM", "attributes": [
            {"key": "package_name", "value": "zlib"}, {"key": "package_version", "value": "1"}]}],
        counts={"MEDIUM": 1}))
    found = ecr_scan.ecr_scan(settings, "v1", client=client, progress=QUIET)
    assert found["passed"] is True and found["counts"] == {"MEDIUM": 1}
    assert "all severities: MEDIUM=1; gate CRITICAL,HIGH: PASSED" in ecr_scan.render(found)


def test_describe_images_pages_and_scan_counts(settings, stubbed, monkeypatch):
    client, stub = stubbed
    monkeypatch.setattr(listing.ecr, "client", lambda s, service="ecr": client)
    monkeypatch.setattr(listing.ecr, "repository", lambda s: {"uri": f"1.dkr/{REPO}"})
    old, new = datetime.datetime(2024, 1, 1), datetime.datetime(2024, 2, 1)
    stub.add_response("describe_images", {"nextToken": "page-2", "imageDetails": [
        {"imageDigest": DIGEST, "imageTags": ["v1", "previous-latest"], "imagePushedAt": old,
         "imageSizeInBytes": 3_000_000}]}, {"repositoryName": REPO})
    stub.add_response("describe_images", {"imageDetails": [
        {"imageDigest": "sha256:" + "b" * 64, "imageTags": ["latest", "v2"],
         "imagePushedAt": new, "imageSizeInBytes": 3_100_000,
         "imageScanStatus": {"status": "COMPLETE"},
         "imageScanFindingsSummary": {"findingSeverityCounts": {"HIGH": 2, "LOW": 1}}}]},
        {"repositoryName": REPO, "nextToken": "page-2"})
    listed = listing.images(settings, registry_kind="ecr")
    assert [i["tags"] for i in listed["images"]] == [["latest", "v2"], ["previous-latest", "v1"]]
    assert listed["images"][0]["scan_counts"] == {"HIGH": 2, "LOW": 1}
    assert listed["history"] == {"latest": [DIGEST]}
    assert "COMPLETE HIGH=2, LOW=1" in listing.render(listed)


def test_access_denied_names_the_missing_action(settings, stubbed):
    client, stub = stubbed
    message = ("User: arn:aws:iam::123456789012:user/ci is not authorized to perform: "
               "ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:123456789012:repository/"
               f"{REPO} because no identity-based policy allows the ecr:BatchGetImage action")
    stub.add_response("get_authorization_token", {"authorizationData": []})
    stub.add_response("describe_repositories", {"repositories": []})
    stub.add_response("describe_images", {"imageDetails": []})
    stub.add_client_error("batch_get_image", "AccessDeniedException", message, 400)
    stub.add_response("batch_check_layer_availability", {"layers": [], "failures": []})
    [row] = doctor_registry.permission_rows(settings, client)
    assert (row["status"], row["detail"]) == ("fail", "denied: ecr:BatchGetImage")
    assert "push needs ecr:GetAuthorizationToken, ecr:BatchCheckLayerAvailability" in row["fix"]


def test_host_parts_and_denied_action():
    assert doctor_registry.host_parts("123456789012.dkr.ecr.eu-west-1.amazonaws.com") == (
        "123456789012", "eu-west-1")
    assert doctor_registry.host_parts("127.0.0.1:5000") == (None, None)
    assert doctor_registry.denied_action("<Message>User: x is not authorized to perform: "
                                    "ecr:PutImage</Message>") == "ecr:PutImage"


def test_history_helpers():
    assert history.history_tags("latest") == ["previous-latest", "previous-2-latest",
                                            "previous-3-latest"]
    assert history.dedupe(["a", None, "a", "b", "c"], drop=["c"]) == ["a", "b"]
    with pytest.raises(OpsError):
        promotion.promote(config.Settings(), "v1", "previous-latest", site=object())


def test_proposed_policy_is_valid_and_protects_release_and_history_tags(settings):
    document = ecr_policy.proposal(settings, keep=5, untagged_days=3)
    assert ecr_policy.rule_problems(document) == []
    first = [r["selection"].get("tagPrefixList") for r in document["rules"][:2]]
    assert first == [["latest"], ["previous-"]]
    assert ecr_policy.rule_problems({"rules": [
        {"rulePriority": 1, "selection": {"tagStatus": "tagged"}},
        {"rulePriority": 1, "selection": {"tagStatus": "untagged"}},
        {"rulePriority": 3, "selection": {"tagStatus": "untagged"}}]}) == [
        "rule 1: tagged needs tagPrefixList or tagPatternList", "rulePriority 1 is used twice",
        "only one rule may select untagged images"]
    with pytest.raises(OpsError):
        ecr_policy.proposal(settings, keep=0)


def test_one_severity_parser_with_each_scanners_names():
    from ops.gates import scan

    assert scan.parse_severities(" critical,High ") == ["CRITICAL", "HIGH"]
    assert scan.parse_severities("informational", ecr_scan.RANK) == ["INFORMATIONAL"]
    for text, known in (("INFORMATIONAL", scan.RANK), (None, scan.RANK),
                        ("SEVERE", ecr_scan.RANK), (",", ecr_scan.RANK)):
        with pytest.raises(OpsError) as caught:
            scan.parse_severities(text, known)
        assert caught.value.message == f"bad --severity {text!r}"
        assert caught.value.fix.startswith("a comma list of CRITICAL, HIGH, MEDIUM, LOW")
    assert "UNDEFINED" in caught.value.fix and caught.value.anchor == "bad-flag"
