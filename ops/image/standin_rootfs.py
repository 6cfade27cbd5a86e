"""A stand-in base's filesystem from Debian packages: each package's candidate as apt knows
it (of this machine's architecture, or another's with the `:arch` qualifier), downloaded
once into the cache and checked against apt's Size and SHA256, unpacked, and made into
what a container base needs (busybox's applets, passwd and group, the adduser shims).
"""
import errno
import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ops.core import files
from ops.core.errors import OpsError
from ops.core.heartbeat import Heartbeat

SCRIPTS = Path(__file__).parent / "standin"
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
GROUP = "root:x:0:\nusers:x:100:\nnogroup:x:65534:\n"
BINNMU = re.compile(r"\+b\d+$")   # a rebuild of the same source for one architecture


def _run(args, **kw):
    proc = subprocess.run(args, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise OpsError(f"`{' '.join(args)}` failed: {(proc.stderr or proc.stdout).strip()[-300:]}",
                       fix="check that apt works here (`apt-get update`), then `inv bases --force`",
                       anchor="offline-bases")
    return proc.stdout


def qualified(package, arch=None):
    """apt's name for a package of architecture arch (Debian's word): busybox-static:arm64."""
    return f"{package}:{arch}" if arch else package


def package_versions(packages, arch=None):
    """Candidate version of each Debian package, as apt would install it now."""
    return {name: record["Version"] for name, record in package_records(packages, arch).items()}


def package_records(packages, arch=None):
    """{package: {"Version", "Size", "SHA256", "Architecture"}} of each candidate, from apt's
    metadata: what a download must be before it is used. arch (Debian's name, e.g. arm64):
    that architecture's packages; None: this machine's."""
    try:
        proc = subprocess.run(["apt-cache", "show", "--no-all-versions",
                               *(qualified(p, arch) for p in packages)],
                              capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise OpsError("apt-cache not found: stand-in bases are built from Debian packages",
                       fix="build on a Debian-family host, or pull golang:1.19 and alpine:3.17.0",
                       anchor="offline-bases") from exc
    records, name = {}, None
    for line in proc.stdout.splitlines():
        field, _, value = line.partition(": ")
        if field == "Package":
            name = value
        elif field in ("Version", "Size", "SHA256", "Architecture") and name:
            records.setdefault(name, {})[field] = value
    missing = [p for p in packages if "Version" not in records.get(p, {})]
    if missing and arch:
        raise unknown_architecture(arch, missing)
    if missing or proc.returncode != 0:
        said = proc.stderr.strip()[-200:]
        raise OpsError(f"apt knows no package {', '.join(missing)}" + (f" ({said})" if said
                                                                        else ""),
                       fix="run `apt-get update` first", anchor="offline-bases")
    return {p: records[p] for p in packages}


def unknown_architecture(arch, missing):
    """apt knows none of `missing` for architecture arch: added to dpkg or not."""
    from ops.engine import emulation

    platform = next((f"linux/{k}" for k, v in _architectures().items() if v == arch), arch)
    if arch not in emulation.debian_architectures():
        return OpsError(f"apt knows no {arch} packages ({', '.join(missing)}): dpkg has not "
                        f"added the {arch} architecture",
                        fix=f"dpkg --add-architecture {arch} && apt-get update, or "
                            f"inv setup --platform {platform}", anchor="multi-arch")
    return OpsError(f"apt knows no {arch} package {', '.join(missing)}",
                    fix="run `apt-get update` first (the architecture is added; its lists "
                        "are not fetched)", anchor="multi-arch")


def _architectures():
    from ops.core.platforms import ARCHITECTURES

    return {oci: names[0] for oci, names in ARCHITECTURES.items()}


def same_source(version, other):
    """Whether two architectures' versions are one source's build (binNMUs aside)."""
    return BINNMU.sub("", version) == BINNMU.sub("", other)


def fetch(package, record, cache, progress=print, arch=None):
    """The .deb of package at record["Version"], downloaded once into the cache, and checked
    against apt's Size and SHA256 before each use: one that is short or corrupt (a full
    disk, a killed download) is deleted and fetched again, once. Another architecture's
    packages (arch) have folders of their own: debs/busybox-static:arm64/VERSION."""
    version = record["Version"]
    folder = cache / "debs" / qualified(package, arch) / version.replace(":", "%3a")
    for deb in sorted(folder.glob("*.deb")) if folder.is_dir() else []:
        problem = deb_problem(deb, record)
        if problem is None:
            return deb
        progress(f"bases: {deb} is {problem}: fetching it again")
        deb.unlink()
    shown = qualified(package, arch)
    for _ in (1, 2):
        progress(f"bases: downloading {shown} {version}")
        with Heartbeat(f"bases: downloading {shown}", progress):
            deb = _download(shown, version, folder)
        problem = deb_problem(deb, record)
        if problem is None:
            return deb
        deb.unlink()
    raise OpsError(f"the download of {shown} {version} is {problem}, twice",
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


def assemble(kind, debs, rootfs, lister=None):
    """Unpack the packages into rootfs and add what a container base needs.

    lister: a busybox binary that runs here, of the same version as the rootfs's, to list
    the applets (another architecture's busybox without emulation cannot); None: the
    rootfs's own."""
    for deb in debs:
        _run(["dpkg-deb", "-x", str(deb), str(rootfs)])
    busybox = rootfs / "bin" / "busybox"
    for applet in _run([str(lister or busybox), "--list"]).split():
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
