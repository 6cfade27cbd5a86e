"""The settings a task runs with: invoke.yaml < INVOKE_TASKY_* < the task's flags, each value
checked once, here, by the validator its declaration names (config.py).

A key that is not a setting, a value of the wrong type or one its validator refuses is one
line naming where it was written: the flag, the variable, or the file and line.
"""
import dataclasses
import difflib
import os
from pathlib import Path

from ops.core.errors import OpsError, refuse
from ops.settings import config
from ops.settings.invoke_yaml import CONFIG_FILE, runtime_file

ENV_PREFIX = "INVOKE_TASKY_"
KINDS = {str: "text", int: "a whole number", float: "a number", tuple: "a list of names"}


def load(c, **flags):
    """Settings from an Invoke context's tasky section with the given flags applied.

    `flags` maps a setting's field name to the value its task flag gave (None: not given;
    0 and "" are values), e.g. load(c, port="9090", container=None)."""
    section = c.config.get("tasky", {}) or {}
    if not isinstance(section, dict):
        raise OpsError(f"tasky in {where_written((), section)} is a {type(section).__name__}, "
                       "not a section of settings", fix="write the settings under `tasky:`",
                       anchor="bad-config")
    section = dict(section)
    unknown = set(flags) - {path[-1] for path, _, setting in config.declared() if setting.flag}
    if unknown:
        raise TypeError(f"no flag overrides {sorted(unknown)}")   # a bug in tasks.py
    parts = {}
    for name, cls in config.sections().items():
        part = section.pop(name, None) or {}
        if not isinstance(part, dict):
            raise OpsError(f"setting tasky.{name} in {where_written((name,), part)} must be a "
                           "section of keys", fix=f"see invoke.yaml's {name}: section",
                           anchor="bad-config")
        parts[name] = cls(**_checked(cls, part, flags))
    return config.Settings(**parts, **_checked(config.Settings, section, flags))


def _checked(cls, given, flags):
    """{name: canonical value} of one section: unknown keys refused, every value's type and
    validator checked (a default from invoke.yaml too), a given flag in place of the value."""
    fields = {f.name: f for f in dataclasses.fields(cls) if "setting" in f.metadata}
    for key, value in given.items():
        if key not in fields:
            _unknown(key, value, cls.SECTION, fields)
    values = {}
    for name, field in fields.items():
        setting, path = field.metadata["setting"], (*cls.SECTION, name)
        if setting.flag and flags.get(name) is not None:
            check = setting.check or (lambda value, source: value)
            values[name] = check(flags[name], setting.flag)
        else:
            values[name] = _valid(field, setting, given.get(name, field.default), path)
    return values


def _valid(field, setting, value, path):
    dotted = ".".join(("tasky", *path))
    variable = ENV_PREFIX + "_".join(path).upper()
    source = variable if variable in os.environ else None
    value = _typed(field.type, value, dotted, path, source)
    if setting.check is None:
        return value
    try:
        return setting.check(value, source or dotted)
    except OpsError:
        if source is not None:
            raise
        # Finding the file and line parses YAML (about 5 ms a file): only for a refusal.
        setting.check(value, f"{dotted} ({where_written(path, value)})")
        raise


def _typed(kind, value, dotted, path, source):
    if kind is tuple:
        if isinstance(value, str):   # INVOKE_TASKY_* variables can only give text
            value = [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)
    elif kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    elif isinstance(value, kind) and not isinstance(value, bool):
        return value
    where = source or where_written(path, value)
    raise OpsError(f"setting {dotted} in {where} must be {KINDS[kind]}, not "
                   f"{type(value).__name__}", fix=f"write {dotted} as {KINDS[kind]}"
                   + (" ([A, B] or a comma list)" if kind is tuple else ""), anchor="bad-config")


def _unknown(key, value, path, fields):
    dotted = ".".join(("tasky", *path, key))
    choices = list(fields) + ([] if path else list(config.sections()))
    near = difflib.get_close_matches(key, choices, n=1)
    raise OpsError(f"unknown setting {dotted} in {where_written((*path, key), value)}"
                   + (f": did you mean {near[0]}?" if near else ""),
                   fix="correct or remove that key (settings: " + ", ".join(sorted(fields))
                   + ")", anchor="bad-config")


def where_written(path, value):
    """'invoke.yaml line N' when that file sets the tasky key to value, else a pointer to
    every place a value can come from (a file, an INVOKE_TASKY_* variable, a flag)."""
    from invoke.util import yaml

    keys = ["tasky", *path]
    import sys

    runtime = runtime_file(sys.argv, os.environ)
    files = ([Path(os.path.expanduser(runtime))] if runtime else []) + [
        CONFIG_FILE, Path.home() / ".invoke.yaml", Path("/etc/invoke.yaml")]
    for candidate in files:
        try:
            node = yaml.compose(candidate.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        for key in keys:
            found = None
            if isinstance(node, yaml.MappingNode):
                found = next(((k, v) for k, v in node.value if k.value == key), None)
            if found is None:
                break
            key_node, node = found
        else:
            if yaml.safe_load(yaml.serialize(node)) != value:
                continue   # the value came from elsewhere (a later file or the environment)
            shown = candidate.name if candidate == CONFIG_FILE else str(candidate)
            return f"{shown} line {key_node.start_mark.line + 1}"
    return "the Invoke configuration (invoke.yaml, ~/.invoke.yaml or INVOKE_TASKY_*)"


# --- INVOKE_TASKY_* before Invoke casts them (it raises its own ValueError otherwise) ----

def known_variables():
    """{INVOKE_TASKY_NAME: (path, default)} for every setting."""
    return {ENV_PREFIX + "_".join(path).upper(): (path, field.default)
            for path, field, _ in config.declared()}


def check_environment(environ=None):
    """Refuse, by name, an INVOKE_TASKY_* variable that is unknown, unsettable or malformed."""
    environ = os.environ if environ is None else environ
    known = known_variables()
    declared = {path: setting for path, _, setting in config.declared()}
    for name in sorted(k for k in environ if k.startswith(ENV_PREFIX)):
        text = environ[name]
        if name not in known:
            near = difflib.get_close_matches(name, list(known), n=1)
            raise OpsError(f"unknown variable {name}" + (f" (did you mean {near[0]})" if near
                                                          else ""),
                           fix="unset it or correct the name (INVOKE_TASKY_ + the invoke.yaml "
                               "key in capitals, e.g. INVOKE_TASKY_PORT)", anchor="bad-config")
        path, default = known[name]
        if isinstance(default, (list, tuple)):
            raise OpsError(f"{name} is {text!r}, but a list cannot be set from the "
                           "environment (Invoke reads only text there)",
                           fix=f"unset {name}; write tasky.{'.'.join(path)} in invoke.yaml",
                           anchor="bad-config")
        value = text
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            try:
                value = type(default)(text)   # what Invoke itself will do with it
            except ValueError:
                raise refuse(name, text, KINDS[type(default)], default, "bad-config") from None
        check = declared[path].check
        if check is not None:
            check(value, name)
