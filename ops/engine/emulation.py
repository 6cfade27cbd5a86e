"""Running another architecture's binaries here: qemu-user registered with the kernel's
binfmt_misc, with the F flag (the interpreter is opened once, at registration, so it works
inside containers, whose filesystems do not hold it).

status() says whether a platform's images can run on this engine, and why not; register()
makes it so (Debian's qemu-user-static, binfmt_misc mounted, the package's entry written
to the kernel, the architecture added to dpkg for its packages); exec_format() names the
one failure an image of another platform without emulation ends with.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from ops.core.errors import OpsError
from ops.core.platforms import ARCHITECTURES, Platform, of_machine
from ops.engine import apt

# The kernel's binfmt_misc; TASKY_BINFMT_MISC names another folder: a fake kernel's, for
# `inv setup` on a fake machine (tests/unit/test_setup.py).
BINFMT = Path(os.environ.get("TASKY_BINFMT_MISC") or "/proc/sys/fs/binfmt_misc")
BINFMT_CONF = Path("/usr/lib/binfmt.d")   # qemu-user-static's entries, one line each
# Debian's qemu-user-static: its interpreters and /usr/lib/binfmt.d entries (systemd-binfmt
# registers those at boot; elsewhere register() does, after each boot).
PACKAGES = ("qemu-user-static",)
ANCHOR = "multi-arch"
# What runc (20.10) says when the kernel cannot execute the entrypoint: in the container's
# log ("standard_init_linux.go:228: exec user process caused: exec format error") or its
# State.Error; Go's error text for ENOEXEC.
EXEC_FORMAT = re.compile(r"exec format error", re.IGNORECASE)


def setup_fix(platform):
    return f"inv setup --platform {platform} (as root: installs qemu-user-static, registers it)"


def host_platform():
    """This machine's own platform (`uname -m`): the local engine's."""
    return of_machine(os.uname().machine)


def engine_platform(engine):
    """The engine's own platform, from GET /version (its Arch is Go's word: "arm" is
    arm/v7, the only 32-bit arm tasky-ops builds); one line for one it does not build for."""
    from ops.core.errors import OpsError
    from ops.core.platforms import platform
    from ops.engine.socket_api import engine_api

    answer = next(iter(engine_api(engine).stream("GET", "/version")), {})
    said = f"{answer.get('Os')}/{answer.get('Arch')}"
    try:
        return platform(said + "/v7" if said.endswith("/arm") else said, "the engine's own")
    except OpsError:
        raise OpsError(f"the Docker engine runs {said} containers, a platform tasky-ops does not "
                       "build for", fix="use a Linux engine on amd64 or arm64",
                       anchor="multi-arch") from None


def is_local(host=None):
    """Whether the engine runs on this machine (its kernel is this kernel): a unix socket, or
    tcp:// on loopback. ssh:// and other hosts' addresses are not."""
    host = host if host is not None else os.environ.get("DOCKER_HOST") or "unix://"
    if host.startswith(("unix://", "npipe://")):
        return True
    name = urlsplit(host).hostname or ""
    return host.startswith("tcp://") and name in ("localhost", "127.0.0.1", "::1")


