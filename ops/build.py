"""`inv build`: the image built from the context, tagged by git SHA and latest."""
import re
import time

from ops import labels, refs, standins
from ops.console import table
from ops.errors import OpsError

STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)")
# The classic builder's bookkeeping: logged on failure, not shown as progress.
NOISE = re.compile(r"^( ---> Running in |Removing intermediate container | ---> [0-9a-f]{12}$)")


def context_tar(settings):
    """The build context as a tar, with the Dockerfile inside and .dockerignore honoured.

    docker-py would add a Dockerfile kept outside the context under a random name, which
    `COPY . .` then copies and so busts the cache on every build. Adding it as
    `Dockerfile`, which the context's .dockerignore lists, makes the daemon drop it
    before COPY, just as the docker CLI does.
    """
    from docker.utils import build as dockerbuild

    context = settings.context_path
    if not settings.dockerfile_path.is_file():
        raise OpsError(f"no Dockerfile at {settings.dockerfile_path}",
                       fix="run from the repository root or set tasky.dockerfile",
                       anchor="build-fails")
    if not context.is_dir():
        raise OpsError(f"build context {context} does not exist",
                       fix="set tasky.context in invoke.yaml", anchor="build-fails")
    ignore = context / ".dockerignore"
    patterns = []
    if ignore.is_file():
        patterns = [p.strip() for p in ignore.read_text().splitlines()
                    if p.strip() and not p.strip().startswith("#")]
    missing = [name for name in ("Dockerfile", ".dockerignore") if name not in patterns]
    if missing:
        raise OpsError(f"{ignore} must list {' and '.join(missing)}, or every build copies "
                       "them and misses the cache",
                       fix="add these lines to it: " + ", ".join(missing),
                       anchor="build-fails")
    # docker-py writes the tar's .dockerignore from these patterns plus the Dockerfile's
    # name; the daemon reads it and drops what it lists before COPY.
    return dockerbuild.tar(str(context), exclude=patterns,
                           dockerfile=("Dockerfile", settings.dockerfile_path.read_text()))


def ensure_base(engine, ref, pull):
    """Fail fast, with the way out, when a base image is neither here nor pullable."""
    import docker

    if not pull:
        try:
            engine.images.get(ref)
            return "present"
        except docker.errors.ImageNotFound:
            pass
    try:
        engine.images.pull(ref)
        return "pulled"
    except docker.errors.DockerException as exc:
        reason = (getattr(exc, "explanation", None) or str(exc)).splitlines()[0][-200:]
        raise OpsError(f"base image {ref} is not present and cannot be pulled ({reason})",
                       fix="build offline with stand-ins from Debian packages: "
                           "inv build --offline", anchor="base-image-unavailable") from exc


def choose_bases(engine, settings, offline, pull, progress):
    if offline:
        standins.ensure(engine, settings.bases, progress=progress, only_missing=True)
        return settings.bases.offline_go, settings.bases.offline_runtime
    for ref in (settings.bases.go, settings.bases.runtime):
        ensure_base(engine, ref, pull)
    return settings.bases.go, settings.bases.runtime


def build(engine, settings, git, extra_tag=None, version=None, nocache=False, pull=False,
          offline=False, verbose=True, progress=print):
    """Build and tag IMAGE:<sha>[-dirty] and IMAGE:latest (and IMAGE:extra_tag)."""
    refs.check_repository(settings.image)
    if extra_tag is not None:
        refs.check_tag(extra_tag)
    started = time.monotonic()
    tar = context_tar(settings)
    go_image, runtime_image = choose_bases(engine, settings, offline, pull, progress)
    buildargs = {"GO_IMAGE": go_image, "RUNTIME_IMAGE": runtime_image,
                 "VERSION": version or git.describe, "REVISION": git.sha,
                 "CREATED": git.committed}
    image_labels = {labels.MANAGED: "true", labels.ROLE: "app", labels.IMAGE: settings.image}
    tags = list(dict.fromkeys([git.tag, "latest"] + ([extra_tag] if extra_tag else [])))
    # The builder applies the first tag only when every step succeeded.
    stream = engine.api.build(fileobj=tar, custom_context=True, dockerfile="Dockerfile",
                              tag=f"{settings.image}:{tags[0]}",
                              buildargs=buildargs, labels=image_labels, nocache=nocache,
                              rm=True, forcerm=True, decode=True)
    image_id, steps = _follow(stream, verbose, progress)
    for tag in tags[1:]:
        engine.api.tag(image_id, settings.image, tag)
    image = engine.images.get(image_id)
    return {"image": settings.image, "tags": tags,
            "id": image_id.split(":")[-1][:12], "size_mb": round(image.attrs["Size"] / 1e6, 2),
            "seconds": round(time.monotonic() - started, 2),
            "steps": steps["total"], "cached_steps": steps["cached"], "ran_steps": steps["ran"],
            "version": buildargs["VERSION"], "bases": [go_image, runtime_image]}


def _follow(stream, verbose, progress):
    """Show the build as it runs; on an error, raise with the failing step's output."""
    log, step_at, image_id = [], 0, None
    steps = {"total": 0, "cached": 0, "ran": 0}
    for item in stream:
        if "stream" in item:
            for line in item["stream"].splitlines():
                if not line.strip():
                    continue
                log.append(line)
                match = STEP.match(line)
                if match:
                    steps["total"] += 1
                    step_at = len(log) - 1
                elif "Using cache" in line:
                    steps["cached"] += 1
                elif line.startswith(" ---> Running in "):
                    steps["ran"] += 1
                if verbose and not NOISE.match(line):
                    progress(line)
        elif "aux" in item and "ID" in item["aux"]:
            image_id = item["aux"]["ID"]
        elif "error" in item:
            failing = log[step_at:] if log else []
            details = log if not verbose else failing[:1] + failing[1:][-20:]
            step = log[step_at] if log else "before the first step"
            raise OpsError(f"build failed at {step}: {item['error'].strip()}",
                           fix="read the step's output above, fix the cause, run inv build again",
                           anchor="build-fails", details=details)
    if not image_id:
        raise OpsError("build ended without an image", fix="run inv build again",
                       anchor="build-fails", details=log[-20:])
    return image_id, steps


COLUMNS = [("tags", "tags"), ("id", "image id"), ("size_mb", "MB"), ("seconds", "seconds"),
           ("cached_steps", "cached steps"), ("steps", "steps")]


def render(result):
    return table([result], COLUMNS)
