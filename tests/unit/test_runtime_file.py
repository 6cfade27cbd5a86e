"""`inv -f FILE`: whatever the file holds, the answer is the task or one line naming the file
(and JSON on stdout with --json), never Invoke's traceback; a missing file is an error."""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from invoke import Config, Context

from ops.core.errors import OpsError
from ops.settings import invoke_yaml, load
from tests.unit.unit_support import ROOT, cli_many

SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=False),
                   st.text(max_size=8))
KEYS = st.sampled_from(["app", "bases", "ecr", "port", "image", "prot", "tasky", "probe_path",
                        "required_env", "container_port", "push_retries", "x"])
VALUE = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                    st.dictionaries(KEYS, inner, max_size=3)),
                     max_leaves=8)


def load_as_inv_does(path):
    cfg = Config(project_location=str(ROOT), runtime_path=str(path), lazy=True)
    cfg.load_project()
    cfg.load_runtime()
    return load.load(Context(config=cfg))


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=st.one_of(VALUE, st.dictionaries(st.just("tasky"), VALUE, max_size=1)))
def test_any_runtime_file_is_the_settings_or_one_line_never_a_traceback(tmp_path, document):
    path = tmp_path / "profile.yaml"
    path.write_text(json.dumps(document))   # JSON is YAML
    try:
        invoke_yaml.check_runtime_file(str(path))
    except OpsError as error:
        assert str(path) in error.message and error.anchor == "bad-config"
        return
    try:
        load_as_inv_does(path)
    except OpsError as error:
        assert error.anchor == "bad-config" and "\n" not in error.line()


CASES = {
    "missing": (None, "does not exist"),
    "a folder": ("folder", "which is a folder"),
    "tasky: 5": ("tasky: 5\n", "tasky is a int"),
    "app: as a list": ("tasky:\n  app:\n    - a\n", "tasky.app is a list"),
    "invalid YAML": ("tasky:\n  port: [\n", "line 3 is not valid YAML"),
    "a list at the top": ("- tasky\n", "holds a list"),
    "not UTF-8": (b"tasky:\n  image: \xff\n", "is not UTF-8 text"),
    "an unknown key": ("tasky:\n  prot: 1\n", "unknown setting tasky.prot in"),
}


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    folder = tmp_path_factory.mktemp("profiles")
    runs = {}
    for name, (content, _) in CASES.items():
        path = folder / (name.replace(" ", "-").replace(":", "") + ".yaml")
        if content == "folder":
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            path.write_text(content)
        runs[name] = (path, ["-f", str(path), "layers", "--json"])
    done = cli_many({name: argv for name, (_, argv) in runs.items()})
    return {name: (runs[name][0], proc) for name, proc in done.items()}


@pytest.mark.parametrize("name", CASES)
def test_a_profile_problem_is_one_line_naming_the_file_and_json_with_json(ran, name):
    path, proc = ran[name]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert len(errors) == 1 and CASES[name][1] in errors[0] and str(path) in errors[0]
    assert json.loads(proc.stdout)["ok"] is False
