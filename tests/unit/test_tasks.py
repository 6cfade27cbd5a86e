"""tasks.py: the `inv` surface. Known failures end as one line and exit 1, never a traceback."""
import copy
import inspect
import re

import pytest
from invoke import Collection, Context, Exit, Task
from invoke.parser import Parser, ParserContext

import tasks
from ops.core.errors import OpsError
from ops.run import ports
from tests.support import anchors, free_port
from tests.unit.unit_support import ROOT, cli_many, invoke_config, project_sources

NS = Collection.from_module(tasks)
TASKS = {name: NS[name] for name in NS.task_names}


def run_task(body):
    """Wrap body as tasks.py wraps every task and call it with a plain Context."""
    return tasks.ops_task()(body)(Context())


# --- the `reported` wrapper -------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(TASKS))
def test_dash_h_is_help_for_every_task_never_a_flag(name):
    """`inv run -h` shows run's help; --host-ip once took -h and asked it for a value."""
    shorts = {flag for argument in copy.deepcopy(TASKS[name]).get_arguments()
              for flag in argument.names if len(flag) == 1}
    assert "h" not in shorts


def test_ops_error_becomes_a_one_line_exit_1_with_details_on_stderr(capsys):
    error = OpsError("build failed at Step 3/9 : RUN go build", fix="fix the code",
                     anchor="build-fails", details=["Step 3/9 : RUN go build", "main.go:1: oops"])

    def body(c):
        raise error

    with pytest.raises(Exit) as caught:
        run_task(body)
    assert caught.value.code == 1
    assert caught.value.message == "error: " + error.line()
    assert caught.value.message.startswith("error: build failed at Step 3/9")
    assert caught.value.message.endswith("RUNBOOK.md#build-fails")
    assert "\n" not in caught.value.message
    captured = capsys.readouterr()
    assert captured.err.splitlines() == ["  | Step 3/9 : RUN go build", "  | main.go:1: oops"]
    assert captured.out == ""


def test_what_start_up_made_is_frozen_once_per_process_not_at_every_task(monkeypatch):
    import gc

    from ops import cli

    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    cli.startup_made.cache_clear()
    for _ in range(3):
        run_task(lambda c: None)
    assert frozen == [True]


def test_ops_error_without_details_prints_nothing_before_the_line(capsys):
    def body(c):
        raise OpsError("no", anchor="x")

    with pytest.raises(Exit):
        run_task(body)
    assert capsys.readouterr().err == ""


def test_ctrl_c_exits_130_without_a_traceback():
    def body(c):
        raise KeyboardInterrupt

    with pytest.raises(Exit) as caught:
        run_task(body)
    assert caught.value.code == 130


def test_wrapper_passes_arguments_and_the_result_through():
    def body(c, name, count=1):
        return (name, count)

    assert tasks.ops_task()(body)(Context(), "x", count=3) == ("x", 3)


def test_unexpected_errors_are_not_hidden():
    """Only known failures are turned into a line; a bug still shows where it is."""
    def body(c):
        raise ZeroDivisionError("a real bug")

    with pytest.raises(ZeroDivisionError):
        run_task(body)


def test_wrapper_keeps_the_body_signature_and_docstring():
    def body(c, tag=None, json=False):
        """Doc."""

    task = tasks.ops_task(help={"tag": "t", "json": "j"})(body)
    assert [a.name for a in task.get_arguments()] == ["tag", "json"]
    assert task.__doc__ == "Doc."


# --- the real command line --------------------------------------------------------------

MISSING_ENV_FILE = "/nonexistent/tasky-ops-unit/missing.env"
CLI_RUNS = {"bad-env": ("run", "-e", "=oops"),
            "missing-env-file": ("run", "--env-file", MISSING_ENV_FILE),
            "no-engine": ("layers",),
            "bad-tag": ("build", "--tag", "bad tag!"),
            "list": ("--list",)}


@pytest.fixture(scope="module")
def ran():
    """The real `inv` command lines this module checks, run side by side once."""
    return cli_many(CLI_RUNS)


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def test_cli_bad_env_flag_fails_with_one_line_before_any_engine_work(ran):
    proc = ran["bad-env"]
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert len(error_lines(proc.stderr)) == 1
    line = error_lines(proc.stderr)[0]
    assert line.startswith("error: malformed -e value")
    assert "RUNBOOK.md#bad-env" in line
    assert "docker" not in proc.stderr.lower()  # it failed on the input, not the engine
    assert proc.stdout == ""


def test_cli_missing_env_file_fails_with_one_line(ran):
    proc = ran["missing-env-file"]
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    [line] = error_lines(proc.stderr)
    assert MISSING_ENV_FILE in line and "RUNBOOK.md#bad-env" in line


def test_cli_without_an_engine_fails_with_one_line(ran):
    proc = ran["no-engine"]
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    [line] = error_lines(proc.stderr)
    assert "RUNBOOK.md#docker-daemon-not-running" in line


def test_cli_bad_tag_fails_before_connecting_to_the_engine(ran):
    proc = ran["bad-tag"]
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    [line] = error_lines(proc.stderr)
    assert line.startswith("error: invalid tag")
    assert "RUNBOOK.md#bad-tag" in line


