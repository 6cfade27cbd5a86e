"""`inv build`: the image built from the context, tagged by git SHA and latest."""
import re
import time

from ops.core import files
from ops.core.console import table
from ops.core.errors import OpsError
from ops.core.heartbeat import Heartbeat
from ops.engine import ownership
from ops.image import build_args as build_args_given
from ops.image import buildkit_trace, dockerfile, gitinfo

STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)")
# The classic builder's bookkeeping: logged on failure, not shown as progress.
NOISE = re.compile(r"^( ---> Running in |Removing intermediate container | ---> [0-9a-f]{12}$)")


def context_tar(settings, dockerfile_text=None):
    """The build context as a tar, with the Dockerfile inside and .dockerignore honoured
    as the Docker CLI honours it (ops/context_tar.py; docker-py's helper would import
    the whole SDK and matches names case-insensitively)."""
    from ops.image import context_tar

    check_inputs(settings)
    text = dockerfile.read(settings.dockerfile_path) if dockerfile_text is None else dockerfile_text
    return context_tar.tar(settings.context_path, text,
                           leave_out=context_tar.left_out(settings))


def check_inputs(settings):
    """The Dockerfile (a regular file: a FIFO would block) and the context exist, before
    anything reads them."""
    try:
        files.regular(settings.dockerfile_path, "Dockerfile", "build-fails",
                      fix="make it a regular file, or set tasky.dockerfile")
    except OSError:
        raise OpsError(f"no Dockerfile at {settings.dockerfile_path}",
                       fix="run from the repository root or set tasky.dockerfile",
                       anchor="build-fails") from None
    if not settings.context_path.is_dir():
        raise OpsError(f"build context {settings.context_path} does not exist",
                       fix="set tasky.context in invoke.yaml", anchor="build-fails")


def ensure_base(engine, ref, pull):
    """Fail fast, with the way out, when a base image is neither here nor pullable."""
    from ops.engine.socket_api import engine_api

    link = engine_api(engine)
    if not pull and link.image(ref) is not None:
        return "present"
    import docker

    try:
        link.sdk().images.pull(ref)
        return "pulled"
    except docker.errors.DockerException as exc:
        reason = (getattr(exc, "explanation", None) or str(exc)).splitlines()[0][-200:]
        raise OpsError(f"base image {ref} is not present and cannot be pulled ({reason})",
                       fix="build offline with stand-ins from Debian packages: "
                           "inv build --offline", anchor="base-image-unavailable") from exc


def needs_standins(engine, settings, task, progress):
    """True when the document's bases are neither here nor pullable, so `task` (demo, dev)
    builds on the offline stand-ins; said once, in one progress line."""
    try:
        for ref in (settings.bases.go, settings.bases.runtime):
            ensure_base(engine, ref, pull=False)
        return False
    except OpsError as error:
        progress(f"{task}: {error.message}; building on the offline stand-in bases")
        return True


def choose_bases(engine, settings, offline, pull, progress, platform=None, native=None):
    """(Go base, runtime base) of a build for `platform` (None: the engine's own). The Go
    base is always the engine's own: the build stage cross-compiles."""
    foreign = platform is not None and platform != native
    if offline:
        if foreign or any(_missing(engine, ref) for ref in (settings.bases.offline_go,
                                                            settings.bases.offline_runtime)):
            # Both present: standins.ensure(only_missing=True) would build nothing, and
            # its module (about 2 ms to compile) is not loaded for a build that needs none.
            from ops.image import standins

            standins.ensure(engine, settings.bases, progress=progress, only_missing=True,
                            ledger=ownership.Ledger.of(settings),
                            **({"platforms": (platform,), "native": native} if foreign else {}))
            if foreign:
                return settings.bases.offline_go, standins.runtime_ref(settings.bases,
                                                                       platform, native)
        return settings.bases.offline_go, settings.bases.offline_runtime
    # A foreign platform's runtime base is resolved by BuildKit from its registry: the local
    # image of that name is the engine's own platform's.
    for ref in (settings.bases.go,) if foreign else (settings.bases.go, settings.bases.runtime):
        ensure_base(engine, ref, pull)
    return settings.bases.go, settings.bases.runtime


def _missing(engine, ref):
    from ops.engine.socket_api import engine_api

    return engine_api(engine).image(ref) is None


