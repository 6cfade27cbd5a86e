"""Platforms (OS/ARCH[/VARIANT], as `docker build --platform` and image indexes name them):
the one grammar, and each architecture's other names (Debian's, the kernel's, qemu's).

Every task that takes --platform or reads tasky.platforms checks it here, before any work.
"""
import re

from ops.core.errors import OpsError, example

# OCI architecture -> (Debian architecture, `uname -m`, qemu-user's binfmt name)
ARCHITECTURES = {
    "amd64": ("amd64", "x86_64", "x86_64"),
    "arm64": ("arm64", "aarch64", "aarch64"),
    "arm/v7": ("armhf", "armv7l", "arm"),
    "ppc64le": ("ppc64el", "ppc64le", "ppc64le"),
    "s390x": ("s390x", "s390x", "s390x"),
    "386": ("i386", "i686", "i386"),
}
# The engine's own words (`docker info`'s Architecture, which is `uname -m`) -> OCI's.
FROM_MACHINE = {machine: arch for arch, (_, machine, _) in ARCHITECTURES.items()}
FROM_MACHINE.update({"arm64": "arm64", "armv8": "arm64", "i386": "386", "armv7": "arm/v7"})
PLATFORM = re.compile(r"linux/(amd64|arm64(?:/v8)?|arm/v7|ppc64le|s390x|386)")


class Platform(str):
    """A checked platform, 'linux/arm64'; its parts and its other names as attributes."""

    @property
    def arch(self):
        """OCI's architecture with its variant when it has one: 'arm64', 'arm/v7'."""
        return self.split("/", 1)[1]

    @property
    def architecture(self):
        """An image config's `architecture` field: 'arm64', 'arm'."""
        return self.arch.split("/")[0]

    @property
    def variant(self):
        return self.arch.split("/")[1] if "/" in self.arch else ""

    @property
    def debian(self):
        return ARCHITECTURES[self.arch][0]

    @property
    def machine(self):
        return ARCHITECTURES[self.arch][1]

    @property
    def qemu(self):
        return ARCHITECTURES[self.arch][2]

    @property
    def suffix(self):
        """What a tag of this platform's image ends with: '-linux-arm64', '-linux-arm-v7'."""
        return "-" + self.replace("/", "-")


def platform(value, source):
    """One platform, canonical: 'linux/arm64/v8' is 'linux/arm64' (the only arm64 variant)."""
    text = value.strip().lower() if isinstance(value, str) else value
    if not isinstance(text, str) or not PLATFORM.fullmatch(text):
        raise OpsError(f"invalid platform {value!r} ({source}): a platform is linux/ARCH with "
                       f"ARCH one of {', '.join(ARCHITECTURES)}",
                       fix=f"e.g. {example(source, 'linux/amd64,linux/arm64')}",
                       anchor="multi-arch")
    return Platform(text.removesuffix("/v8"))


def platforms(value, source):
    """A list of platforms (a setting's tuple, or a --platform comma list), each once, in
    order; empty means the engine's own platform."""
    items = value.split(",") if isinstance(value, str) else list(value or ())
    checked = [platform(item, source) for item in items if str(item).strip()]
    return tuple(dict.fromkeys(checked))


def of_machine(machine):
    """The engine's platform from `docker info`'s Architecture (`uname -m` of its host)."""
    arch = FROM_MACHINE.get(machine)
    if arch is None:
        raise OpsError(f"the Docker engine runs on {machine!r}, an architecture tasky-ops "
                       "does not build for", fix="build on an amd64 or arm64 engine",
                       anchor="multi-arch")
    return Platform(f"linux/{arch}")


def chosen(asked, native):
    """The platforms a build makes: those asked, else the engine's own."""
    return asked or (native,)
