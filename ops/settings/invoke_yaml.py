"""invoke.yaml, read once: the project's settings and their defaults.

Apart from ops/settings/config.py (the settings declared on it) so that `inv --list` can check the
file, and say a malformed one in one line, without building the settings.
"""
import functools
from pathlib import Path

from ops.core.errors import OpsError

ROOT = Path(__file__).resolve().parents[2]
CONFIG_FILE = ROOT / "invoke.yaml"


def safe_load(handle):
    """A YAML document as yaml.safe_load reads it, through libyaml when PyYAML has it (Invoke's
    own import of its YAML has loaded PyYAML's C module then): about 0.2 ms for invoke.yaml
    instead of 2-4 ms in pure Python, at every `inv`."""
    try:
        from yaml import CSafeLoader, load
    except ImportError:
        from invoke.util import yaml

        return yaml.safe_load(handle)
    return load(handle, Loader=CSafeLoader)


def yaml_errors():
    """The errors safe_load may raise: Invoke's YAML's, and PyYAML's when they differ."""
    from invoke.util import yaml

    try:
        import yaml as pyyaml
    except ImportError:
        return (yaml.YAMLError,)
    return (yaml.YAMLError, pyyaml.YAMLError)


@functools.cache
def tasky_section():
    """invoke.yaml's tasky section; a file that cannot be read is one OpsError naming the line
    (this runs when tasks.py is imported, so even `inv --list` says it in one line)."""
    try:
        with open(CONFIG_FILE, encoding="utf-8") as handle:
            data = safe_load(handle)
    except (OSError, UnicodeDecodeError) as exc:
        raise OpsError(f"cannot read {CONFIG_FILE.name}: {getattr(exc, 'strerror', None) or exc}",
                       fix="restore it: git checkout invoke.yaml", anchor="bad-config") from None
    except yaml_errors() as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise OpsError(f"{CONFIG_FILE.name}{where} is not valid YAML ({problem})",
                       fix="correct that line (git diff invoke.yaml shows what changed)",
                       anchor="bad-config") from None
    if not isinstance(data, dict) or not isinstance(data.get("tasky"), dict):
        raise OpsError(f"{CONFIG_FILE.name} has no tasky: section of settings",
                       fix="restore it: git checkout invoke.yaml", anchor="bad-config")
    return data["tasky"]




def runtime_file(argv, environ):
    """The `-f`/`--config` file Invoke will load (or INVOKE_RUNTIME_CONFIG), as given, or None.
    Only the flags before the first task count, as Invoke reads them."""
    for index, word in enumerate(argv[1:], start=1):
        if word in ("-f", "--config"):
            return argv[index + 1] if index + 1 < len(argv) else ""
        if word.startswith("--config="):
            return word.split("=", 1)[1]
        if word.startswith("-f") and len(word) > 2 and not word.startswith("--"):
            return word[2:]
        if not word.startswith("-"):
            break   # a task name: what follows is the task's own flags
    return environ.get("INVOKE_RUNTIME_CONFIG")


def check_runtime_file(given):
    """The `-f` file exists, is a YAML or JSON file Invoke can read, and any tasky: in it is a
    section of keys (load.py checks each key when a task runs, naming this file's line)."""
    import json
    import os

    path = Path(os.path.expanduser(given)) if given else None
    fix = "pass a YAML (.yaml, .yml) or JSON file of settings, e.g. -f prod.yaml"
    if path is None or not path.exists():
        raise OpsError(f"-f names {given!r}, which does not exist", fix=fix,
                       anchor="bad-config")
    if not path.is_file():
        what = "a folder" if path.is_dir() else "not a regular file"
        raise OpsError(f"-f names {given}, which is {what}", fix=fix, anchor="bad-config")
    kind = path.suffix.lstrip(".")
    if kind not in ("yaml", "yml", "json"):
        raise OpsError(f"-f names {given}: Invoke reads .yaml, .yml and .json settings files, "
                       f"not {path.suffix or 'files without a suffix'}", fix=fix,
                       anchor="bad-config")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle) if kind == "json" else safe_load(handle)
    except OSError as exc:
        raise OpsError(f"cannot read {given}: {exc.strerror}", fix=fix,
                       anchor="bad-config") from None
    except UnicodeDecodeError:
        raise OpsError(f"{given} is not UTF-8 text", fix=fix, anchor="bad-config") from None
    except (ValueError, *yaml_errors()) as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else getattr(exc, "lineno", None)
        where = f" line {line}" if line else ""
        raise OpsError(f"{given}{where} is not valid {kind.upper().replace('YML', 'YAML')}",
                       fix="correct that line", anchor="bad-config") from None
    if data is None:
        return
    if not isinstance(data, dict):
        raise OpsError(f"{given} holds a {type(data).__name__}, not a mapping of settings",
                       fix="write it as `tasky:` and the settings under it", anchor="bad-config")
    if "tasky" in data and not isinstance(data["tasky"], dict):
        raise OpsError(f"{given}: tasky is a {type(data['tasky']).__name__}, not a section of "
                       "settings", fix="write the settings under `tasky:`, one key a line",
                       anchor="bad-config")
    _same_shape(given, data.get("tasky") or {}, tasky_section(), ("tasky",))


def _same_shape(given, runtime, project, path):
    """A section in invoke.yaml is a section in the -f file too, and a value a value: Invoke
    cannot merge a section with anything else (its own error is a traceback)."""
    for key, value in runtime.items():
        if key not in project:
            continue   # an unknown key: load.py names it, with its line, when a task runs
        dotted = ".".join((*path, key))
        if isinstance(project[key], dict) != isinstance(value, dict):
            wanted = "a section of keys" if isinstance(project[key], dict) else "a value"
            raise OpsError(f"{given}: {dotted} is a {type(value).__name__}, not {wanted} as in "
                           f"{CONFIG_FILE.name}", fix=f"write {dotted} as invoke.yaml does",
                           anchor="bad-config")
        if isinstance(value, dict):
            _same_shape(given, value, project[key], (*path, key))
