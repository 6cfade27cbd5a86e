"""Settings read from Invoke's config (invoke.yaml < INVOKE_TASKY_* env < flags).

invoke.yaml is the one source of default values: the dataclasses below declare the
settings' names and types and take their defaults from that file, so the two cannot
drift. A key that is not a setting, or a value of the wrong type, is an error naming the
key and where it was written, never silently ignored.
"""
import dataclasses
import difflib
import os
from pathlib import Path

from ops.core.errors import OpsError
from ops.settings.invoke_yaml import CONFIG_FILE, ROOT, tasky_section  # noqa: F401 (names kept here)

FILE = tasky_section()


def _default(*path):
    value = FILE
    for key in path:
        if not isinstance(value, dict) or key not in value:
            raise OpsError(f"{CONFIG_FILE.name} lacks the setting tasky.{'.'.join(path)}",
                           fix="restore it: git checkout invoke.yaml", anchor="bad-config")
        value = value[key]
    if isinstance(value, list):
        return tuple(value)   # frozen settings: a tuple, not a shared mutable list
    return value


@dataclasses.dataclass(frozen=True)
class Bases:
    go: str = _default("bases", "go")
    runtime: str = _default("bases", "runtime")
    offline_go: str = _default("bases", "offline_go")
    offline_runtime: str = _default("bases", "offline_runtime")
    cache_dir: str = _default("bases", "cache_dir")

    @property
    def cache_path(self):
        return Path(os.path.expanduser(self.cache_dir))


@dataclasses.dataclass(frozen=True)
class App:
    """The app in the image: how to probe it and which variables it needs or must hide."""
    container_port: int = _default("app", "container_port")
    probe_path: str = _default("app", "probe_path")
    required_env: list = _default("app", "required_env")
    secret_env: list = _default("app", "secret_env")
    public_env: list = _default("app", "public_env")
    env_file: str = _default("app", "env_file")


@dataclasses.dataclass(frozen=True)
class Ecr:
    repository: str = _default("ecr", "repository")
    region: str = _default("ecr", "region")
    registry: str = _default("ecr", "registry")
    profile: str = _default("ecr", "profile")
    tag_mutability: str = _default("ecr", "tag_mutability")
    local_registry: str = _default("ecr", "local_registry")
    push_retries: int = _default("ecr", "push_retries")
    push_backoff: float = _default("ecr", "push_backoff")
    release_tags: list = _default("ecr", "release_tags")
    region_flag: str = ""   # --region, never read from invoke.yaml

    @property
    def region_and_source(self):
        """The region and where it came from: --region, AWS_REGION, AWS_DEFAULT_REGION,
        tasky.ecr.region, then the document's us-east-1."""
        for value, source in ((self.region_flag, "--region"),
                              (os.environ.get("AWS_REGION"), "AWS_REGION"),
                              (os.environ.get("AWS_DEFAULT_REGION"), "AWS_DEFAULT_REGION"),
                              (self.region, "tasky.ecr.region")):
            if value:
                return value, source
        return "us-east-1", "the document's default; set AWS_REGION to change it"

    @property
    def resolved_region(self):
        return self.region_and_source[0]


