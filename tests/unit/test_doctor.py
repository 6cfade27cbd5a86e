"""inv doctor's pure parts: rows, verdict, the grouped table, go.mod and requirement parsing,
the advice for permission denied and crashed containers. No Docker engine is contacted."""
import copy
import re
import socket

import pytest
from invoke import Collection
from invoke.parser import Parser, ParserContext

import tasks
from ops import doctor
from ops.doctor import aws as doctor_aws
from ops.doctor import engine as doctor_engine
from ops.doctor import fixes as doctor_fixes
from ops.doctor import inputs as doctor_checks
from ops.doctor import rows as doctor_rows
from ops.doctor import run as doctor_run
from ops.image import gomod
from ops.settings.config import Ecr, Settings
from tests.unit.unit_support import ROOT

row = doctor_rows.row


# --- rows and the verdict ---------------------------------------------------------------

def test_a_row_has_the_documented_fields_and_refuses_unknown_statuses():
    made = row("docker", "daemon", "fail", "no socket", "inv setup", "docker-daemon-not-running")
    assert set(made) == {"area", "check", "status", "detail", "fix", "anchor", "autofix"}
    with pytest.raises(ValueError):
        row("docker", "daemon", "broken", "?")


def test_verdict_fails_only_on_fail_rows_and_counts_the_rest():
    rows = [row("python", "packages", "ok", ""), row("build", "git", "warn", ""),
            row("run", "container", "skip", "")]
    line, ok = doctor.verdict(rows)
    assert ok and line == "OK: 1 check passed, 1 warning, 1 skipped"
    line, ok = doctor.verdict(rows + [row("run", "port", "fail", ""),
                                      row("docker", "daemon", "fail", "")])
    assert not ok
    assert line.startswith("FAIL: 2 checks failing, 1 warning, 1 skipped")
    assert "--no-aws" not in line


def test_a_verdict_failed_only_by_aws_points_at_no_aws():
    line, ok = doctor.verdict([row("python", "packages", "ok", ""),
                               row("aws", "credentials", "fail", "")])
    assert not ok and "inv doctor --no-aws" in line


def test_render_groups_by_area_lists_fixes_with_anchors_and_ends_with_the_verdict():
    rows = [row("docker", "daemon", "fail", "nothing listens on /x.sock", "unset DOCKER_HOST",
                "docker-daemon-not-running", autofix="start-daemon"),
            row("docker", "disk", "ok", "80 GB free"),
            row("run", "container", "fail", "tasky exited (exit code 1)\nlast log lines:\n  fatal",
                "fix MONGODB_URI", "container-wont-start")]
    text = doctor.render({"rows": rows, "verdict": "FAIL: 2 checks failing", "fixed": []})
    lines = text.splitlines()
    daemon = next(line for line in lines if " daemon " in line)
    disk = next(line for line in lines if " disk " in line)
    assert daemon.startswith("docker") and "FAIL" in daemon
    assert disk.split()[0] == "disk"   # the area is printed once per group
    assert "  fatal" in text            # multi-line details keep their lines
    assert ("daemon: unset DOCKER_HOST. (inv doctor --fix starts it.) "
            "See RUNBOOK.md#docker-daemon-not-running") in " ".join(text.split())
    assert "See RUNBOOK.md#container-wont-start" in text
    assert lines[-1] == "verdict: FAIL: 2 checks failing"


def test_render_never_breaks_an_anchor_at_a_hyphen():
    rows = [row("build", "git", "warn", "x", "commit them " * 8, "not-a-git-repository")]
    text = doctor.render({"rows": rows, "verdict": "OK", "fixed": []})
    assert "RUNBOOK.md#not-a-git-repository" in text


def test_render_says_what_fix_did():
    text = doctor.render({"rows": [], "verdict": "OK", "fixed": [
        {"fix": "bases", "result": "offline bases: a built, b present"}]})
    assert "--fix did:\n  offline bases: a built, b present" in text


