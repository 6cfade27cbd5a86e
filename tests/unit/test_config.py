"""Settings precedence: invoke.yaml < INVOKE_TASKY_* environment < task flags."""
import dataclasses

import pytest
from invoke import Config, Context

try:
    import yaml
except ImportError:  # PyYAML is not a declared requirement; Invoke carries its own copy
    from invoke.util import yaml

import tasks
from ops.core.errors import OpsError
from ops.settings import config, load
from tests.unit.unit_support import ROOT, invoke_config


@pytest.fixture(scope="module")
def project_yaml():
    """The project's invoke.yaml `tasky` section, as a user reads it."""
    return yaml.safe_load((ROOT / "invoke.yaml").read_text())["tasky"]


def settings_for(cfg, **flags):
    """What a task sees: the same path tasks.py takes from a Context."""
    return tasks.settings(Context(config=cfg), **flags)


def flatten(section, prefix=()):
    """invoke.yaml's nested sections as {(key, subkey): value}."""
    flat = {}
    for key, value in section.items():
        if isinstance(value, dict):
            flat.update(flatten(value, prefix + (key,)))
        else:
            flat[prefix + (key,)] = value
    return flat


def as_set(value):
    """A list in invoke.yaml is a tuple in the (frozen) settings."""
    return tuple(value) if isinstance(value, list) else value


def lookup(settings, path):
    for name in path:
        assert dataclasses.is_dataclass(settings), f"{'.'.join(path)}: no such setting"
        assert name in {f.name for f in dataclasses.fields(settings)}, \
            f"tasky.{'.'.join(path)} in invoke.yaml is not a setting (ignored without a word)"
        settings = getattr(settings, name)
    return settings


def test_invoke_yaml_values_reach_the_settings(project_yaml):
    s = settings_for(invoke_config())
    for path, value in flatten(project_yaml).items():
        assert lookup(s, path) == as_set(value), ".".join(path)


def test_every_invoke_yaml_key_is_a_setting(project_yaml):
    """A misspelt key in invoke.yaml would otherwise be ignored without a word."""
    defaults = config.Settings()
    for path in flatten(project_yaml):
        lookup(defaults, path)


def test_invoke_yaml_is_the_source_of_the_code_defaults(project_yaml):
    """`inv` run outside the project root (no invoke.yaml loaded) behaves the same."""
    defaults = config.Settings()
    for path, value in flatten(project_yaml).items():
        assert lookup(defaults, path) == as_set(value), ".".join(path)


def test_env_var_beats_invoke_yaml_and_flag_beats_env(monkeypatch, project_yaml):
    from_file = project_yaml["port"]
    from_env, from_flag = from_file + 1010, from_file + 2020
    assert settings_for(invoke_config()).port == from_file

    monkeypatch.setenv("INVOKE_TASKY_PORT", str(from_env))
    cfg = invoke_config()
    assert settings_for(cfg).port == from_env
    assert settings_for(cfg, port=from_flag).port == from_flag
    assert load.load(Context(config=cfg), port=from_flag).port == from_flag


def test_flag_left_at_none_keeps_the_configured_value(monkeypatch, project_yaml):
    monkeypatch.setenv("INVOKE_TASKY_CONTAINER", "from-env")
    s = settings_for(invoke_config(), container=None, port=None)
    assert s.container == "from-env"
    assert s.port == project_yaml["port"]


def test_a_flag_replaces_only_its_own_setting():
    cfg = Config(overrides={"tasky": {"image": "tasky", "port": 8000, "container": "c1"}},
                 lazy=True)
    base = load.load(Context(config=cfg))
    changed = load.load(Context(config=cfg), port=9000, container=None)
    assert changed.port == 9000
    assert changed.container == "c1"
    assert changed.image == "tasky"
    assert base.port == 8000  # frozen: the settings a task got are never changed
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.port = 1


def test_only_none_means_a_flag_was_not_given():
    """An explicit 0 is a value (--port 0: Docker picks one), not 'keep the configured one'."""
    s = load.load(Context(config=Config(overrides={"tasky": {"port": 8080}}, lazy=True)), port=0)
    assert s.port == 0


@pytest.mark.parametrize("text, expected", [("7070", 7070), (7070, 7070)])
def test_numeric_flag_given_as_text_becomes_a_number(text, expected):
    s = load.load(Context(config=Config(lazy=True)), port=text)
    assert s.port == expected
    assert isinstance(s.port, int)


@pytest.mark.parametrize("text", ["80a", "", "8080.5", "eighty"])
def test_numeric_flag_that_is_not_a_number_is_a_clear_error(text):
    with pytest.raises(OpsError) as caught:
        load.load(Context(config=Config(lazy=True)), port=text)
    assert caught.value.anchor == "bad-flag"
    assert "--port" in caught.value.message
    assert repr(text) in caught.value.message


def test_a_flag_that_overrides_no_setting_is_a_bug_in_tasks_py():
    with pytest.raises(TypeError):
        load.load(Context(config=Config(lazy=True)), image="x")


