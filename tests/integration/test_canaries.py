"""Canaries through every path out: an app that prints every variable it is given, in its log
and in its HEALTHCHECK's output, decoded and encoded; the tasks that read it, each as a table
and as --json, succeeding and failing. No form of any canary reaches stdout or stderr."""
import base64
import json
import subprocess
import uuid
from urllib.parse import quote

import pytest

from tests.integration.helpers import IMAGE

RUN = uuid.uuid4().hex[:8]
# Every kind of secret the issue names: a -e value, a password inside a URI (percent-encoded
# in the value, decoded in the app's log), a webhook token in a value whose name sounds
# harmless, a value given through an env file, and AWS material from the shell.
JWT = f"jwt-canary-{RUN}"
PASSWORD = f"p@ss-canary-{RUN}"
WEBHOOK = f"https://hooks.example/services/T0/B0/hook-canary-{RUN}"
FROM_FILE = f"file-canary-{RUN}"
AWS_KEY = f"aws-canary-{RUN}"
URI = f"mongodb://tasky:{quote(PASSWORD, safe='')}@mongo:27017/tasky"


def forms(value):
    return {value, quote(value, safe=""), json.dumps(value)[1:-1],
            base64.b64encode(value.encode()).decode()}


CANARIES = set().union(*(forms(v) for v in (JWT, PASSWORD, WEBHOOK, FROM_FILE, AWS_KEY)))


@pytest.fixture(scope="module")
def leaky(engine, built):
    """The session's image with an app that prints what it was given, everywhere it can."""
    tag = f"{IMAGE}:leaky"
    dockerfile = (
        f"FROM {IMAGE}:latest\n"
        "HEALTHCHECK --interval=1s --timeout=3s --start-period=2s --retries=2 CMD "
        "sh -c 'echo probe $JWT_SECRET $WEBHOOK_URL $FROM_FILE; "
        "echo $MONGODB_URI | sed s/%40/@/g; wget -q --spider http://localhost:8080/'\n"
        "ENTRYPOINT [\"sh\", \"-c\", \"env; echo $MONGODB_URI | sed s/%40/@/g; "
        "exec /app/tasky\"]\n")
    subprocess.run(["docker", "build", "-q", "-t", tag, "-"], input=dockerfile, text=True,
                   check=True, capture_output=True)
    yield "leaky"
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


def shown(proc):
    return [form for form in CANARIES if form in proc.stdout or form in proc.stderr]


def test_no_canary_leaves_by_any_task_table_or_json_success_or_failure(
        inv, engine, leaky, container_cleanup, tmp_path):
    container_cleanup.append(inv.container)
    env_file = tmp_path / "app.env"
    env_file.write_text(f"FROM_FILE={FROM_FILE}\nTZ=UTC\n")
    given = ["-e", f"JWT_SECRET={JWT}", "-e", f"MONGODB_URI={URI}", "-e",
             f"WEBHOOK_URL={WEBHOOK}", "--env-file", str(env_file)]
    shell = {"AWS_SECRET_ACCESS_KEY": AWS_KEY}
    runs = {
        "run": inv("run", "--tag", leaky, *given, env=shell),
        "health --json": inv("health", "--wait", "--timeout", "30", "--json", env=shell),
        "health": inv("health", env=shell),
        "logs": inv("logs", "--tail", "200", env=shell),
        # Failing on purpose: a name that is taken, an image that fails verify.
        "run again (fails: name taken)": inv("run", "--tag", leaky, *given, "--json",
                                             env=shell),
        "verify --json (fails)": inv("verify", "--tag", leaky, *given, "--json",
                                     env={**shell, "INVOKE_TASKY_WIZEXERCISE": "other"}),
        "verify (fails)": inv("verify", "--tag", leaky, *given,
                              env={**shell, "INVOKE_TASKY_WIZEXERCISE": "other"}),
        "doctor": inv("doctor", "--no-aws", "--json", env=shell),
        "stop": inv("stop", env=shell),
        "run (fails: a value too short to hide)": inv("run", "--tag", leaky, "-e", "PIN=123"),
    }
    assert runs["run"].returncode == 0, runs["run"].output
    # The canaries did reach the app and its probe: without the redactor they would show.
    assert runs["logs"].returncode == 0 and "JWT_SECRET=****" in runs["logs"].stdout
    assert "probe ****" in runs["health"].stdout or "probe ****" in runs["health --json"].stdout
    assert runs["verify --json (fails)"].returncode == 1
    assert json.loads(runs["verify --json (fails)"].stdout)["passed"] is False
    assert runs["run again (fails: name taken)"].returncode == 1
    refused = runs["run (fails: a value too short to hide)"]
    assert refused.returncode == 1 and "PIN's value is 3 characters" in refused.stderr
    assert "123" not in refused.stderr
    leaks = {name: shown(proc) for name, proc in runs.items() if shown(proc)}
    assert not leaks


def test_the_app_printing_a_secret_is_said_by_name_in_run_logs_and_doctor(
        inv, leaky, container_cleanup):
    container_cleanup.append(inv.container)
    ran = inv("run", "--tag", leaky, "-e", f"JWT_SECRET={JWT}", "-e", "TZ=UTC", "-e",
              f"WEBHOOK_URL={WEBHOOK}")
    assert ran.returncode == 0, ran.output
    said = "warning: the app prints the value of JWT_SECRET, WEBHOOK_URL in its own log"
    assert said in ran.stdout
    logs = inv("logs")
    assert logs.stderr.count(said) == 1 and "TZ" not in logs.stderr.split(said)[1][:20]
    report = json.loads(inv("doctor", "--no-aws", "--json").stdout)
    row = next(r for r in report["rows"] if r["check"] == "app log")
    assert row["status"] == "warn" and "JWT_SECRET, WEBHOOK_URL" in row["detail"]
    for proc in (ran, logs):
        assert not shown(proc)
