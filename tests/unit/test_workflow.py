"""The CI workflow: valid for GitHub, every action pinned to a commit, every `inv` call real.

Schema validation uses check-jsonschema's vendored copy of the GitHub workflow schema
(`--builtin-schema vendor.github-workflows`): no network needed.
"""
import importlib.util
import json
import re
import shlex
import subprocess
import sys

import pytest
from invoke.exceptions import ParseError

from tests.unit.test_docs import parse_inv, task_names
from tests.unit.unit_support import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "build-deploy-app.yml"
SHA_PIN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
DIGEST_PIN = re.compile(r"^docker://[^@\s]+@sha256:[0-9a-f]{64}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")
VERSION_COMMENT = re.compile(r"^\s+#\s+v\d+(\.\d+){0,2}\b")


def load_workflow():
    # check-jsonschema's own YAML library; YAML 1.2, so `on:` stays the key "on" (not True).
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(WORKFLOW.read_text(encoding="utf-8"))


def check_jsonschema(path):
    if importlib.util.find_spec("check_jsonschema") is None:
        pytest.fail("check-jsonschema is not installed: pip install -r requirements-dev.txt")
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, timeout=120)


def steps(workflow):
    """(job id, step index, step) for every step of every job."""
    for job_id, job in (workflow.get("jobs") or {}).items():
        for index, step in enumerate(job.get("steps") or []):
            yield job_id, index, step


def inv_calls(script):
    """argv after `inv` (or `python -m invoke`) for each such command in a run: script."""
    calls = []
    for line in script.splitlines():
        for command in re.split(r"&&|\|\||[;|]", line):
            try:
                words = shlex.split(command, comments=True)
            except ValueError:
                continue
            while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
                words = words[1:]                     # VAR=value inv ...
            if words[:1] == ["inv"] or words[:1] == ["invoke"]:
                calls.append(words[1:])
            elif len(words) > 2 and re.fullmatch(r"python3?", words[0]) \
                    and words[1:3] == ["-m", "invoke"]:
                calls.append(words[3:])
    return calls


def _collect():
    if not WORKFLOW.exists():
        return [], [], []
    workflow = load_workflow()
    uses = [(job, index, step["uses"]) for job, index, step in steps(workflow) if "uses" in step]
    uses += [(job, None, spec["uses"]) for job, spec in workflow["jobs"].items() if "uses" in spec]
    calls = [(job, " ".join(argv)) for job, _, step in steps(workflow) if "run" in step
             for argv in inv_calls(step["run"])]
    lines = [line for line in WORKFLOW.read_text(encoding="utf-8").splitlines()
             if USES_LINE.match(line)]
    return uses, calls, lines


USES, CALLS, USES_LINES = _collect()


# --- the helpers themselves --------------------------------------------------------------

def test_inv_calls_finds_every_form():
    script = ("inv build\nFOO=1 inv scan --severity CRITICAL # note\n"
              "echo x && python3 -m invoke release --latest\npip install invoke\n")
    assert inv_calls(script) == [["build"], ["scan", "--severity", "CRITICAL"],
                                 ["release", "--latest"]]


# --- schema ------------------------------------------------------------------------------

def test_workflow_exists_and_parses():
    assert WORKFLOW.exists(), f"{WORKFLOW} is missing"
    workflow = load_workflow()
    assert set(workflow["on"]) == {"pull_request", "push"}
    assert workflow["on"]["push"]["branches"] == ["main"]


def test_workflow_validates_against_githubs_schema():
    proc = check_jsonschema(WORKFLOW)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path):
    """The check above can fail: a job without runs-on is refused."""
    workflow = load_workflow()
    del workflow["jobs"]["lint"]["runs-on"]
    broken = tmp_path / "broken.yml"
    broken.write_text(json.dumps(workflow), encoding="utf-8")   # JSON is YAML
    proc = check_jsonschema(broken)
    assert proc.returncode != 0, proc.stdout


# --- pins --------------------------------------------------------------------------------

def test_workflow_uses_actions():
    assert USES, "no `uses:` found"


@pytest.mark.parametrize("job, step, uses", USES, ids=[f"{j}:{s}:{u}" for j, s, u in USES])
def test_every_action_is_pinned_to_a_full_commit_sha(job, step, uses):
    if uses.startswith("./"):
        assert (ROOT / uses).exists(), f"local action {uses} does not exist"
    elif uses.startswith("docker://"):
        assert DIGEST_PIN.match(uses), f"{job}: {uses} is not pinned to an image digest"
    else:
        assert SHA_PIN.match(uses), f"{job} step {step}: {uses} is not pinned to a 40-hex SHA"


