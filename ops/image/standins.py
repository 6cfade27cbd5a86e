"""Stand-ins for golang:1.19 and alpine:3.17.0 built from Debian packages alone.

Docker Hub is unreachable on offline machines, but Debian ships Go 1.19 and a static
busybox. The stand-ins are tagged under the project's own namespace and labelled with
a hash of their recipe, so a rebuild happens only when the recipe or a package changes.
"""
import errno
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ops.core import files
from ops.core.console import table
from ops.core.errors import OpsError
from ops.core.heartbeat import Heartbeat
from ops.engine import ownership

RECIPE_VERSION = "3"
LABEL_RECIPE = "org.tasky-ops.recipe"
SCRIPTS = Path(__file__).parent / "standin"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
GROUP = "root:x:0:\nusers:x:100:\nnogroup:x:65534:\n"

# name -> (packages, image config, what it stands in for)
RECIPES = {
    "go": (("golang-1.19-go", "golang-1.19-src", "libc6", "busybox-static"),
           ["ENV GOPATH=/go", "ENV CGO_ENABLED=0",
            f"ENV PATH=/go/bin:/usr/local/go/bin:{SYSTEM_PATH}", "WORKDIR /go"]),
    "runtime": (("busybox-static",), [f"ENV PATH={SYSTEM_PATH}", 'CMD ["/bin/sh"]']),
}


