"""The settings, each declared once: its name and type (the field), how a value is checked and
the flag that overrides it (Setting). Its default lives in invoke.yaml only: the sections
below take their defaults from that file, so the two cannot drift. load.py reads the
settings a task runs with and checks each value once, at the boundary; ops code receives
checked values.
"""
import dataclasses
import os
from pathlib import Path

from ops.core import platforms, reference
from ops.core.errors import OpsError
from ops.settings import validate
from ops.settings.invoke_yaml import CONFIG_FILE, ROOT, tasky_section

FILE = tasky_section()


class Setting:
    """What a field of a section is: its validator (value, source) -> canonical value, or None
    for free text, and the task flag that overrides it, if any."""

    def __init__(self, check=None, flag=None):
        self.check, self.flag = check, flag


def section(*path):
    """A frozen dataclass of the settings at tasky.<path>: each Setting attribute becomes a
    field whose default is invoke.yaml's value and whose metadata says how it is checked.
    A section class as the annotation nests it; other attributes are plain fields."""
    def make(cls):
        for name in cls.__annotations__:
            declared = cls.__dict__.get(name, dataclasses.MISSING)
            if isinstance(declared, Setting):
                meta = {"setting": declared, "path": (*path, name)}
                setattr(cls, name, dataclasses.field(default=_default(*path, name),
                                                     metadata=meta))
            elif declared is dataclasses.MISSING and getattr(cls.__annotations__[name],
                                                             "SECTION", None):
                setattr(cls, name, dataclasses.field(
                    default_factory=cls.__annotations__[name]))
        cls.SECTION = path
        return dataclasses.dataclass(frozen=True)(cls)
    return make


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


@section("bases")
class Bases:
    go: str = Setting(reference.image)
    runtime: str = Setting(reference.image)
    offline_go: str = Setting(reference.image)
    offline_runtime: str = Setting(reference.image)
    cache_dir: str = Setting()

    @property
    def cache_path(self):
        return Path(os.path.expanduser(self.cache_dir))


@section("app")
class App:
    """The app in the image: how to probe it and which variables it needs or must hide."""
    container_port: int = Setting(lambda v, s: validate.port(v, s, allow_zero=False))
    probe_path: str = Setting(validate.probe_path)
    required_env: tuple = Setting(validate.env_names)
    secret_env: tuple = Setting(validate.env_names)
    public_env: tuple = Setting(validate.env_names)
    env_file: str = Setting()


@section("ecr")
class Ecr:
    repository: str = Setting(lambda v, s: reference.repository(v, s, host_allowed=False))
    region: str = Setting(validate.optional(validate.region))
    registry: str = Setting(validate.optional(validate.registry_host))
    profile: str = Setting()
    tag_mutability: str = Setting(validate.one_of("IMMUTABLE", "MUTABLE"))
    local_registry: str = Setting(validate.registry_host)
    push_retries: int = Setting(validate.at_least(whole=True))
    push_backoff: float = Setting(validate.at_least())
    release_tags: tuple = Setting(validate.tags)
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


@section()
class Settings:
    image: str = Setting(reference.repository)
    container: str = Setting(validate.container_name, flag="--name")
    port: int = Setting(validate.port, flag="--port")
    host_ip: str = Setting(validate.ip, flag="--host-ip")
    dockerfile: str = Setting()
    context: str = Setting()
    size_budget_mb: float = Setting(validate.at_least(above=True))
    wizexercise: str = Setting()
    app_user: str = Setting()
    health_timeout: float = Setting(validate.at_least(), flag="--timeout")
    start_grace: float = Setting(validate.at_least())
    builder: str = Setting(validate.one_of("classic", "buildkit", "auto"))
    docker_timeout: int = Setting(validate.at_least(whole=True, above=True))
    platforms: tuple = Setting(platforms.platforms, flag="--platform")
    app: App
    bases: Bases
    ecr: Ecr
    root: Path = ROOT

    @property
    def dockerfile_path(self):
        return self.root / self.dockerfile

    @property
    def context_path(self):
        return self.root / self.context

    @property
    def env_file_path(self):
        """The app's env file: a relative tasky.app.env_file in the app's own folder (the
        context) when it is there, else beside invoke.yaml; run and doctor read this one."""
        if not self.app.env_file:
            return None
        in_app = self.context_path / self.app.env_file
        return in_app if in_app.exists() else self.root / self.app.env_file

    def with_region(self, region):
        return dataclasses.replace(self, ecr=dataclasses.replace(self.ecr,
                                                                 region_flag=region or ""))


def declared(cls=Settings):
    """(path, field, Setting) of every setting, nested sections included, in file order."""
    for field in dataclasses.fields(cls):
        if "setting" in field.metadata:
            yield field.metadata["path"], field, field.metadata["setting"]
        elif isinstance(field.type, type) and getattr(field.type, "SECTION", None):
            yield from declared(field.type)


def sections(cls=Settings):
    """{name: section class} of the nested sections (app, bases, ecr)."""
    return {f.name: f.type for f in dataclasses.fields(cls)
            if isinstance(f.type, type) and getattr(f.type, "SECTION", None)}
