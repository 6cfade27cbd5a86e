"""A Go module proxy on disk, built from the module sources Debian packages install.

`GOPROXY=file://DEST` then serves the third-party fixture's modules with no network, so
the tools can be tested against a real `go mod download` / `go mod vendor`. The fixture's
go.mod pins Debian's versions and its go.sum holds the hashes of what this builder writes
(the zips are deterministic, so the hashes stay put between builds).

Why these modules: each of them, and each of their dependencies, is whole in Debian 12.
logrus was tried and dropped: Debian's golang.org/x/sys has no `windows/`, which logrus
imports under a build tag, so `go mod vendor` (which loads every platform) cannot finish.
"""
import base64
import dataclasses
import hashlib
import json
import os
import zipfile
from pathlib import Path

GOCODE = Path("/usr/share/gocode/src")


@dataclasses.dataclass(frozen=True)
class Module:
    path: str
    version: str
    package: str        # the Debian package whose files these are (`inv setup --dev`
                        # installs each: ops/engine/install.py's DEV_PACKAGES)
    source: str = ""    # folder under GOCODE when not the module path itself

    @property
    def tree(self):
        return GOCODE / (self.source or self.path)

    def go_mod(self):
        """The module's go.mod; for a tree without one, what proxies serve: the module line."""
        found = self.tree / "go.mod"
        return found.read_bytes() if found.is_file() else f"module {self.path}\n".encode()


MODULES = (
    Module("github.com/gorilla/mux", "v1.8.0", "golang-github-gorilla-mux-dev"),
    Module("github.com/gorilla/handlers", "v1.5.1", "golang-github-gorilla-handlers-dev"),
    # Debian has no httpsnoop package: it ships v1.0.1 inside gorilla/handlers' tree.
    Module("github.com/felixge/httpsnoop", "v1.0.1", "golang-github-gorilla-handlers-dev",
           "github.com/gorilla/handlers/vendor/github.com/felixge/httpsnoop"),
    Module("github.com/gorilla/sessions", "v1.2.1", "golang-github-gorilla-sessions-dev"),
    Module("github.com/gorilla/securecookie", "v1.1.1",
           "golang-github-gorilla-securecookie-dev"),
    Module("github.com/joho/godotenv", "v1.5.1", "golang-github-joho-godotenv-dev"),
)

# Every zip entry gets this time and mode so two builds give byte-identical files.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
SKIPPED_DIRS = {"vendor", ".git", ".hg", ".svn", ".bzr"}


class MissingSources(Exception):
    """A module's Debian package is not installed (the message names the apt-get line)."""


def escape(path):
    """The proxy's case encoding: each capital becomes '!' and its lower case."""
    return "".join(f"!{c.lower()}" if c.isupper() else c for c in path)


def module_files(tree):
    """(relative path, absolute path) of the files that belong in the module zip, sorted.

    Left out as the go command does: vendor/ and VCS folders, nested modules (a
    subfolder with its own go.mod), and anything that is not a regular file.
    """
    found = []
    for folder, dirs, files in os.walk(tree):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS
                         and not (here / d).is_symlink()
                         and not (here / d / "go.mod").exists())
        for name in files:
            path = here / name
            if path.is_file() and not path.is_symlink():
                found.append((path.relative_to(tree).as_posix(), path))
    return sorted(found)


def zip_entries(module):
    """[(name in the zip, bytes)]: the tree's files under the `<module>@<version>/` prefix.

    A tree without go.mod gets none in the zip either, as with any proxy: the go
    command takes the module line from the .mod file.
    """
    prefix = f"{module.path}@{module.version}/"
    return [(prefix + rel, path.read_bytes()) for rel, path in module_files(module.tree)]


def write_zip(module, dest):
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in zip_entries(module):
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)


def h1(files):
    """The go.sum hash ("h1:...") of [(name, bytes)]: golang.org/x/mod's dirhash.Hash1."""
    summary = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n"
                      for name, data in sorted(files))
    return "h1:" + base64.b64encode(hashlib.sha256(summary.encode()).digest()).decode()


def go_sum(modules=MODULES):
    """The go.sum lines for ``modules`` as this proxy serves them (sorted, go's format)."""
    lines = []
    for module in modules:
        lines.append(f"{module.path} {module.version} {h1(zip_entries(module))}")
        lines.append(f"{module.path} {module.version}/go.mod "
                     f"{h1([('go.mod', module.go_mod())])}")
    return "".join(line + "\n" for line in sorted(lines))


def missing_packages(modules=MODULES):
    """Debian packages whose module trees are absent."""
    return sorted({m.package for m in modules if not m.tree.is_dir()})


def build_proxy(dest, modules=MODULES):
    """Write a GOPROXY=file:// directory serving ``modules`` under ``dest``; return it."""
    dest = Path(dest)
    absent = missing_packages(modules)
    if absent:
        raise MissingSources("module sources missing: python3 -m invoke setup --dev "
                             "(apt-get install -y " + " ".join(absent) + ")")
    listed = {}
    for module in modules:
        folder = dest / escape(module.path) / "@v"
        folder.mkdir(parents=True, exist_ok=True)
        listed.setdefault(folder, []).append(module.version)
        (folder / f"{module.version}.info").write_text(
            json.dumps({"Version": module.version}) + "\n")
        (folder / f"{module.version}.mod").write_bytes(module.go_mod())
        write_zip(module, folder / f"{module.version}.zip")
    for folder, versions in listed.items():
        (folder / "list").write_text("".join(v + "\n" for v in versions))
    return dest
