"""Every input through the real `inv` command line: a bad value for each flag of each task and
for each INVOKE_TASKY_* variable, and for invoke.yaml itself, ends as exit 1, no traceback,
one `error:` line naming where the value came from and the value, before any engine call
(DOCKER_HOST points at nothing, so a late check would show the engine's error instead).
"""
import copy
import re
import shutil

import pytest
from invoke import Collection

import tasks
from ops.settings import load
from ops.settings.validate import CONTROL
from tests.unit.unit_support import ROOT, cli_many

NS = Collection.from_module(tasks)
MISSING = "/nonexistent/tasky-ops-unit/missing.env"

# flag -> bad values. A flag of a task that is absent here fails test_every_flag_is_covered.
BAD_FLAGS = {
    "tag": ["a:b", "-lead", "x" * 129, "sp ace"],
    "version": ["1 2", 'v1"2', "'q'", "-x", "1\x0b2", "v1\u2028"],
    "port": ["70000", "-1", "abc", "1.5", "65536"],
    "host_ip": ["everywhere", "256.0.0.1", "localhost", ""],
    "name": ["-x", "a b", "x", "a/b"],
    "timeout": ["nan", "-1", "5s", "inf"],
    "tail": ["x", "-1", "1.5"],
    "limit": ["0", "x", "-3"],
    "keep": ["0", "x"],
    "untagged_days": ["0", "1.5"],
    "scan_wait": ["x", "-5", "nan"],
    "wait": ["x", "-1", "inf"],
    "region": ["us east", "US-EAST-1", "x", "us-east-1/"],
    "registry": ["foo", "ECR"],
    "scanner": ["foo"],
    "severity": ["FOO", ","],
    "scan": ["foo"],
    "src": ["a b", "sha256:xyz"],
    "dest": ["a:b", "sha256:" + "0" * 64],
    "to": ["sha256:12", "a b"],
    "build_arg": ["X", "1X=2", "A B=1", "PASSWORD:hunter2", "GOFLAGS=-x\n-y",
                  "GOPROXY=https://u:pw-hunter2@proxy.example/"],
    "env": ["=oops", "A B=1", "1A=2", "DB_PASSWORD:hunter2", "A=hunter2\x0chunter2",
            "JWT=hunter2\x85"],
    "env_file": [MISSING],
    "platform": ["linux/sparc", "windows/amd64", "arm64", "linux/arm64/v9"],
}
# Flags with no bad value: switches, and free text passed through as given.
FREE = {"goproxy", "k"}
# Arguments a task needs before it reaches the flag under test.
REQUIRED = {"promote": {"src": "v1", "dest": "latest"}}
# Where the error line names the flag (Invoke's dashes), or what it names instead.
NAMED = {"env": "-e", "env_file": MISSING, "severity": "--severity"}
HIDDEN = {"env", "build_arg"}
# Tasks that take --tag as an ECR tag or digest, or (push) a bare --tag for the git SHA.
SKIP = {("push", "tag", "")}


def flag_of(name):
    return "--" + name.replace("_", "-")


def task_flags(name):
    """The flags of a task that take a value (switches cannot be given a bad one)."""
    task = copy.deepcopy(NS[name])
    return [arg.name for arg in task.get_arguments() if arg.kind is not bool]


def flag_cases():
    cases = {}
    for name in NS.task_names:
        for arg in task_flags(name):
            key = arg.replace("-", "_")
            for value in BAD_FLAGS.get(key, []):
                if (name, key, value) in SKIP:
                    continue
                argv = [name]
                for other, good in REQUIRED.get(name, {}).items():
                    if other != key:
                        argv += [flag_of(other), good]
                shown = value
                if CONTROL.search(value):   # its position is said, never its content
                    shown = None
                elif key in HIDDEN:   # KEY=VALUE: only what could be a name may be echoed
                    shown = re.match(r"[A-Za-z0-9_]*", value).group() or None
                cases[f"{name} {flag_of(key)} {value!r}"] = (argv + [flag_of(key), value],
                                                             NAMED.get(key, flag_of(key)), shown)
    return cases


def bad_variable_values(path, default):
    if isinstance(default, (list, tuple)):
        return ["X"]   # Invoke cannot read a list from the environment
    if isinstance(default, bool):
        return []
    if isinstance(default, int):
        return ["abc", "1.5", "-7"] if path[-1] not in ("port", "container_port") \
            else ["abc", "70000", "-1"]
    if isinstance(default, float):
        return ["abc", "nan", "-1"]
    specific = {"image": ["Tasky Image", "UPPER"], "container": ["-x"], "host_ip": ["not-an-ip"],
                "builder": ["kaniko"], "probe_path": ["no-slash"], "go": ["golang:1 19"],
                "runtime": ["Alpine"], "offline_go": ["x::y"], "offline_runtime": ["a b"],
                "repository": ["host.example/repo"], "region": ["us east"],
                "registry": ["not a host!!", "127.0.0.1:5000/", "https://x"],
                "tag_mutability": ["immutable"], "local_registry": ["LOCALHOST:99999"]}
    return specific.get(path[-1], [])