def test_doctor_without_an_engine_fails_on_the_daemon_and_skips_what_needs_it(no_engine):
    result = doctor.doctor(Settings(), aws=False)
    rows = {r["check"]: r for r in result["rows"]}
    assert not result["ok"] and result["verdict"].startswith("FAIL")
    assert rows["daemon"]["status"] == "fail"
    assert "no socket at /nonexistent/tasky-ops-unit/docker.sock" in rows["daemon"]["detail"]
    assert "unset DOCKER_HOST" in rows["daemon"]["fix"]
    assert rows["disk"]["status"] == rows["container"]["status"] == "skip"
    assert rows["AWS"]["status"] == "skip"
    areas = [r["area"] for r in result["rows"]]
    assert areas == sorted(areas, key=doctor.AREAS.index)


def test_no_aws_is_the_inverse_of_the_aws_flag():
    # A copy: get_arguments() pops the task's help entries, which other tests read.
    task = copy.deepcopy(Collection.from_module(tasks)["doctor"])
    context = ParserContext(name="doctor", args=task.get_arguments())
    parsed = Parser(contexts=[context]).parse_argv(["doctor", "--no-aws", "--fix"])
    values = {name: arg.value for name, arg in parsed[0].args.items()}
    assert values["aws"] is False and values["fix"] is True


# --- the daemon socket, for real --------------------------------------------------------

def test_a_missing_socket_and_a_dead_one_are_told_apart(monkeypatch, tmp_path):
    dead = tmp_path / "dead.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(dead))          # a socket file nobody listens on
    for path, said in ((tmp_path / "absent.sock", "no socket at"),
                       (dead, "nothing listens on")):
        monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
        engine, [daemon] = doctor_engine.connect()
        assert engine is None and daemon["status"] == "fail"
        assert daemon["detail"].startswith(f"{said} {path}")
        assert "(DOCKER_HOST names this socket)" in daemon["detail"]
        assert daemon["anchor"] == "docker-daemon-not-running"


# --- permission denied ------------------------------------------------------------------

def advice(**kw):
    given = dict(user="alice", owner="root", group="docker", mode=0o660,
                 path="/var/run/docker.sock", in_group_file=False, in_session=False)
    given.update(kw)
    return doctor_engine.permission_advice(**given)


def test_not_in_the_group_gets_the_documented_usermod_and_the_root_note():
    detail, fix = advice()
    assert "owner root, group docker, mode 0660" in detail
    assert detail.endswith("alice is not in group docker")
    assert fix.startswith("sudo usermod -aG docker $USER, then log out and back in")
    assert "root-equivalent" in fix


def test_in_etc_group_but_not_this_session_means_log_in_again():
    detail, fix = advice(in_group_file=True)
    assert "in /etc/group, but not in this session" in detail
    assert "log out and back in" in fix and "newgrp docker" in fix


def test_in_the_group_but_socket_not_group_writable_names_chmod():
    detail, fix = advice(in_group_file=True, in_session=True, mode=0o600)
    assert "not group read-write" in detail and fix.startswith("sudo chmod 660")


def test_a_socket_owned_by_group_root_is_not_fixed_by_joining_root():
    detail, fix = advice(group="root")
    assert "usermod" not in fix and "groupadd docker" in fix


# --- go.mod, vendor/ and GOPROXY --------------------------------------------------------

GO_MOD = """module example.com/app

go 1.19

require golang.org/x/text v0.14.0 // indirect
require (
\tgithub.com/google/uuid v1.6.0
\t"example.com/quoted" v1.0.0
\t// a comment line
)
replace example.com/quoted => ../quoted
"""


def test_parse_go_mod_reads_one_line_and_block_requires():
    assert gomod.parse_go_mod(GO_MOD) == [
        ("golang.org/x/text", "v0.14.0"), ("github.com/google/uuid", "v1.6.0"),
        ("example.com/quoted", "v1.0.0")]
    assert gomod.parse_go_mod("module github.com/tasky-ops/tasky\n\ngo 1.19\n") == []
    assert gomod.parse_go_mod("require(\n a v1\n)\n") == [("a", "v1")]


@pytest.fixture
def module(tmp_path, monkeypatch):
    """A Go module with one dependency in tmp_path/app, and no Go variables set."""
    for name in ("GOPROXY", "GOFLAGS", "GOSUMDB", "GONOSUMDB", "GOPRIVATE"):
        monkeypatch.delenv(name, raising=False)
    app = tmp_path / "app"
    app.mkdir()
    (app / "go.mod").write_text("module example.com/app\n\ngo 1.19\n\n"
                                "require github.com/google/uuid v1.6.0\n")
    return Settings(root=tmp_path, context="app")


