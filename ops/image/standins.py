"""Stand-ins for golang:1.19 and alpine:3.17.0 built from Debian packages alone.

Docker Hub is unreachable on offline machines, but Debian ships Go 1.19 and a static
busybox. The stand-ins are tagged under the project's own namespace and labelled with
a hash of their recipe, so a rebuild happens only when the recipe or a package changes.

The runtime stand-in exists per platform: another platform's is built from that
architecture's packages (busybox-static:arm64), tagged with the platform's suffix, and made
an image by a BuildKit build for that platform (the engine's import records every image as
the engine's own platform, on 20.10). The Go stand-in is the engine's platform only: the
build stage runs there and cross-compiles. The filesystem: ops/image/standin_rootfs.py.
"""
import hashlib
import os
import tempfile
import time
from pathlib import Path

from ops.core.console import table
from ops.core.errors import OpsError
from ops.core.heartbeat import Heartbeat
from ops.core.platforms import Platform
from ops.engine import ownership
from ops.image.standin_rootfs import (  # noqa: F401  (fetch, package_versions: callers')
    GROUP,
    PASSWD,
    SCRIPTS,
    _run,
    assemble,
    fetch,
    package_records,
    package_versions,
    same_source,
)

RECIPE_VERSION = "3"
LABEL_RECIPE = "org.tasky-ops.recipe"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# name -> (packages, image config, what it stands in for)
RECIPES = {
    "go": (("golang-1.19-go", "golang-1.19-src", "libc6", "busybox-static"),
           ["ENV GOPATH=/go", "ENV CGO_ENABLED=0",
            f"ENV PATH=/go/bin:/usr/local/go/bin:{SYSTEM_PATH}", "WORKDIR /go"]),
    "runtime": (("busybox-static",), [f"ENV PATH={SYSTEM_PATH}", 'CMD ["/bin/sh"]']),
}


def recipe_hash(kind, versions, arch=None):
    """The recipe's hash: packages and versions, image changes, files, shims; and arch (the
    Debian architecture of another platform's stand-in). The engine's own platform's hash
    names no architecture, as before there were others: stand-ins built already stay
    current, and checkouts sharing one engine do not rebuild each other's."""
    packages, changes = RECIPES[kind]
    digest = hashlib.sha256(RECIPE_VERSION.encode())
    for part in [*(f"{p}={versions[p]}" for p in packages), *changes, PASSWD, GROUP]:
        digest.update(part.encode() + b"\0")
    for script in sorted(SCRIPTS.iterdir()):
        digest.update(script.read_bytes())
    if arch:
        digest.update(f"architecture={arch}".encode() + b"\0")
    return digest.hexdigest()[:16]


def runtime_ref(bases, platform, native):
    """The runtime stand-in's tag for `platform` on an engine of platform `native`: the
    setting itself for the engine's own (or platform None), else with the platform's
    suffix: tasky-ops/alpine:3.17.0-busybox-linux-arm64."""
    if platform is None or Platform(platform) == Platform(native):
        return bases.offline_runtime
    return bases.offline_runtime + Platform(platform).suffix


def local_image(engine, ref):
    """The engine's inspect of `ref` (a dict), or None when it has no such image."""
    from ops.engine.socket_api import engine_api

    return engine_api(engine).image(ref)


def ensure(engine, bases, force=False, only_missing=False, progress=print, ledger=None,
           platforms=(), native=None):
    """Build each stand-in that is missing or stale; return one row per base.

    only_missing skips the staleness check (an apt query, about a second) for builds
    that just need some stand-in to be there. A stand-in built is recorded in `ledger`
    (ops/engine/ownership.py), so `inv clean --bases` may remove it. platforms: also the
    runtime stand-in of each one that is not `native` (the engine's platform; asked of the
    engine when None and needed), tagged runtime_ref(bases, platform, native).
    """
    wanted = [("go", bases.offline_go, None), ("runtime", bases.offline_runtime, None)]
    if platforms:
        from ops.engine import emulation

        native = Platform(native or emulation.engine_platform(engine))
        wanted += [("runtime", runtime_ref(bases, p, native), Platform(p))
                   for p in dict.fromkeys(platforms) if Platform(p) != native]
    originals = {"go": bases.go, "runtime": bases.runtime}
    return [_ensure_one(engine, bases, kind, ref, originals[kind], platform, force,
                        only_missing, progress, ledger) for kind, ref, platform in wanted]


def _ensure_one(engine, bases, kind, ref, original, platform, force, only_missing, progress,
                ledger):
    started = time.monotonic()
    packages, changes = RECIPES[kind]
    arch = platform.debian if platform else None
    image = local_image(engine, ref)
    present = None if image is None else \
        (image["Config"].get("Labels") or {}).get(LABEL_RECIPE, "")
    status = "present"
    if only_missing and image is not None and not force:
        versions = None
    else:
        records = package_records(packages, arch)
        versions = {p: records[p]["Version"] for p in packages}
    if versions and (force or present != recipe_hash(kind, versions, arch)):
        progress(f"bases: building {ref} (stand-in for {original}"
                 + (f", {platform}" if platform else "") + ") from "
                 + ", ".join(f"{p} {versions[p]}" for p in packages))
        debs = [fetch(p, records[p], bases.cache_path, progress, arch) for p in packages]
        recipe = recipe_hash(kind, versions, arch)
        if platform:
            lister_deb = _lister(platform, versions, bases, progress)
            _build(engine, kind, ref, original, recipe, debs, changes, platform, lister_deb,
                   progress)
        else:
            _import(engine, kind, ref, original, recipe, debs, changes, progress)
        status = "built"
        image = local_image(engine, ref)
        if ledger is not None:
            ledger.record("image", [image["Id"]], role="base", image=ref)
    return {"base": ref, "stands_in_for": original, "platform": str(platform or "native"),
            "status": status, "size_mb": round(image["Size"] / 1e6, 1),
            "seconds": round(time.monotonic() - started, 1)}


