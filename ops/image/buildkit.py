"""BuildKit builds through the Engine API, so `RUN --mount=type=cache` keeps Go's caches.

docker-py's build() speaks only to the classic builder, which rejects every `RUN --mount`
and rebuilds all Go packages after any change. Engine 18.09+ runs BuildKit when the
request carries `version=2`; this module sends that request through an EngineApi
(ops/engine/protocol.py: the standard library over a bare socket, or docker-py's transport
for TLS and ssh://) and follows BuildKit's progress
(ops/buildkit_trace.py). No client session is opened: the context travels as the request
body, cache mounts need no session, and no `# syntax=` frontend is pulled.
"""
import io
import json
import re

from ops.core import answers
from ops.core.errors import OpsError
from ops.image import buildkit_trace, dockerfile

MIN_API = (1, 39)   # BuildKit outside experimental mode: Engine 18.09
NETWORK_MODES = ("default", "host", "none")   # all BuildKit accepts on a build
EXIT_CODE = re.compile(r"(?:executor failed running|process) .*?(exit code: -?\d+)\s*$", re.S)
IMAGE_RECORD = {"aux": {"ID": str}}   # the record naming the image built
# What an engine says when it cannot or will not run BuildKit for this request.
NO_BUILDKIT = re.compile(r"buildkit is not enabled|buildkit not supported|invalid version",
                         re.IGNORECASE)


class BuildKitUnavailable(OpsError):
    """The engine will not run a BuildKit build: the caller may fall back to classic."""

    def __init__(self, reason):
        super().__init__(f"the Docker engine cannot run BuildKit builds ({reason})",
                         fix="use an engine of 18.09 or later on Linux without "
                             "\"features\": {\"buildkit\": false} in daemon.json; the "
                             "classic builder still builds, without the Go caches",
                         anchor="build-fails")
        self.reason = reason


def build(engine, tar, *, tags, buildargs, labels, nocache=False, pull=False,
          dockerfile="Dockerfile", network_mode=None, verbose=True, progress=print,
          platform=None, made=None):
    """Build the context `tar` (a file object) with BuildKit and tag it with every tag.

    Returns {"image_id", "steps", "cached", "ran", "log"}: steps are the Dockerfile's
    instructions BuildKit reported, cached + ran of them; log is every line shown or,
    when not verbose, withheld. `platform` (ops/core/platforms.py) builds for that platform
    (the image records it); None builds for the engine's own. made(image id) is called as
    soon as the engine names the image, while it still tags it: inv build records it as this
    checkout's there (the record's fsync overlaps the end of the build), and a failure after
    that leaves no image of ours unrecorded.
    """
    from ops.engine.protocol import ApiError
    from ops.engine.socket_api import engine_api

    if network_mode and network_mode not in NETWORK_MODES:
        raise OpsError(f"BuildKit builds cannot use network mode {network_mode!r}",
                       fix="use one of " + ", ".join(NETWORK_MODES), anchor="build-fails")
    # rm/forcerm have no BuildKit equivalent: it makes no intermediate containers.
    params = {"t": list(tags), "version": "2", "dockerfile": dockerfile,
              "buildargs": json.dumps(buildargs or {}), "labels": json.dumps(labels or {})}
    if nocache:
        params["nocache"] = "1"
    if pull:
        params["pull"] = "1"
    if network_mode:
        params["networkmode"] = network_mode
    if platform:
        params["platform"] = str(platform)
    follower = buildkit_trace.Progress(verbose=verbose, progress=progress)
    try:
        items = engine_api(engine).stream("POST", "/build", params=params,
                                          body=_recognisable(tar),
                                          headers={"Content-Type": "application/tar"})
        image_id = _follow(items, follower, made)
    except ApiError as exc:
        reason = exc.explanation
        if NO_BUILDKIT.search(reason):
            raise BuildKitUnavailable(reason) from exc
        raise OpsError(f"the engine refused the build: {reason[:300]}",
                       fix="read the reason, fix the request or the Dockerfile, run again",
                       anchor="build-fails") from exc
    steps = follower.steps()
    return {"image_id": image_id, "steps": steps["total"], "cached": steps["cached"],
            "ran": steps["ran"], "log": follower.lines}


# Tar records that BuildKit's sniff cannot read as an archive when one comes first: PAX
# headers (Python's tarfile, for fractional mtimes) and GNU long-name records.
UNSNIFFABLE = (b"x", b"g", b"L", b"K")