def variable_cases():
    cases = {}
    names = sorted(NS.task_names)
    for index, (var, (path, default)) in enumerate(sorted(load.known_variables().items())):
        for offset, value in enumerate(bad_variable_values(path, default)):
            task = names[(index + offset) % len(names)]   # every task sees some variable
            cases[f"{var}={value!r} inv {task}"] = ([task] + [
                item for other, good in REQUIRED.get(task, {}).items()
                for item in (flag_of(other), good)], var, value, {var: value})
    cases["INVOKE_TASKY_PROT=9090 inv doctor"] = (["doctor"], "INVOKE_TASKY_PROT", None,
                                                  {"INVOKE_TASKY_PROT": "9090"})
    cases["INVOKE_TASKY_ECR=x inv --list"] = (["--list"], "INVOKE_TASKY_ECR", None,
                                              {"INVOKE_TASKY_ECR": "x"})
    cases["ECR_REGISTRY='not a host!!' inv push"] = (["push"], "ECR_REGISTRY", "not a host!!",
                                                     {"ECR_REGISTRY": "not a host!!"})
    cases["ECR_REGISTRY=HOST:PORT/ inv push"] = (["push", "--registry", "local"], "ECR_REGISTRY",
                                                 "127.0.0.1:5000/",
                                                 {"ECR_REGISTRY": "127.0.0.1:5000/"})
    cases["AWS_REGION=bad inv images"] = (["images"], "AWS_REGION", "Mars-1",
                                          {"AWS_REGION": "Mars-1"})
    cases["AWS_DEFAULT_REGION=bad inv login"] = (["login"], "AWS_DEFAULT_REGION", "x y",
                                                 {"AWS_DEFAULT_REGION": "x y"})
    for task in ("build", "demo", "release", "dev"):   # before any engine call, both builders
        cases[f"GOPROXY with a password inv {task}"] = (
            [task], "GOPROXY", None, {"GOPROXY": "off,https://u:pw-hunter2@proxy.example/"})
    cases["GONOSUMDB with a line break inv build"] = (["build"], "GONOSUMDB", None,
                                                      {"GONOSUMDB": "example.com\nx"})
    cases["DOCKER_HOST=garbage inv layers"] = (["layers"], "DOCKER_HOST", "garbage://x",
                                               {"DOCKER_HOST": "garbage://x"})
    cases["DOCKER_HOST=port out of range inv build"] = (
        ["build", "--offline"], "DOCKER_HOST", "tcp://127.0.0.1:65536",
        {"DOCKER_HOST": "tcp://127.0.0.1:65536"})
    return cases


FLAG_CASES = flag_cases()
VARIABLE_CASES = variable_cases()


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    binary = tmp_path_factory.mktemp("files") / "binary.env"
    binary.write_bytes(b"KEY=\x00\x01\x02")
    latin = binary.with_name("latin1.env")
    latin.write_bytes("A=1\nNAME=Ren\xe9\n".encode("latin-1"))
    feed = binary.with_name("feed.env")
    feed.write_bytes(b"A=1\nB=hunter2\x0chunter2\n")
    extra = {"binary env file": (["run", "--env-file", str(binary)], str(binary), None),
             "latin-1 env file": (["run", "--env-file", str(latin)], "line 2", None),
             "form feed env file": (["run", "--env-file", str(feed)], "line 2", None)}
    commands = {key: argv for key, (argv, _, _) in {**FLAG_CASES, **extra}.items()}
    results = {}
    keys = list(commands)
    for start in range(0, len(keys), 12):   # 2 cores: a dozen at a time
        results.update(cli_many({k: commands[k] for k in keys[start:start + 12]}))
    keys = list(VARIABLE_CASES)
    for start in range(0, len(keys), 12):
        batch = keys[start:start + 12]
        results.update(cli_many({k: VARIABLE_CASES[k][0] for k in batch},
                                envs={k: VARIABLE_CASES[k][3] for k in batch}))
    return results, extra


def refused(proc, source, value):
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert source in line, line
    if value is not None:
        assert repr(value) in line or value in line, line
    assert "docker-daemon-not-running" not in line, "checked after reaching for the engine"
    assert "RUNBOOK.md#" in line
    return line


