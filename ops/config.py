"""Settings read from Invoke's config (invoke.yaml < INVOKE_TASKY_* env < flags)."""
import dataclasses
import os
from pathlib import Path

from ops.errors import OpsError

ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Bases:
    go: str = "golang:1.19"
    runtime: str = "alpine:3.17.0"
    offline_go: str = "tasky-ops/golang:1.19-debian"
    offline_runtime: str = "tasky-ops/alpine:3.17.0-busybox"
    cache_dir: str = "~/.cache/tasky-ops"

    @property
    def cache_path(self):
        return Path(os.path.expanduser(self.cache_dir))


@dataclasses.dataclass(frozen=True)
class Ecr:
    repository: str = "wiz-exercise-tasky"
    region: str = ""
    registry: str = ""
    profile: str = ""
    tag_mutability: str = "IMMUTABLE"
    local_registry: str = "127.0.0.1:5000"
    push_retries: int = 4
    push_backoff: float = 1.0
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
    image: str = "tasky"
    container: str = "tasky"
    port: int = 8080
    host_ip: str = "0.0.0.0"
    dockerfile: str = "Dockerfile"
    context: str = "app"
    size_budget_mb: float = 16.0
    wizexercise: str = "Evan Spangler - Wiz Technical Exercise 2024"
    app_user: str = "appuser"
    health_timeout: float = 30.0
    start_grace: float = 5.0
    docker_timeout: int = 900
    bases: Bases = dataclasses.field(default_factory=Bases)
    ecr: Ecr = dataclasses.field(default_factory=Ecr)
    root: Path = ROOT

    @property
    def dockerfile_path(self):
        return self.root / self.dockerfile

    @property
    def context_path(self):
        return self.root / self.context

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


def _pick(cls, section):
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: section[k] for k in section if k in names}


def from_invoke(c):
    """Build Settings from an Invoke context's ``tasky`` section."""
    section = dict(c.config.get("tasky", {}) or {})
    bases = Bases(**_pick(Bases, dict(section.pop("bases", {}) or {})))
    ecr = Ecr(**_pick(Ecr, dict(section.pop("ecr", {}) or {})))
    return Settings(bases=bases, ecr=ecr, **_pick(Settings, section))