@dataclasses.dataclass(frozen=True)
class Settings:
    image: str = _default("image")
    container: str = _default("container")
    port: int = _default("port")
    host_ip: str = _default("host_ip")
    dockerfile: str = _default("dockerfile")
    context: str = _default("context")
    size_budget_mb: float = _default("size_budget_mb")
    wizexercise: str = _default("wizexercise")
    app_user: str = _default("app_user")
    health_timeout: float = _default("health_timeout")
    start_grace: float = _default("start_grace")
    builder: str = _default("builder")
    docker_timeout: int = _default("docker_timeout")
    app: App = dataclasses.field(default_factory=App)
    bases: Bases = dataclasses.field(default_factory=Bases)
    ecr: Ecr = dataclasses.field(default_factory=Ecr)
    root: Path = ROOT

    @property
    def dockerfile_path(self):
        return self.root / self.dockerfile

    @property
    def context_path(self):
        return self.root / self.context

    @property
    def env_file_path(self):
        return self.root / self.app.env_file if self.app.env_file else None

    def with_region(self, region):
        return dataclasses.replace(self, ecr=dataclasses.replace(self.ecr,
                                                                 region_flag=region or ""))

    def with_overrides(self, **flags):
        """Apply task flags; a flag left at None keeps the configured value."""
        given = {}
        for key, value in flags.items():
            if value is None:
                continue
            current = getattr(self, key)
            if isinstance(current, (int, float)) and not isinstance(current, bool):
                try:
                    value = type(current)(value)   # flags arrive as text
                except ValueError as exc:
                    raise OpsError(f"--{key.replace('_', '-')} must be a number, not {value!r}",
                                   fix=f"pass a number, e.g. --{key} {current}",
                                   anchor="bad-flag") from exc
            given[key] = value
        return dataclasses.replace(self, **given)


SECTIONS = {"app": App, "bases": Bases, "ecr": Ecr}
NOT_CONFIGURABLE = {"root", "region_flag"}


def _fields(cls):
    return {f.name: f for f in dataclasses.fields(cls) if f.name not in NOT_CONFIGURABLE}


def where_written(path, value):
    """'invoke.yaml line N' when that file sets the tasky key to value, else a pointer to
    every place a value can come from (a file, an INVOKE_TASKY_* variable, a flag)."""
    from invoke.util import yaml

    keys = ["tasky", *path]
    for candidate in (CONFIG_FILE, Path.home() / ".invoke.yaml", Path("/etc/invoke.yaml")):
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


def _check(cls, section, path=()):
    """{name: value} of section for cls, after refusing unknown keys and wrong types."""
    fields = _fields(cls)
    values = {}
    for key, value in section.items():
        dotted = ".".join(("tasky", *path, key))
        if key not in fields:
            near = difflib.get_close_matches(key, list(fields) + list(SECTIONS if not path
                                                                         else ()), n=1)
            raise OpsError(f"unknown setting {dotted} in {where_written((*path, key), value)}"
                           + (f": did you mean {near[0]}?" if near else ""),
                           fix="correct or remove that key (settings: "
                               + ", ".join(sorted(fields)) + ")", anchor="bad-config")
        values[key] = _typed(fields[key].type, value, dotted, (*path, key))
    return values


def _typed(kind, value, dotted, path):
    kind = {"str": str, "int": int, "float": float, "list": list}.get(kind, kind)
    if kind is list:
        if isinstance(value, str):   # INVOKE_TASKY_* variables can only give text
            value = [item.strip() for item in value.split(",") if item.strip()]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise OpsError(f"setting {dotted} in {where_written(path, value)} must be a list of "
                           "names", fix=f"write {dotted} as [A, B] (or a comma list)",
                           anchor="bad-config")
        return tuple(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (str, int, float) and (not isinstance(value, kind) or isinstance(value, bool)):
        accepted = {str: "text", int: "a whole number", float: "a number"}[kind]
        raise OpsError(f"setting {dotted} in {where_written(path, value)} must be {accepted}, not "
                       f"{type(value).__name__}", fix=f"write {dotted} as {accepted}",
                       anchor="bad-config")
    return value


def from_invoke(c):
    """Build Settings from an Invoke context's ``tasky`` section, refusing unknown keys."""
    section = dict(c.config.get("tasky", {}) or {})
    nested = {}
    for name, cls in SECTIONS.items():
        part = section.pop(name, None) or {}
        if not isinstance(part, dict):
            raise OpsError(f"setting tasky.{name} in {where_written((name,), part)} must be a "
                           "section of keys", fix=f"see invoke.yaml's {name}: section",
                           anchor="bad-config")
        nested[name] = cls(**_check(cls, dict(part), (name,)))
    return Settings(**nested, **_check(Settings, section))