def _run(args, **kw):
    proc = subprocess.run(args, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise OpsError(f"`{' '.join(args)}` failed: {(proc.stderr or proc.stdout).strip()[-300:]}",
                       fix="check that apt works here (`apt-get update`), then `inv bases --force`",
                       anchor="offline-bases")
    return proc.stdout


def package_versions(packages):
    """Candidate version of each Debian package, as apt would install it now."""
    return {name: record["Version"] for name, record in package_records(packages).items()}


def package_records(packages):
    """{package: {"Version", "Size", "SHA256"}} of each candidate, from apt's metadata: what
    a download must be before it is used."""
    try:
        out = _run(["apt-cache", "show", "--no-all-versions", *packages])
    except FileNotFoundError as exc:
        raise OpsError("apt-cache not found: stand-in bases are built from Debian packages",
                       fix="build on a Debian-family host, or pull golang:1.19 and alpine:3.17.0",
                       anchor="offline-bases") from exc
    records, name = {}, None
    for line in out.splitlines():
        field, _, value = line.partition(": ")
        if field == "Package":
            name = value
        elif field in ("Version", "Size", "SHA256") and name:
            records.setdefault(name, {})[field] = value
    missing = [p for p in packages if "Version" not in records.get(p, {})]
    if missing:
        raise OpsError(f"apt knows no package {', '.join(missing)}",
                       fix="run `apt-get update` first", anchor="offline-bases")
    return {p: records[p] for p in packages}


def recipe_hash(kind, versions):
    packages, changes = RECIPES[kind]
    digest = hashlib.sha256(RECIPE_VERSION.encode())
    for part in [*(f"{p}={versions[p]}" for p in packages), *changes, PASSWD, GROUP]:
        digest.update(part.encode() + b"\0")
    for script in sorted(SCRIPTS.iterdir()):
        digest.update(script.read_bytes())
    return digest.hexdigest()[:16]


def fetch(package, record, cache, progress=print):
    """The .deb of package at record["Version"], downloaded once into the cache, and checked
    against apt's Size and SHA256 before each use: one that is short or corrupt (a full
    disk, a killed download) is deleted and fetched again, once."""
    version = record["Version"]
    folder = cache / "debs" / package / version.replace(":", "%3a")
    for deb in sorted(folder.glob("*.deb")) if folder.is_dir() else []:
        problem = deb_problem(deb, record)
        if problem is None:
            return deb
        progress(f"bases: {deb} is {problem}: fetching it again")
        deb.unlink()
    for _ in (1, 2):
        progress(f"bases: downloading {package} {version}")
        with Heartbeat(f"bases: downloading {package}", progress):
            deb = _download(package, version, folder)
        problem = deb_problem(deb, record)
        if problem is None:
            return deb
        deb.unlink()
    raise OpsError(f"the download of {package} {version} is {problem}, twice",
                   fix="check the apt mirror and proxy (apt-get update), then inv bases",
                   anchor="offline-bases")


def deb_problem(deb, record):
    """None when deb is the file apt's metadata describes, else what is wrong with it."""
    size = deb.stat().st_size
    expected = int(record.get("Size") or size)
    if size != expected:
        return f"{'short' if size < expected else 'too long'} ({size} of {expected} bytes)"
    if record.get("SHA256"):
        digest = hashlib.sha256()
        with open(deb, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        if digest.hexdigest() != record["SHA256"].lower():
            return "corrupt (its SHA256 is not apt's)"
    return None


def _download(package, version, folder):
    """apt-get download into a temporary folder beside the cache's, settled by rename: a
    download cut short never takes the cache's name."""
    files.make_folder(folder)
    partial = Path(tempfile.mkdtemp(prefix=".download-", dir=folder))
    try:
        try:
            _run(["apt-get", "download", f"{package}={version}"], cwd=partial)
        except OpsError as error:
            if "No space left" in error.message or "Disk quota" in error.message:
                raise files.not_written(folder, OSError(errno.ENOSPC, "no space")) from None
            raise
        got = next(partial.glob("*.deb"), None)
        if got is None:
            raise OpsError(f"apt-get download {package}={version} left no .deb",
                           fix="check apt (apt-get update), then inv bases", anchor="offline-bases")
        return files.settle(got, folder / got.name)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _write(path, text, mode=0o644):
    files.write_atomically(path, text, mode)


def assemble(kind, debs, rootfs):
    """Unpack the packages into rootfs and add what a container base needs."""
    for deb in debs:
        _run(["dpkg-deb", "-x", str(deb), str(rootfs)])
    busybox = rootfs / "bin" / "busybox"
    for applet in _run([str(busybox), "--list"]).split():
        link = rootfs / "bin" / applet
        if not link.exists() and not link.is_symlink():
            link.symlink_to("busybox")
    for folder in ("sbin", "usr/bin", "usr/sbin", "etc", "root", "home", "var/tmp"):
        (rootfs / folder).mkdir(parents=True, exist_ok=True)
    (rootfs / "tmp").mkdir(exist_ok=True)
    (rootfs / "tmp").chmod(0o1777)
    _write(rootfs / "etc/passwd", PASSWD)
    _write(rootfs / "etc/group", GROUP)
    _write(rootfs / "etc/shadow", "root:*:0:0:99999:7:::\n", 0o640)
    _write(rootfs / "etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n")
    _write(rootfs / "sbin/nologin", "#!/bin/sh\necho 'This account is not available.'\nexit 1\n",
           0o755)
    for script in SCRIPTS.iterdir():
        _write(rootfs / "usr/sbin" / script.name, script.read_text(), 0o755)
    _write(rootfs / "etc/os-release",
           f'ID=tasky-standin\nPRETTY_NAME="tasky-ops {kind} stand-in from Debian packages"\n')
    if kind == "go":
        (rootfs / "usr/local").mkdir(parents=True, exist_ok=True)
        (rootfs / "usr/local/go").symlink_to("/usr/lib/go-1.19")
        (rootfs / "go/src").mkdir(parents=True)
        (rootfs / "go/bin").mkdir()


def local_image(engine, ref):
    """The engine's inspect of `ref` (a dict), or None when it has no such image."""
    from ops.engine.socket_api import engine_api

    return engine_api(engine).image(ref)


def runtime_ref(bases, platform, native):   # TEMPORARY: bases-arch brings the real one
    return bases.offline_runtime if platform == native else bases.offline_runtime + platform.suffix


def ensure(engine, bases, force=False, only_missing=False, progress=print, ledger=None,
           platforms=(), native=None):
    """Build each stand-in that is missing or stale; return one row per base.

    only_missing skips the staleness check (an apt query, about a second) for builds
    that just need some stand-in to be there. A stand-in built is recorded in `ledger`
    (ops/engine/ownership.py), so `inv clean --bases` may remove it.
    """
    rows = []
    for kind, ref, original in (("go", bases.offline_go, bases.go),
                                ("runtime", bases.offline_runtime, bases.runtime)):
        started = time.monotonic()
        packages, changes = RECIPES[kind]
        image = local_image(engine, ref)
        present = None if image is None else \
            (image["Config"].get("Labels") or {}).get(LABEL_RECIPE, "")
        status = "present"
        if only_missing and image is not None and not force:
            versions = None
        else:
            records = package_records(packages)
            versions = {p: records[p]["Version"] for p in packages}
        if versions and (force or present != recipe_hash(kind, versions)):
            progress(f"bases: building {ref} (stand-in for {original}) from "
                     + ", ".join(f"{p} {versions[p]}" for p in packages))
            debs = [fetch(p, records[p], bases.cache_path, progress) for p in packages]
            _import(engine, kind, ref, original, recipe_hash(kind, versions), debs, changes,
                    progress)
            status = "built"
            image = local_image(engine, ref)
            if ledger is not None:
                ledger.record("image", [image["Id"]], role="base", image=ref)
        rows.append({"base": ref, "stands_in_for": original, "status": status,
                     "size_mb": round(image["Size"] / 1e6, 1),
                     "seconds": round(time.monotonic() - started, 1)})
    return rows


def _import(engine, kind, ref, original, recipe, debs, changes, progress=print):
    import docker

    from ops.engine.socket_api import engine_api

    base_labels = {ownership.MANAGED: "true", ownership.ROLE: "base", LABEL_RECIPE: recipe,
                   "org.opencontainers.image.description": f"offline stand-in for {original}"}
    changes = changes + [f'LABEL {k}="{v}"' for k, v in base_labels.items()]
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


def render(rows):
    return table(rows, [("base", "image"), ("stands_in_for", "stands in for"),
                        ("status", "status"), ("size_mb", "MB"), ("seconds", "seconds")])