def build(engine, settings, git, extra_tag=None, version=None, nocache=False, pull=False,
          offline=False, verbose=True, progress=print, build_args=(), tags=None, platform=None,
          native=None):
    """Build and tag IMAGE:<sha>[-dirty] and IMAGE:latest (and IMAGE:extra_tag).

    `engine` is docker-py's client or an EngineApi (inv build's SocketApi, which never imports
    docker-py unless the build needs a pull, a stand-in or the classic builder). `git` is
    a GitInfo, or a gitinfo.PendingGitInfo (git still running), answered once the bases are checked.
    `tags` replaces those (inv dev tags only its own, so latest stays the last real build).
    `platform` builds for that platform (ops/image/platform_images.py; `native` is the
    engine's own), with BuildKit only; None: the engine's own, as a plain docker build."""
    from ops.engine.socket_api import engine_api
    from ops.image import context_tar

    extra = build_args_given.parse_build_args(build_args, settings)
    check_inputs(settings)
    kept_back = context_tar.left_out(settings)
    if kept_back:
        progress(f"build: kept out of the context: {', '.join(kept_back)} (the app's env "
                 "file and git's folder never reach the engine)")
    if offline:
        dockerfile.check_offline_froms(settings.dockerfile_path)
    started = time.monotonic()
    go_image, runtime_image = choose_bases(engine, settings, offline, pull, progress,
                                           platform, native)
    extra = build_args_given.go_build_args(settings, extra, progress)
    if isinstance(git, gitinfo.PendingGitInfo):
        git = git.answer()
    ledger = ownership.Ledger.of(settings)   # what the build makes: this checkout's
    buildargs = {**extra, "GO_IMAGE": go_image, "RUNTIME_IMAGE": runtime_image,
                 "VERSION": version or git.describe, "REVISION": git.sha,
                 "CREATED": git.committed, "TASKY_IMAGE": settings.image,
                 "TASKY_CACHE": ledger.cache_scope(settings.image)}
    image_labels = {ownership.MANAGED: "true", ownership.ROLE: "app",
                    ownership.IMAGE: settings.image}
    if tags is None:
        tags = [git.tag, "latest"] + ([extra_tag] if extra_tag else [])
    tags = list(dict.fromkeys(tags))
    image_id, steps, builder = build_with_backend(engine, settings, tags, buildargs,
                                                  image_labels, nocache, pull, verbose, progress,
                                                  ledger, platform)
    # BuildKit's image was recorded as the engine named it (made=): this is the classic
    # builder's, or nothing.
    ledger.record("image", [image_id], role="app", image=settings.image)
    image = engine_api(engine).image(image_id)
    if image is None:
        raise OpsError(f"the image this build made ({image_id[7:19]}) is gone: something "
                       "removed it as the build ended", fix="run inv build again",
                       anchor="build-fails")
    return {"image": settings.image, "tags": tags,
            "id": image_id.split(":")[-1][:12], "size_mb": round(image["Size"] / 1e6, 2),
            "seconds": round(time.monotonic() - started, 2),
            "steps": steps["total"], "cached_steps": steps["cached"], "ran_steps": steps["ran"],
            "version": buildargs["VERSION"], "bases": [go_image, runtime_image],
            "builder": builder, "build_args": sorted(extra)}


BASE_LOOKUP = re.compile(r"load metadata for (\S+?):? ")


def base_failure(error, platform):
    """A build that failed resolving a FROM image (BuildKit's `load metadata for`): the base
    is missing for that platform, whatever the network error says (the Go-modules reading
    would blame the module proxy for the same "no such host")."""
    found = BASE_LOOKUP.search(error.message)
    if not found:
        return None
    where = f" --platform {platform}" if platform else ""
    return OpsError(f"base image {found.group(1)}{where.replace(' --platform', ' for')} is not "
                    f"here and cannot be pulled ({error.message.rsplit(': ', 1)[-1][:160]})",
                    fix=f"build the offline stand-ins: inv bases{where}, or build where the "
                        "registry is reachable", anchor="base-image-unavailable")


def modules_failure(error, settings=None):
    """The Go-modules reading of a failed build, or None when modules were not the cause."""
    from ops.image import gomod

    return gomod.build_failure(error, settings)


def build_with_backend(engine, settings, tags, buildargs, image_labels, nocache, pull, verbose,
                       progress, ledger, platform=None):
    """Build with BuildKit when the engine can (Go caches survive a one-file change), else
    with the classic builder on the same Dockerfile minus its cache mounts. What the build
    made besides the image (cache records, the classic build stage) goes into `ledger`.

    Returns (image id, {"total", "cached", "ran"}, which builder ran and why)."""

    try:   # never 5 s of silence, even quiet, in CI or with --json (progress is stderr)
        with Heartbeat("build", progress) as heartbeat:
            return _build_with_backend(engine, settings, tags, buildargs, image_labels,
                                       nocache, pull, verbose, progress,
                                       heartbeat.relay(progress, show=verbose,
                                                       name=buildkit_trace.Running().step),
                                       ledger, platform)
    except OpsError as error:
        raise (base_failure(error, platform) or modules_failure(error, settings)
               or error) from None