def _recognisable(tar):
    """The context as BuildKit's Dockerfile frontend will see it is an archive.

    The frontend sniffs only the first 1024 bytes for a tar header, and reads a PAX
    header or a GNU long-name record there as a Dockerfile ("unknown instruction:
    ././@PAXHEADER"). Our own tars (ops/image/context_tar.py) open with a plain header and go
    as they are; any other is gzipped (gzip's magic is recognised), which for a 100 MB
    context costs 1.6 s and its size in memory, so only when needed.
    """
    tar.seek(0)
    head = tar.read(512)
    tar.seek(0)
    if len(head) == 512 and head[257:262] == b"ustar" and head[156:157] not in UNSNIFFABLE:
        return tar
    import gzip
    import shutil

    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", compresslevel=1, mtime=0) as out:
        shutil.copyfileobj(tar, out)
    packed.seek(0)
    return packed


def _follow(items, follower, made=None):
    image_id = None
    for item in items:
        if item.get("id") == "moby.buildkit.trace":
            try:
                follower.feed(buildkit_trace.status(item.get("aux")))
            except buildkit_trace.TraceError as exc:
                # Progress is for people; a record we cannot read must not fail the build.
                follower.lines.append(f"(unreadable progress record: {exc})")
        elif item.get("id") == "moby.image.id":
            image_id = answers.check(item, IMAGE_RECORD, "the Docker engine's image id record",
                                     "build-fails")["aux"]["ID"]
            if made is not None:
                made(image_id)
        elif "error" in item or "errorDetail" in item:
            detail = item.get("errorDetail")
            raise _failure(follower, str(item.get("error") or (
                detail.get("message") if isinstance(detail, dict) else detail)
                or "unknown error"))
        elif "stream" in item:
            follower.lines.extend(line for line in
                                  buildkit_trace.clean(item["stream"]).splitlines() if line)
    if follower.errors:   # a failed step with no error item: still a failed build
        raise _failure(follower, "")
    if not image_id:
        raise OpsError("build ended without an image", fix="run the build again",
                       anchor="build-fails", details=follower.lines[-20:])
    return image_id


def _failure(follower, stream_error):
    """One OpsError naming the failing step, with that step's last output lines."""
    failed = follower.failure()
    if failed:
        step, error, output = failed
    else:
        started = [v for d, v in follower.vertexes.items() if d in follower.numbers]
        step = buildkit_trace.name(started[-1]) if started else "before the first step"
        error, output = buildkit_trace.clean(stream_error), []
    error = _short_error(error or buildkit_trace.clean(stream_error))
    step = " ".join(dockerfile.MOUNT_FLAG.sub(" ", " " + step).split())   # not the news
    return OpsError(f"build failed at {step}: {error}",
                    fix="read the step's output above, fix the cause, build again",
                    anchor="build-fails", details=output[-20:])


def _short_error(error):
    """`executor failed running [/bin/sh -c <the step again>]: exit code: 2` says the
    step twice; keep the exit code."""
    match = EXIT_CODE.match(error)
    return match.group(1) if match else error


def available(engine):
    """(True, why) when this engine runs BuildKit builds for the API, else (False, why).

    One GET /_ping answers it, without starting a build: the daemon accepts `version=2`
    from API 1.39 on, on Linux, unless daemon.json sets features.buildkit to false, and
    the ping's headers carry exactly those three facts (Api-Version, Ostype and
    Builder-Version, which is "1" only when BuildKit was switched off). A SocketApi keeps
    those of the ping it was connected with: inv build asks the engine once, not twice.
    """
    from ops.engine.socket_api import engine_api

    link = engine_api(engine)
    try:
        headers = getattr(link, "pinged", None) or link.ping()
    except OpsError as exc:   # unreachable, or an HTTP error (ApiError)
        return False, f"the engine did not answer a ping: {exc.message}"
    return verdict(headers.get("api-version", ""), headers.get("ostype", ""),
                   headers.get("builder-version", ""),
                   link.api_version or headers.get("api-version", ""))


def verdict(server_api, os_type, builder_version, client_api):
    """available()'s decision from the ping's headers and the client's API version."""
    def version(text):
        try:
            return tuple(int(part) for part in text.split(".")[:2])
        except ValueError:
            return (0, 0)

    if version(server_api) < MIN_API:
        return False, f"engine API {server_api or 'unknown'} is older than 1.39 (Engine 18.09)"
    if version(client_api) < MIN_API:
        return False, f"the client speaks API {client_api}; BuildKit needs 1.39 or later"
    if os_type and os_type.lower() != "linux":
        return False, f"the engine runs on {os_type}; BuildKit builds need a Linux engine"
    if builder_version == "1":
        return False, "daemon.json sets features.buildkit to false"
    default = "BuildKit is the default" if builder_version == "2" else "classic is the default"
    return True, f"API {server_api}, {os_type or 'linux'}; {default}, version=2 selects BuildKit"