@pytest.mark.parametrize("case", sorted(FLAG_CASES))
def test_a_bad_flag_is_one_line_naming_it(ran, case):
    argv, source, value = FLAG_CASES[case]
    line = refused(ran[0][case], source, None if source == MISSING else value)
    given = argv[-1]
    if argv[-2] in ("-e", "--env", "--build-arg"):   # a value is never echoed
        secret = given.split("=", 1)[1] if "=" in given else given.partition(":")[2]
        assert not secret or secret not in line, line
        assert "hunter2" not in line
    if CONTROL.search(given):
        assert "control character" in line and "at character " in line, line
        assert all(piece not in line for piece in CONTROL.split(given) if len(piece) > 3)


@pytest.mark.parametrize("case", sorted(c for c in VARIABLE_CASES if "hunter2" in str(c)
                                        or "line break" in c))
def test_a_go_variable_the_build_would_take_is_refused_without_its_value(ran, case):
    line = refused(ran[0][case], VARIABLE_CASES[case][1], None)
    assert "hunter2" not in line and "example.com" not in line
    if "password" in case:
        assert "RUNBOOK.md#build-arg-credentials" in line and "--mount=type=secret" in line


@pytest.mark.parametrize("case", sorted(VARIABLE_CASES))
def test_a_bad_variable_is_one_line_naming_it(ran, case):
    argv, source, value, env = VARIABLE_CASES[case]
    refused(ran[0][case], source, value)


@pytest.mark.parametrize("case", ["binary env file", "latin-1 env file", "form feed env file"])
def test_an_env_file_that_is_not_text_says_so_without_quoting_it(ran, case):
    results, extra = ran
    argv, source, _ = extra[case]
    line = refused(results[case], source, None)
    assert "binary" in line or "not UTF-8" in line or "control character" in line
    assert "Ren" not in line and "\\x" not in line and "hunter2" not in line


def test_every_flag_is_covered():
    """A new flag must get bad values here (or be listed as free text)."""
    missing = sorted({(name, arg.replace("-", "_")) for name in NS.task_names
                      for arg in task_flags(name)
                      if arg.replace("-", "_") not in BAD_FLAGS
                      and arg.replace("-", "_") not in FREE})
    assert missing == []


def test_every_variable_is_covered():
    uncovered = [var for var, (path, default) in load.known_variables().items()
                 if not bad_variable_values(path, default)
                 and path[-1] not in ("dockerfile", "context", "wizexercise", "app_user",
                                      "cache_dir", "env_file", "profile")]
    assert uncovered == []


# --- invoke.yaml itself -----------------------------------------------------------------

def line_of(text):
    lines = (ROOT / "invoke.yaml").read_text().splitlines()
    return "invoke.yaml line " + str(next(n for n, line in enumerate(lines, 1)
                                          if line.startswith(text)))


YAML_CASES = {"port: 70000": ("  port: 8080 ", "  port: 70000 ", line_of("  port:")),
              "host_ip: nope": ("  host_ip: 127.0.0.1 ", "  host_ip: nope ", line_of("  host_ip:")),
              "builder: kaniko": ("  builder: auto ", "  builder: kaniko ",
                                  line_of("  builder:")),
              "malformed": ("  port: 8080 ", "  port: [8080 ", "invoke.yaml line"),
              "not a mapping": ("tasky:\n", "- tasky\n", "invoke.yaml")}


@pytest.fixture(scope="module")
def yaml_runs(tmp_path_factory):
    commands = {}
    text = (ROOT / "invoke.yaml").read_text()
    for key, (old, new, _) in YAML_CASES.items():
        copy_root = tmp_path_factory.mktemp("yaml")
        shutil.copy(ROOT / "tasks.py", copy_root)
        shutil.copytree(ROOT / "ops", copy_root / "ops")
        assert old in text, old
        (copy_root / "invoke.yaml").write_text(text.replace(old, new, 1))
        for argv in (["layers"], ["--list"]):
            commands[(key, argv[0])] = (argv, copy_root)
    return {key: cli_many({key: argv}, cwd=root)[key] for key, (argv, root) in commands.items()}


@pytest.mark.parametrize("case", sorted(YAML_CASES))
def test_a_bad_invoke_yaml_is_one_line_naming_the_line(yaml_runs, case):
    where = YAML_CASES[case][2]
    refused(yaml_runs[(case, "layers")], where, None)
    listing = yaml_runs[(case, "--list")]
    assert "Traceback" not in listing.stderr
    if case in ("malformed", "not a mapping"):   # read at import: even --list says it
        refused(listing, where, None)