def go_row(settings):
    [checked] = doctor_checks.go_modules(None, settings)
    return checked


def test_a_goproxy_with_credentials_is_the_builds_refusal_as_a_row(module, monkeypatch):
    monkeypatch.setenv("GOPROXY", "https://u:pw-canary-1@proxy.example/")
    checked = go_row(module)
    assert checked["status"] == "fail" and checked["anchor"] == "build-arg-credentials"
    assert "canary" not in str(checked)


def test_goproxy_off_with_a_dependency_and_no_vendor_fails_with_the_vendoring_fix(
        module, monkeypatch):
    monkeypatch.setenv("GOPROXY", "off")
    checked = go_row(module)
    assert checked["status"] == "fail"
    assert "GOPROXY=off (this shell)" in checked["detail"]
    assert "module lookup disabled by GOPROXY=off" in checked["detail"]
    assert "inv vendor" in checked["fix"] and "cd app && go mod vendor" in checked["fix"]
    assert checked["anchor"] == "go-modules-offline"


def test_mod_vendor_without_a_vendor_directory_fails(module, monkeypatch):
    monkeypatch.setenv("GOFLAGS", "-mod=vendor")
    checked = go_row(module)
    assert checked["status"] == "fail" and "inconsistent vendoring" in checked["detail"]


def test_a_dependency_without_vendor_and_no_engine_to_probe_is_a_warning(module):
    checked = go_row(module)
    assert checked["status"] == "warn" and "without network" in checked["detail"]


def test_a_vendored_tree_git_ignores_is_a_warning(module):
    from tests.unit.unit_support import git

    git(module.root, "init", "-q")
    (module.root / ".gitignore").write_text("vendor/\n")
    vendor = module.context_path / "vendor"
    vendor.mkdir()
    (vendor / "modules.txt").write_text("# github.com/google/uuid v1.6.0\n## explicit\n")
    checked = go_row(module)
    assert checked["status"] == "warn" and "git ignores vendor/" in checked["detail"]


def test_the_build_takes_the_shells_go_variables_but_not_a_file_proxy(module):
    from ops.image import build_args

    said = []
    env = {"GOPROXY": "file:///srv/goproxy", "GONOSUMDB": "example.com", "PATH": "/bin"}
    args = build_args.go_build_args(module, {"GOFLAGS": "-x"}, said.append, environ=env)
    assert args == {"GOFLAGS": "-x", "GONOSUMDB": "example.com"}
    assert "inv vendor" in said[0]


def test_vendored_dependencies_pass_and_a_stale_vendor_fails(module, monkeypatch):
    monkeypatch.setenv("GOPROXY", "off")
    vendor = module.context_path / "vendor"
    vendor.mkdir()
    (vendor / "modules.txt").write_text("# github.com/google/uuid v1.6.0\n## explicit\n")
    assert go_row(module)["status"] == "ok"
    (vendor / "modules.txt").write_text("# example.com/other v1.0.0\n")
    stale = go_row(module)
    assert stale["status"] == "fail" and stale["fix"] == "inv vendor (or cd app && go mod vendor)"
    assert "out of date" in stale["detail"] and "example.com/other" not in stale["fix"]


def test_no_dependencies_cannot_be_broken_by_goproxy_off(monkeypatch):
    monkeypatch.setenv("GOPROXY", "off")
    checked = go_row(Settings())   # the project's own app: standard library only
    assert checked["status"] == "ok"
    assert "GOPROXY=off (this shell) cannot break the build" in checked["detail"]


def test_a_missing_go_mod_is_a_failed_row(tmp_path):
    checked = go_row(Settings(root=tmp_path, context="nowhere"))
    assert checked["status"] == "fail" and "tasky.context" in checked["fix"]


# --- requirements and versions ----------------------------------------------------------