def test_cli_list_shows_every_task(ran):
    proc = ran["list"]
    assert proc.returncode == 0, proc.stderr
    listed = {line.split()[0] for line in proc.stdout.splitlines()
              if line.startswith("  ") and line.split() and not line.startswith("    ")}
    assert set(NS.task_names) <= listed
    defined = {name for name, value in vars(tasks).items() if isinstance(value, Task)}
    assert len(NS.task_names) == len(defined)
    # One line per task: a summary Invoke has to wrap reads as a task named by its last words.
    wrapped = [line for line in proc.stdout.splitlines() if line.startswith("    ")]
    assert not wrapped, f"summaries too long for one line of inv --list: {wrapped}"


# --- every task documents itself --------------------------------------------------------

@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_has_a_docstring(name):
    doc = inspect.getdoc(TASKS[name].body)
    assert doc and doc.strip(), f"inv {name} has no docstring (inv --list shows it)"


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_parameter_has_help(name):
    task = TASKS[name]
    parameters = list(inspect.signature(task.body).parameters)
    assert parameters[0] == "c"
    assert set(task.help) == set(parameters[1:]), f"inv {name}: help does not match flags"
    assert all(text.strip() for text in task.help.values())


def mentioned_commands():
    """Every `inv NAME` a message, docstring or help text tells the user to run."""
    found = set()
    for path in project_sources():
        found.update(re.findall(r"\binv ([a-z][a-z-]*)", path.read_text()))
    return sorted(found)


@pytest.mark.parametrize("command", mentioned_commands())
def test_commands_the_messages_mention_exist(command):
    assert command in NS.task_names


# --- flags as the parser delivers them --------------------------------------------------

def parse(task_name, *argv):
    """Parse argv as `inv TASK` would, on a copy: get_arguments() pops the task's help dict."""
    task = copy.deepcopy(TASKS[task_name])
    context = ParserContext(name=task_name, args=task.get_arguments())
    parsed = Parser(contexts=[context]).parse_argv([task_name, *argv])
    return {name: arg.value for name, arg in parsed[0].args.items()}


def test_run_env_flag_is_repeatable():
    values = parse("run", "-e", "A=1", "-e", "B=2")
    assert values["env"] == ["A=1", "B=2"]


def test_run_port_flag_reaches_the_port_check_as_a_number():
    """Invoke hands --port over as text; the port check needs the number."""
    port = free_port()
    flags = parse("run", "--port", str(port))
    s = tasks.settings(Context(config=invoke_config()), container=flags["name"],
                       port=flags["port"])
    assert s.port == port
    assert ports.port_in_use(s.port, "127.0.0.1") is False


def test_run_port_flag_that_is_not_a_number_is_one_line(monkeypatch):
    monkeypatch.setattr(tasks, "engine", untouchable_engine)
    with pytest.raises(Exit) as caught:
        TASKS["run"](Context(config=invoke_config()), port="80a")
    assert caught.value.code == 1
    assert "'80a'" in caught.value.message
    assert "RUNBOOK.md#bad-flag" in caught.value.message


def untouchable_engine(settings):
    raise AssertionError("the engine was asked for before the flags were checked")


def test_health_timeout_flag_that_is_not_a_number_is_one_line(monkeypatch):
    monkeypatch.setattr(tasks, "engine", lambda settings: object())
    with pytest.raises(Exit) as caught:
        TASKS["health"](Context(config=invoke_config()), timeout="5s")
    assert caught.value.code == 1
    assert "RUNBOOK.md#bad-flag" in caught.value.message


# --- the runbook every message points to ------------------------------------------------

def referenced_anchors():
    found = set()
    for path in project_sources():
        text = path.read_text()
        found.update(re.findall(r'anchor="([a-z0-9-]+)"', text))
        found.update(re.findall(r"RUNBOOK\.md#([a-z0-9-]+)", text))
    return sorted(found)


@pytest.mark.parametrize("anchor", referenced_anchors())
def test_every_runbook_anchor_a_message_names_exists(anchor):
    runbook = ROOT / "RUNBOOK.md"
    assert runbook.is_file(), "errors say 'See RUNBOOK.md#...' but there is no RUNBOOK.md"
    assert anchor in anchors(runbook.read_text())


# --- --json on failure, and the libraries' own exceptions ------------------------------

def test_json_failure_prints_one_error_object_on_stdout(capsys):
    import json

    def body(c, json=False):
        raise OpsError("no engine", fix="inv setup", anchor="docker-daemon-not-running")

    with pytest.raises(Exit) as caught:
        tasks.ops_task()(body)(Context(), json=True)
    assert caught.value.code == 1
    assert json.loads(capsys.readouterr().out) == {
        "ok": False, "error": "no engine", "fix": "inv setup",
        "anchor": "docker-daemon-not-running"}


def test_json_failure_after_the_report_leaves_one_json_document(capsys):
    import json

    from ops.core.console import emit

    def body(c, json=False):
        emit({"passed": False}, json, str)
        raise OpsError("verify failed", anchor="verify-fails")

    with pytest.raises(Exit):
        tasks.ops_task()(body)(Context(), json=True)
    assert json.loads(capsys.readouterr().out) == {"passed": False}


def test_a_library_exception_becomes_one_line_unless_debugging(monkeypatch):
    import docker

    def body(c):
        raise docker.errors.APIError("400 Client Error: Bad Request (\"invalid reference\")")

    monkeypatch.delenv("TASKY_DEBUG", raising=False)
    with pytest.raises(Exit) as caught:
        run_task(body)
    assert caught.value.code == 1
    assert caught.value.message.startswith("error: the Docker engine refused the request: ")
    assert "invalid reference" in caught.value.message and "\n" not in caught.value.message
    monkeypatch.setenv("TASKY_DEBUG", "1")
    with pytest.raises(docker.errors.APIError):
        run_task(body)