def parse_entry(text):
    """A binfmt_misc entry file (`enabled`, `interpreter PATH`, `flags: POF`, ...) as
    {"enabled": bool, "interpreter": str, "flags": str}."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    entry = {"enabled": bool(lines) and lines[0] == "enabled", "interpreter": "", "flags": ""}
    for line in lines[1:]:
        if line.startswith("interpreter "):
            entry["interpreter"] = line.split(" ", 1)[1].strip()
        elif line.startswith("flags:"):
            entry["flags"] = line.split(":", 1)[1].strip()
    return entry


def status(platform, native, proc=BINFMT, host=None):
    """(ok, why, fix) for running `platform`'s images on an engine of platform `native`.

    ok is True (native, or emulation registered as containers need it), False (why says
    what is missing; fix is the command), or None when the engine is on another machine
    (DOCKER_HOST): its kernel cannot be read from here, and running the image will tell."""
    platform, native = Platform(platform), Platform(native)
    if platform == native:
        return True, f"{platform} is the engine's own platform: no emulation needed", None
    fix = setup_fix(platform)
    if not is_local(host):
        return (None, f"the engine is not on this machine (DOCKER_HOST): whether it emulates "
                f"{platform.machine} cannot be checked from here; running the image will tell",
                f"on the engine's host: {fix}")
    proc = Path(proc)
    if not (proc / "register").exists():
        return False, f"binfmt_misc is not mounted at {proc}: no emulation of {platform}", fix
    if (proc / "status").exists() and (proc / "status").read_text().strip() != "enabled":
        return False, f"binfmt_misc is disabled ({proc / 'status'} says so)", fix
    path = proc / f"qemu-{platform.qemu}"
    if not path.exists():
        return False, f"no qemu-{platform.qemu} entry in {proc}: {platform} binaries " \
                      "cannot run here", fix
    entry = parse_entry(path.read_text())
    if not entry["enabled"]:
        return False, f"{path} is disabled", f"echo 1 > {path} (as root), or {fix}"
    if "F" not in entry["flags"]:
        return False, (f"{path} lacks the F flag (flags: {entry['flags'] or 'none'}): its "
                       "interpreter cannot be found inside containers"), fix
    interpreter = entry["interpreter"]
    if not interpreter or not os.path.exists(interpreter):
        return False, f"{path}'s interpreter {interpreter or '(none)'} is not there", fix
    return True, f"qemu-{platform.qemu} registered (flags {entry['flags']}, {interpreter})", None


def exec_format(text, image_platform=None, engine_platform=None, emulated=None):
    """When a container's log or State.Error says `exec format error`: (cause, fix), naming
    the image's platform against the engine's; else None. emulated: whether the engine
    runs the image's platform (status()'s ok): when it does, the binary itself is wrong."""
    if not text or not EXEC_FORMAT.search(text):
        return None
    foreign = image_platform and engine_platform and image_platform != engine_platform
    if foreign and not emulated:
        cause = (f"exec format error: the image is {image_platform} and the engine runs "
                 f"{engine_platform}, without emulation of {_machine(image_platform)}")
        build = f"build for the engine's platform (inv build --platform {engine_platform})"
        known = image_platform.split("/", 1)[-1] in ARCHITECTURES
        return cause, (f"{setup_fix(image_platform)} on the engine's host, or {build}"
                       if known else build)
    shown = ""
    if foreign:
        shown = f" (the image is {image_platform}, emulated on this {engine_platform} engine)"
    elif image_platform:
        shown = f" (the image is {image_platform})"
    cause = (f"exec format error{shown}: its entrypoint is a binary of another architecture "
             "than the image's, or a script without a #! line")
    fix = ("rebuild the image so the binary matches its platform (GOARCH=TARGETARCH), or give "
           "the script its #! line")
    return cause, fix


def _machine(platform):
    """The kernel's name of a platform's architecture (aarch64), or its own when unknown."""
    arch = platform.split("/", 1)[-1]
    return ARCHITECTURES[arch][1] if arch in ARCHITECTURES else arch


def image_platform(image):
    """An image inspect's platform as 'linux/arm64', or None when it names none."""
    arch, variant = image.get("Architecture"), image.get("Variant")
    if not arch:
        return None
    return f"{image.get('Os') or 'linux'}/{arch}" + (f"/{variant}" if variant and arch != "arm64"
                                                     else "")


# --- registering ---------------------------------------------------------------------------