def test_parse_requirements_reads_the_project_file():
    parsed = dict(doctor_checks.parse_requirements((ROOT / "requirements.txt").read_text()))
    assert str(parsed["docker"]) == "<8,>=7.1"
    assert set(parsed) == {"invoke", "docker", "boto3", "tabulate", "watchfiles", "packaging"}


def test_parse_requirements_skips_options_comments_and_markers_that_exclude_this_python():
    text = ("-r base.txt\nmoto[server]>=5,<6  # note\nold ; python_version<'3.8'\n"
            "new ; python_version>='3.8'\n\n# c\n")
    parsed = [(name, str(spec)) for name, spec in doctor_checks.parse_requirements(text)]
    assert parsed == [("moto", "<6,>=5"), ("new", "")]


# As pip reads them (PEP 440): a wildcard, a pre-release below its release, ~= and !=.
@pytest.mark.parametrize("version, spec, expected", [
    ("7.1.0", ">=7.1,<8", True), ("7.0.9", ">=7.1,<8", False), ("8.0", ">=7.1,<8", False),
    ("0.10.0", ">=0.9,<0.11", True), ("3.0.3", ">=2.2,<4", True), ("1.2", "==1.2.0", True),
    ("2.5", "~=2.2", True), ("3.0", "~=2.2", False), ("2.2.9", "~=2.2.0", True),
    ("2.3.0", "~=2.2.0", False), ("7.2.0", "==7.*", True), ("8.0.0", "==7.*", False),
    ("2.0.0rc1", ">=2.0.0", False), ("2.0.0rc1", ">=2.0.0rc1", True),
    ("2.1.0rc1", ">=2.0,<3", True), ("1.5", "!=1.5", False), ("1.5.1", "!=1.5.*", False),
    ("not-a-version", ">=1", False),
])
def test_satisfies_reads_specifiers_as_pip_does(version, spec, expected):
    from packaging.specifiers import SpecifierSet

    assert doctor_checks.satisfies(version, SpecifierSet(spec)) is expected


def test_packages_row_fails_for_a_missing_package_and_warns_outside_the_range(tmp_path):
    (tmp_path / "requirements.txt").write_text("tabulate>=0.9\nno-such-package-xyz>=1\n")
    [checked] = doctor_checks.python_packages(None, Settings(root=tmp_path))
    assert checked["status"] == "fail" and "no-such-package-xyz" in checked["detail"]
    assert checked["fix"] == "python3 -m pip install -r requirements.txt"
    (tmp_path / "requirements.txt").write_text("tabulate<0.1\n")
    [checked] = doctor_checks.python_packages(None, Settings(root=tmp_path))
    assert checked["status"] == "warn" and "wants <0.1" in checked["detail"]


# --- the container and its variables ----------------------------------------------------

def test_likely_cause_reads_the_apps_own_fatal_line():
    lines = ['tasky: fatal: MONGODB_URI is invalid: scheme must be mongodb:// or '
             'mongodb+srv:// (got "http"); fix the variable and restart']
    cause, fix = doctor_run.likely_cause(lines, oom=False, code=1, known={"MONGODB_URI"})
    assert "invalid or missing MONGODB_URI" in cause
    assert "inv run -e MONGODB_URI=" in fix.format(name="tasky")
    assert doctor_run.likely_cause([], oom=True, code=137)[0] == "killed: out of memory"
    assert "SIGKILL" in doctor_run.likely_cause([], oom=False, code=137)[0]
    assert "not a crash" in doctor_run.likely_cause([], oom=False, code=0)[0]
    assert doctor_run.likely_cause(["?"], oom=False, code=2)[0].startswith("not recognised")
    # Another app's words for the same trouble, and a name the profile does not know.
    upstream = ["fatal: SECRET_KEY must be set"]
    assert "SECRET_KEY" in doctor_run.likely_cause(upstream, False, 1, {"SECRET_KEY"})[0]
    assert doctor_run.likely_cause(upstream, False, 1, {"OTHER"})[0].startswith("not recogn")


def test_log_lines_lose_uri_passwords():
    from ops.core import redact

    line = redact.redact_text("connecting to mongodb://admin:s3cret@db:27017/tasky now")
    assert "s3cret" not in line and "mongodb://admin:****@db:27017/tasky" in line