def test_every_setting_is_declared_once_with_its_default_from_invoke_yaml(project_yaml):
    """Name, type, validator and flag in one declaration; the value only in invoke.yaml."""
    declared = {path: (field, setting) for path, field, setting in config.declared()}
    assert set(declared) == set(flatten(project_yaml))
    flags = [setting.flag for _, setting in declared.values() if setting.flag]
    assert sorted(flags) == ["--host-ip", "--name", "--platform", "--port", "--timeout"]
    for path, (field, _) in declared.items():
        assert field.default == as_set(lookup(project_yaml_settings(project_yaml), path))


def project_yaml_settings(project_yaml):
    return load.load(Context(config=Config(overrides={"tasky": project_yaml}, lazy=True)))


def test_nested_bases_key_from_env(monkeypatch, project_yaml):
    monkeypatch.setenv("INVOKE_TASKY_BASES_OFFLINE_GO", "example/go-standin:env")
    s = settings_for(invoke_config())
    assert s.bases.offline_go == "example/go-standin:env"
    assert s.bases.runtime == project_yaml["bases"]["runtime"]  # siblings keep their value


def test_env_string_is_cast_to_the_configured_type(monkeypatch):
    monkeypatch.setenv("INVOKE_TASKY_DOCKER_TIMEOUT", "120")
    assert settings_for(invoke_config()).docker_timeout == 120


@pytest.mark.parametrize("name, value", [("HEALTH_TIMEOUT", "2.5"), ("SIZE_BUDGET_MB", "15.5"),
                                         ("START_GRACE", "0.5")])
def test_fractional_env_value_for_a_float_setting(monkeypatch, name, value):
    monkeypatch.setenv(f"INVOKE_TASKY_{name}", value)
    s = settings_for(invoke_config())
    assert getattr(s, name.lower()) == float(value)


@pytest.mark.parametrize("section, named, near", [
    ({"no_such_setting": "x"}, "tasky.no_such_setting", None),
    ({"prot": 1234}, "tasky.prot", "port"),
    ({"bases": {"go": "example/go:1", "offline_goo": "y"}}, "tasky.bases.offline_goo",
     "offline_go"),
    ({"ecr": {"repositry": "x"}}, "tasky.ecr.repositry", "repository"),
    ({"unknown_section": {"a": 1}}, "tasky.unknown_section", None)])
def test_from_invoke_refuses_unknown_keys_and_suggests_the_near_one(section, named, near):
    cfg = Config(overrides={"tasky": section}, lazy=True)
    with pytest.raises(OpsError) as caught:
        load.load(Context(config=cfg))
    assert caught.value.anchor == "bad-config"
    assert f"unknown setting {named} " in caught.value.message
    if near:
        assert caught.value.message.endswith(f"did you mean {near}?")
    else:
        assert "did you mean" not in caught.value.message


def test_unknown_key_in_a_yaml_file_names_the_file_and_line(tmp_path, monkeypatch):
    written = tmp_path / "invoke.yaml"
    written.write_text("tasky:\n  image: x\n  # a comment\n  contianer: oops\n")
    monkeypatch.setattr(load, "CONFIG_FILE", written)
    cfg = Config(overrides={"tasky": {"contianer": "oops"}}, lazy=True)
    with pytest.raises(OpsError) as caught:
        load.load(Context(config=cfg))
    assert "in invoke.yaml line 4: did you mean container?" in caught.value.message


@pytest.mark.parametrize("section, words", [
    ({"port": "eighty"}, "tasky.port in the Invoke configuration"),
    ({"port": True}, "must be a whole number, not bool"),
    ({"image": 7}, "tasky.image"),
    ({"ecr": {"push_retries": 1.5}}, "tasky.ecr.push_retries"),
    ({"bases": "golang"}, "tasky.bases")])
def test_a_value_of_the_wrong_type_is_one_clear_error(section, words):
    cfg = Config(overrides={"tasky": section}, lazy=True)
    with pytest.raises(OpsError) as caught:
        load.load(Context(config=cfg))
    assert caught.value.anchor == "bad-config"
    assert words in caught.value.message


def test_a_whole_number_is_a_fine_float_setting():
    cfg = Config(overrides={"tasky": {"health_timeout": 3, "ecr": {"push_backoff": 2}}},
                 lazy=True)
    s = load.load(Context(config=cfg))
    assert s.health_timeout == 3.0 and isinstance(s.health_timeout, float)
    assert s.ecr.push_backoff == 2.0


def test_from_invoke_without_a_tasky_section_uses_the_defaults():
    s = load.load(Context(config=Config(lazy=True)))
    assert s == config.Settings()


def test_paths_are_relative_to_the_root(tmp_path):
    s = config.Settings(root=tmp_path, dockerfile="build/Dockerfile", context="src")
    assert s.dockerfile_path == tmp_path / "build" / "Dockerfile"
    assert s.context_path == tmp_path / "src"


def test_bases_cache_path_expands_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config.Bases(cache_dir="~/cache/x").cache_path == tmp_path / "cache" / "x"