def _base_labels(recipe, original):
    return {ownership.MANAGED: "true", ownership.ROLE: "base", LABEL_RECIPE: recipe,
            "org.opencontainers.image.description": f"offline stand-in for {original}"}


def _import(engine, kind, ref, original, recipe, debs, changes, progress=print):
    import docker

    from ops.engine.socket_api import engine_api

    changes = changes + [f'LABEL {k}="{v}"' for k, v in _base_labels(recipe, original).items()]
    repository, tag = ref.rsplit(":", 1)
    with tempfile.TemporaryDirectory(prefix="tasky-base-") as tmp, \
            Heartbeat(f"bases: unpacking {len(debs)} packages", progress) as heartbeat:
        rootfs = Path(tmp) / "rootfs"
        rootfs.mkdir()
        progress(f"bases: unpacking {len(debs)} packages")
        heartbeat.beat()
        assemble(kind, debs, rootfs)
        archive = os.path.join(tmp, "rootfs.tar")
        heartbeat.what = f"bases: packing {ref}'s filesystem"
        _run(["tar", "--numeric-owner", "--owner=0", "--group=0", "-C", str(rootfs),
              "-cf", archive, "."])
        progress(f"bases: importing {os.path.getsize(archive) / 1e6:.0f} MB as {ref}")
        heartbeat.beat()
        heartbeat.what = f"bases: importing {ref}"
        try:
            engine_api(engine).sdk().api.import_image(src=archive, repository=repository,
                                                      tag=tag, changes=changes)
        except docker.errors.APIError as exc:
            raise OpsError(f"docker import of {ref} failed: {exc.explanation or exc}",
                           fix="check disk space (inv doctor), then inv bases --force",
                           anchor="offline-bases") from exc


def _lister(platform, versions, bases, progress):
    """None when this machine runs `platform`'s busybox (emulation registered) to list its
    applets; else the .deb of this machine's busybox-static of the same version, whose
    busybox lists the same applets; else a one-line refusal."""
    from ops.engine import emulation

    ok, why, fix = emulation.status(platform, emulation.host_platform(), host="unix://")
    if ok:
        return None
    wanted = versions["busybox-static"]
    record = package_records(["busybox-static"])["busybox-static"]
    if not same_source(record["Version"], wanted):
        raise OpsError(f"cannot list the applets of {platform}'s busybox {wanted}: {why}, and "
                       f"this machine's busybox-static is {record['Version']}",
                       fix=fix, anchor="multi-arch")
    progress(f"bases: {why}; listing applets with this machine's busybox {record['Version']}")
    return fetch("busybox-static", record, bases.cache_path, progress)


def _build(engine, kind, ref, original, recipe, debs, changes, platform, lister_deb,
           progress):
    """The filesystem made an image of `platform` by BuildKit: FROM scratch, COPY rootfs/."""
    from ops.image import buildkit, context_tar

    dockerfile = "\n".join(["FROM scratch", "COPY rootfs/ /", *changes]) + "\n"
    with tempfile.TemporaryDirectory(prefix="tasky-base-") as tmp, \
            Heartbeat(f"bases: unpacking {len(debs)} packages", progress) as heartbeat:
        rootfs, lister = Path(tmp) / "rootfs", None
        rootfs.mkdir()
        if lister_deb is not None:
            _run(["dpkg-deb", "-x", str(lister_deb), os.path.join(tmp, "lister")])
            lister = Path(tmp) / "lister" / "bin" / "busybox"
        progress(f"bases: unpacking {len(debs)} packages ({platform})")
        assemble(kind, debs, rootfs, lister=lister)
        heartbeat.what = f"bases: building {ref} for {platform}"
        progress(f"bases: building {ref} for {platform} (BuildKit, FROM scratch)")
        with context_tar.tar(tmp, dockerfile, leave_out=("lister",)) as tar:
            try:
                buildkit.build(engine, tar, tags=[ref], buildargs={},
                               labels=_base_labels(recipe, original), verbose=False,
                               progress=progress, platform=platform)
            except buildkit.BuildKitUnavailable as exc:
                raise OpsError(f"{ref} needs a BuildKit build ({exc.reason}): the engine's "
                               f"import records every image as its own platform, not "
                               f"{platform}", fix="use an engine of 18.09 or later with "
                               "BuildKit on", anchor="multi-arch") from exc


def render(rows):
    return table(rows, [("base", "image"), ("stands_in_for", "stands in for"),
                        ("platform", "platform"), ("status", "status"), ("size_mb", "MB"),
                        ("seconds", "seconds")])