@pytest.mark.parametrize("value, problem", [
    ("mongodb://u:p@db/tasky", None), ("mongodb+srv://cluster.example.net", None),
    ("http://u:p@h/db", "it must start with mongodb:// or mongodb+srv://"),
    ("mongodb://u:p@/db", "it names no host"), ("db.example.net", "it must start with"),
])
def test_mongo_uri_problem(value, problem):
    found = doctor_run.mongo_uri_problem(value)
    assert found == problem or (problem and found.startswith(problem))


def test_variables_follow_the_app_profile_and_never_show_values(tmp_path):
    import dataclasses

    from ops.settings.config import App

    env_file = tmp_path / ".env"
    env_file.write_text("SECRET_KEY=short-secret-value\n"
                        "MONGODB_URI=http://user:hunter2-pw@db/tasky\n")
    app = App(required_env=("MONGODB_URI", "DB_NAME"), secret_env=("SECRET_KEY",),
              env_file=".env")
    settings = dataclasses.replace(Settings(), root=tmp_path, app=app)
    rows = {r["check"]: r for r in doctor_run.variables(None, settings)}
    assert list(rows) == ["MONGODB_URI", "DB_NAME", "SECRET_KEY"]   # no JWT_SECRET: not ours
    assert rows["MONGODB_URI"]["status"] == "warn" and "invalid" in rows["MONGODB_URI"]["detail"]
    assert rows["DB_NAME"]["status"] == "warn" and "refuses to start" in rows["DB_NAME"]["detail"]
    assert rows["SECRET_KEY"] == {**rows["SECRET_KEY"], "status": "ok",
                                  "detail": "set in .env"}
    shown = repr(rows)
    assert "short-secret-value" not in shown and "hunter2-pw" not in shown


def test_an_app_profile_without_variables_is_one_ok_row():
    import dataclasses

    from ops.settings.config import App

    settings = dataclasses.replace(Settings(), app=App(required_env=(), secret_env=()))
    assert [r["status"] for r in doctor_run.variables(None, settings)] == ["ok"]


# --- AWS region -------------------------------------------------------------------------

def test_region_row_names_where_the_region_comes_from(monkeypatch):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    region, checked = doctor_aws.region_row(Settings())
    assert region == "us-east-1" and "default" in checked["detail"]
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert doctor_aws.region_row(Settings())[1]["detail"] == "eu-west-1 (AWS_DEFAULT_REGION)"
    # The order: --region, then AWS_REGION / AWS_DEFAULT_REGION, then config.
    configured = Settings(ecr=Ecr(region="ap-south-1"))
    assert doctor_aws.region_row(configured)[1]["detail"] == "eu-west-1 (AWS_DEFAULT_REGION)"
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert doctor_aws.region_row(configured)[1]["detail"] == "ap-south-1 (tasky.ecr.region)"
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    assert doctor_aws.region_row(configured)[1]["detail"] == "us-west-2 (AWS_REGION)"
    flagged = configured.with_region("sa-east-1")
    assert doctor_aws.region_row(flagged)[1]["detail"] == "sa-east-1 (--region)"


def test_every_autofix_a_check_names_has_a_fix_and_says_what_it_does():
    sources = " ".join(path.read_text() for path in (ROOT / "ops" / "doctor").glob("*.py"))
    named = set(re.findall(r'autofix="([a-z-]+)"', sources))   # also `autofix="x" if ...`
    assert named == set(doctor_fixes.FIXES) == set(doctor_fixes.FIX_SAYS)


def test_builder_row_says_which_builder_and_why():
    import dataclasses

    from ops.settings.config import Settings as S

    assert doctor_engine.build_backend(None, S())[0]["status"] == "skip"
    classic = dataclasses.replace(S(), builder="classic")
    [checked] = doctor_engine.build_backend(object(), classic)
    assert checked["status"] == "ok" and checked["detail"].startswith("classic (tasky.builder")


def test_a_docker_host_that_is_no_address_gets_its_own_fix(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "bogus://nowhere")
    _, [daemon] = doctor_engine.connect()
    assert daemon["status"] == "fail"
    assert "start it" not in daemon["fix"]
    assert "DOCKER_HOST" in daemon["detail"] + daemon["fix"]