@pytest.mark.parametrize("line", USES_LINES)
def test_every_pin_says_which_release_it_is(line):
    target, rest = USES_LINE.match(line).groups()
    if target.startswith("./"):
        return
    assert VERSION_COMMENT.match(rest), f"`{line.strip()}` has no `# vX.Y.Z` comment"


def test_the_documents_unpinned_scanner_action_is_not_used():
    assert not any("@master" in u or "@main" in u for _, _, u in USES)


# --- inv calls ---------------------------------------------------------------------------

def test_workflow_calls_inv_tasks():
    called = {argv.split()[0] for _, argv in CALLS}
    assert {"lint", "test", "build", "scan", "release"} <= called, called


@pytest.mark.parametrize("job, argv", CALLS, ids=[f"{j}:inv {a}" for j, a in CALLS])
def test_every_inv_call_names_a_real_task_with_real_flags(job, argv):
    words = shlex.split(argv)
    assert words and words[0] in task_names(), f"{job}: `inv {argv}` names no task"
    try:
        parse_inv(words)
    except ParseError as error:
        pytest.fail(f"{job}: `inv {argv}` would not run: {error}")


# --- the pipeline's shape ----------------------------------------------------------------

def test_every_job_has_a_timeout_and_its_own_minimal_permissions():
    workflow = load_workflow()
    assert workflow["permissions"] == {}, "top-level permissions should grant nothing"
    for job_id, job in workflow["jobs"].items():
        assert 0 < job.get("timeout-minutes", 0) <= 60, f"{job_id}: no sensible timeout-minutes"
        granted = job.get("permissions")
        assert isinstance(granted, dict), f"{job_id}: no job-level permissions"
        assert set(granted.values()) <= {"read", "write", "none"}
        writes = {scope for scope, level in granted.items() if level == "write"}
        if job_id == "release":
            assert writes == {"id-token"}, f"release may write only id-token, not {writes}"
        else:
            assert not writes, f"{job_id} needs no write permission, has {writes}"


def test_concurrency_never_cancels_a_release_on_main():
    concurrency = load_workflow()["concurrency"]
    assert "github.ref" in concurrency["group"]
    assert "pull_request" in str(concurrency.get("cancel-in-progress", False))


def test_release_runs_only_for_pushes_to_main_after_every_gate():
    release = load_workflow()["jobs"]["release"]
    assert set(release["needs"]) == {"lint", "test", "build-scan"}
    condition = release["if"].replace('"', "'")
    assert "github.event_name == 'push'" in condition
    assert "github.ref == 'refs/heads/main'" in condition


def test_release_assumes_an_oidc_role_in_us_east_1():
    release = load_workflow()["jobs"]["release"]
    aws = [s for s in release["steps"]
           if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    assert len(aws) == 1
    settings = aws[0]["with"]
    assert settings["aws-region"] == "us-east-1"
    assert re.fullmatch(r"\$\{\{\s*(vars|secrets)\.[A-Z_]+\s*\}\}", settings["role-to-assume"])
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(settings)
    assert "ECR_REGISTRY" in release["env"]


def test_scan_gate_is_critical_high_and_runs_before_the_push():
    workflow = load_workflow()
    for job_id in ("build-scan", "release"):
        order = [argv for _, _, step in steps({"jobs": {job_id: workflow["jobs"][job_id]}})
                 for argv in inv_calls(step.get("run", ""))]
        scans = [i for i, argv in enumerate(order) if argv[0] == "scan"]
        assert scans, f"{job_id} does not run inv scan"
        for i in scans:
            argv = order[i]
            severity = argv[argv.index("--severity") + 1] if "--severity" in argv \
                else "CRITICAL,HIGH"
            assert {"CRITICAL", "HIGH"} <= set(severity.split(",")), f"{job_id}: gate {severity}"
            assert "--skip-db-update" not in argv, f"{job_id}: CI must scan with a fresh database"
        pushes = [i for i, argv in enumerate(order) if argv[0] in ("push", "release")]
        assert all(min(scans) < i for i in pushes), f"{job_id} pushes before it scans"
