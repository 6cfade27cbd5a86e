"""`inv verify` passes a good image and fails each kind of bad one, for the right reason."""
import io
import json

import pytest

from tests.integration.helpers import IMAGE


def derive(engine, tag, *lines):
    """An image built FROM the session's image with a few Dockerfile lines on top."""
    dockerfile = "\n".join([f"FROM {IMAGE}:latest", *lines]).encode()
    engine.images.build(fileobj=io.BytesIO(dockerfile), tag=f"{IMAGE}:{tag}", rm=True)
    return tag


def rows(proc):
    return {row["check"]: row for row in json.loads(proc.stdout)["checks"]}


def test_good_image_passes_every_check(inv, built):
    proc = inv("verify", "--json")
    assert proc.returncode == 0, proc.output
    checks = rows(proc)
    assert all(row["passed"] for row in checks.values())
    assert checks["/app/wizexercise.txt"]["actual"] == "Evan Spangler - Wiz Technical Exercise 2024"
    assert checks["process user"]["actual"] == "appuser (uid 10001)"
    assert checks["becomes healthy"]["actual"] == "healthy"
    assert checks["runAsNonRoot (Kubernetes)"]["actual"] == "USER 10001:10001"


def test_table_output_says_passed(inv, built):
    proc = inv("verify")
    assert proc.returncode == 0
    assert "PASSED" in proc.stdout and "becomes healthy" in proc.stdout


K8S = "runAsNonRoot (Kubernetes)"


@pytest.mark.parametrize("tag, lines, failing, actual", [
    ("it-root", ["USER root"], "process user", "root (uid 0)"),
    # The user is right, but named: Kubernetes' runAsNonRoot refuses to start the pod.
    ("it-named", ["USER appuser"], K8S, "USER appuser: a name, cannot verify user is non-root"),
    ("it-uid0", ["USER 0:0"], K8S, "USER 0:0: root"),
    ("it-nofile", ["RUN rm /app/wizexercise.txt"], "/app/wizexercise.txt", "missing"),
    ("it-wrongtext", ["RUN echo someone else > /app/wizexercise.txt"],
     "/app/wizexercise.txt", "someone else"),
    ("it-unhealthy", ["HEALTHCHECK --interval=30s --timeout=3s --retries=1 CMD exit 1"],
     "becomes healthy", "docker says unhealthy"),
    ("it-nohealth", ["HEALTHCHECK NONE"], "becomes healthy", "no HEALTHCHECK"),
])
def test_bad_image_fails_the_right_check(inv, engine, built, tag, lines, failing, actual):
    derive(engine, tag, *lines)
    proc = inv("verify", "--tag", tag, "--json")
    assert proc.returncode == 1
    checks = rows(proc)
    assert checks[failing]["passed"] is False
    assert checks[failing]["actual"] == actual
    others = [name for name, row in checks.items() if name != failing and not row["passed"]]
    # Root by name or by number fails both user rows, each for its own reason.
    assert others == ([K8S] if tag == "it-root" else ["process user"] if tag == "it-uid0"
                      else [])


def test_size_budget_is_enforced(inv, built):
    proc = inv("verify", "--json", env={"INVOKE_TASKY_SIZE_BUDGET_MB": "1"})
    assert proc.returncode == 1
    assert rows(proc)["image size"]["passed"] is False


def test_verify_leaves_no_container(inv, engine, built):
    result = inv.json("verify")   # asserts exit 0: verify ran its container to the end
    assert {row["check"]: row["passed"] for row in result["checks"]}["becomes healthy"]
    leftovers = engine.containers.list(all=True, filters={"ancestor": f"{IMAGE}:latest",
                                                          "label": "org.tasky-ops.role=verify"})
    assert leftovers == []


def test_unknown_tag_is_image_not_found(inv, built):
    proc = inv("verify", "--tag", "never-built")
    assert proc.returncode == 1
    assert f"image {IMAGE}:never-built not found" in proc.stderr
    assert "RUNBOOK.md#image-not-found" in proc.stderr