def register(platform, progress=print, proc=BINFMT, conf=BINFMT_CONF):
    """Make `platform`'s binaries run here, in containers too, and its Debian packages
    known to apt; rows for setup's table. Each step only when needed."""
    platform = Platform(platform)
    name = f"emulation {platform}"
    if platform == host_platform():
        return [{"component": name, "action": "the machine's own platform: nothing to do"}]
    rows = [{"component": package, "action": "already installed"} for package in PACKAGES]
    missing = [p for p in PACKAGES if p not in apt.installed_packages(PACKAGES)]
    if missing:
        progress(f"setup: installing {' '.join(missing)} with apt-get")
        apt.apt_get("update", "-q", anchor=ANCHOR)
        apt.apt_get("install", "-y", "-q", *missing, anchor=ANCHOR)
        for row in rows:
            if row["component"] in missing:
                row["action"] = "installed"
    proc = Path(proc)
    if not (proc / "register").exists():
        progress(f"setup: mount -t binfmt_misc binfmt_misc {proc}")
        _root(["mount", "-t", "binfmt_misc", "binfmt_misc", str(proc)])
        rows.append({"component": "binfmt_misc", "action": f"mounted at {proc}"})
    rows.append({"component": name, "action": _register_entry(platform, proc, Path(conf))})
    rows.append({"component": f"dpkg architecture {platform.debian}",
                 "action": add_architecture(platform, progress)})
    ok, why, fix = status(platform, host_platform(), proc, host="unix://")
    if not ok:
        raise OpsError(f"emulation of {platform} is still not usable: {why}", fix=fix,
                       anchor=ANCHOR)
    return rows


def _register_entry(platform, proc, conf):
    entry = proc / f"qemu-{platform.qemu}"
    if entry.exists():
        found = parse_entry(entry.read_text())
        if "F" in found["flags"] and found["enabled"]:
            return f"already registered (flags {found['flags']})"
        if "F" in found["flags"]:
            _write(entry, "1")
            return "registered, was disabled: enabled"
        _write(entry, "-1")   # without F it fails in containers: registered again with it
    source = conf / f"qemu-{platform.qemu}.conf"
    try:
        line = next(x.strip() for x in source.read_text().splitlines() if x.startswith(":"))
    except (OSError, StopIteration):
        raise OpsError(f"{source} is missing or holds no binfmt entry", fix="apt-get install "
                       "--reinstall qemu-user-static (as root)", anchor=ANCHOR) from None
    if "F" not in line.rsplit(":", 1)[1]:
        line += "F"
    _write(proc / "register", line)
    return f"registered from {source}"


def add_architecture(platform, progress=print):
    """dpkg --add-architecture and apt-get update, when dpkg does not know it yet."""
    if shutil.which("dpkg") is None:
        return "no dpkg here: other platforms' stand-ins need a Debian-family host"
    if platform.debian in debian_architectures():
        return "already added"
    progress(f"setup: dpkg --add-architecture {platform.debian} && apt-get update")
    _root(["dpkg", "--add-architecture", platform.debian])
    apt.apt_get("update", "-q", anchor=ANCHOR)
    return "added (dpkg --add-architecture), apt-get update"


def debian_architectures():
    """The architectures dpkg installs and apt fetches for: its own and the foreign ones."""
    if shutil.which("dpkg") is None:
        return set()
    said = [subprocess.run(["dpkg", flag], capture_output=True, text=True).stdout
            for flag in ("--print-architecture", "--print-foreign-architectures")]
    return set(" ".join(said).split())


def _write(path, text):
    """One write to a binfmt_misc file (root: the kernel takes each write as one command)."""
    if os.geteuid() == 0:
        try:
            with open(path, "w") as handle:
                handle.write(text)
            return
        except OSError as exc:
            raise OpsError(f"the kernel refused {text[:40]!r} in {path}: {exc.strerror}",
                           fix=f"check {path}'s entries (cat {path.parent}/*)",
                           anchor=ANCHOR) from None
    _root(["sh", "-c", f"printf %s \"$1\" > {path}", "sh", text])


def _root(args):
    command = apt.as_root(args)
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        said = (proc.stderr or proc.stdout).strip()[-300:]
        raise OpsError(f"`{' '.join(command)}` failed: {said}",
                       fix="run it as root: sudo python3 -m invoke setup --platform ...",
                       anchor=ANCHOR)