def _build_with_backend(engine, settings, tags, buildargs, image_labels, nocache, pull,
                        verbose, progress, steps_shown, ledger, platform=None):
    from ops.engine.socket_api import engine_api
    from ops.image import buildkit

    if settings.builder == "classic":
        can, why = False, "tasky.builder is classic"
    else:
        can, why = buildkit.available(engine)
        if not can and (settings.builder == "buildkit" or platform):
            raise buildkit.BuildKitUnavailable(why)
    if can:
        scope = buildargs["TASKY_CACHE"]
        text = dockerfile.with_cache_scope(dockerfile.read(settings.dockerfile_path), scope)
        try:
            out = buildkit.build(engine, context_tar(settings, text),
                                 tags=[f"{settings.image}:{tag}" for tag in tags],
                                 buildargs=buildargs, labels=image_labels, nocache=nocache,
                                 pull=pull, verbose=verbose, progress=steps_shown,
                                 platform=platform,
                                 made=lambda image_id: ledger.record(
                                     "image", [image_id], role="app", image=settings.image))
        except buildkit.BuildKitUnavailable as exc:
            if platform:
                raise
            why = exc.reason
        else:
            # Its cache records name the scope, which only this checkout can derive: `inv
            # clean --cache` finds them then (build_cache.record_made), not every build (the
            # engine's /system/df costs about 0.2 s, a fifth of a one-file rebuild).
            steps = {"total": out["steps"], "cached": out["cached"], "ran": out["ran"]}
            return out["image_id"], steps, "BuildKit (Engine API, version=2)"
    if settings.builder != "classic":
        progress(f"build: classic builder ({why}); cache mounts are left out")
    text = dockerfile.classic_dockerfile(dockerfile.read(settings.dockerfile_path))
    api = engine_api(engine).sdk().api
    # The classic builder applies the first tag only when every step succeeded.
    stream = api.build(fileobj=context_tar(settings, text), custom_context=True,
                       dockerfile="Dockerfile", tag=f"{settings.image}:{tags[0]}",
                       buildargs=buildargs, labels=image_labels, nocache=nocache, rm=True,
                       forcerm=True, decode=True)
    image_id, steps = _follow(stream, verbose, steps_shown)
    # The step images this build made (not a FROM's base, not a cached step's, which an
    # earlier build made: maybe another checkout's); the build stage's stay behind as its
    # cache (`inv clean --cache`).
    layers = [api.inspect_image(short)["Id"] for short in steps.pop("layers")]
    ledger.record("image", [i for i in layers if i != image_id], role="build-stage",
                  image=settings.image)
    for tag in tags[1:]:
        api.tag(image_id, settings.image, tag)
    return image_id, steps, f"classic ({why})"


def _follow(stream, verbose, progress):
    """Show the build as it runs; on an error, raise with the failing step's output."""
    log, step_at, image_id, made = [], 0, None, False
    steps = {"total": 0, "cached": 0, "ran": 0, "layers": []}
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
                    made = not match.group(3).upper().startswith("FROM ")
                elif "Using cache" in line:
                    steps["cached"] += 1
                    made = False
                elif line.startswith(" ---> Running in "):
                    steps["ran"] += 1
                elif re.match(r"^ ---> [0-9a-f]{12}$", line) and made:
                    steps["layers"].append(line[6:])
                if verbose and not NOISE.match(line):
                    progress(line)
        elif "aux" in item and "ID" in item["aux"]:
            image_id = item["aux"]["ID"]
        elif "error" in item:
            failing = log[step_at:] if log else []
            details = log if not verbose else failing[:1] + failing[1:][-20:]
            step = log[step_at] if log else "before the first step"
            from ops.image.buildkit_trace import ANSI  # Go and BuildKit colour their errors
            raise OpsError(f"build failed at {step}: {ANSI.sub('', item['error']).strip()}",
                           fix="read the step's output above, fix the cause, run inv build again",
                           anchor="build-fails", details=details)
    if not image_id:
        raise OpsError("build ended without an image", fix="run inv build again",
                       anchor="build-fails", details=log[-20:])
    return image_id, steps


COLUMNS = [("tags", "tags"), ("id", "image id"), ("size_mb", "MB"), ("seconds", "seconds"),
           ("cached_steps", "cached steps"), ("steps", "steps"), ("builder", "builder")]


def render(result):
    return table([result], COLUMNS)
