"""What go.mod, vendor/modules.txt and the Go variables say about where modules come from,
read on the host; what Go itself does with them runs in the builder image (vendor.py)."""
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from ops.core import redact
from ops.core.errors import OpsError
from ops.image import dockerfile

# The variables that decide where modules come from and how they are checked.
GO_VARIABLES = ("GOPROXY", "GOSUMDB", "GONOSUMDB", "GOFLAGS", "GOPRIVATE")
DETAIL_LINES = 8


def parse_go_mod(text):
    """[(module, version)] a go.mod requires, from one-line and block `require`s."""
    from ops.image import modules_txt   # here: a build that reads no modules never loads it

    return modules_txt.parse_go_mod(text).require


# (pattern in Go's output, what it means, the fix), first match wins.
CAUSES = (
    (r"disabled by GOPROXY=off",
     "GOPROXY=off: the go command may not fetch modules",
     "vendor from a reachable proxy or a mirror folder: inv vendor --goproxy URL (or "
     "file:///path), then build"),
    (r"SECURITY ERROR|checksum mismatch",
     "the proxy serves different files than go.sum records",
     "use the proxy go.sum was made with, or refresh go.sum from this one (go mod tidy) "
     "if you trust it"),
    (r"verifying .*(lookup|dial tcp|no such host|timeout)|sum\.\S+: .*(lookup|dial)",
     "the checksum database is unreachable for modules go.sum does not list",
     "complete go.sum where the network works (go mod tidy), or set GONOSUMDB=<module "
     "pattern> (GOSUMDB=off) for modules from a private mirror"),
    (r"missing go\.sum entry",
     "go.sum lacks entries for required modules",
     "run go mod tidy where the modules can be fetched, and commit go.sum"),
    (r"no such host|network is unreachable|server misbehaving|connection refused|"
     r"i/o timeout|TLS handshake timeout|dial tcp",
     "the module proxy cannot be reached from the builder (no network or DNS)",
     "vendor where the proxy is reachable, or from a mirror folder: inv vendor --goproxy "
     "file:///path, then build"),
    (r"permission denied",
     "the go command runs as the context's owner, who may not read or write a file it needs",
     "give that user the context (a root-owned vendor/ from a sudo run: sudo chown -R) and "
     "read access to any file:// proxy (chmod -R a+rX /path)"),
    (r"\b404\b|\b410\b|not found|no such file or directory|unknown revision|"
     r"invalid version",
     "the proxy does not have a required module version",
     "check the version in go.mod, or add the module to your mirror"),
    (r"inconsistent vendoring",
     "vendor/ does not match go.mod",
     "vendor again (go mod vendor) and commit vendor/"),
)


def go_settings(goproxy=None, environ=None):
    """The Go variables handed to the builder: this shell's, with ``goproxy`` winning."""
    environ = os.environ if environ is None else environ
    env = {name: environ[name] for name in GO_VARIABLES if environ.get(name)}
    if goproxy:
        env["GOPROXY"] = goproxy
    return env


def proxy_entries(goproxy):
    """The entries of a GOPROXY list (comma or pipe separated)."""
    return [entry.strip() for entry in re.split(r"[,|]", goproxy or "") if entry.strip()]


def proxy_mounts(goproxy):
    """docker-py volumes for each file:// entry: read-only, at the same path."""
    mounts = {}
    for entry in proxy_entries(goproxy):
        if not entry.startswith("file://"):
            continue
        path = urlsplit(entry).path
        if not path.startswith("/") or not Path(path).is_dir():
            raise OpsError(f"GOPROXY names {entry} but {path or entry} is not a folder here",
                           fix="give an absolute file:///path to a module proxy folder "
                               "(each module's @v/list, .info, .mod, .zip)",
                           anchor="go-modules-offline")
        mounts[path] = {"bind": path, "mode": "ro"}
    return mounts


def shown_proxy(goproxy):
    """GOPROXY as it may be printed: passwords in URLs masked; unset said as such."""
    if not goproxy:
        return "Go's default proxy (GOPROXY unset)"
    return ",".join(redact.redact_uri(e) if "://" in e else e for e in proxy_entries(goproxy))


def explain(lines):
    """(cause, fix) for a failed go command's output; an unknown failure says so."""
    text = "\n".join(lines)
    for pattern, cause, fix in CAUSES:
        if re.search(pattern, text, re.IGNORECASE):
            return cause, fix
    return "the go command failed", "read the Go error above; the runbook lists known causes"


def last_error(lines):
    """The most telling line of Go's output: the last that is not a progress line."""
    for line in reversed(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("go: downloading"):
            return stripped
    return "no output"


def vendored_versions(text):
    """{module: version} vendor/modules.txt lists as vendored: its module lines that a
    `##` marker or a package follows, not the records of go.mod's replacements after them."""
    from ops.image import modules_txt

    return dict(modules_txt.read_modules_txt(text).listed)


def vendor_state(context):
    """(consistent: bool|None, detail): None when there is no vendor/modules.txt; False
    when Go would refuse to build from it (modules_txt.problems)."""
    from ops.image import modules_txt

    modules_txt_path = Path(context) / "vendor" / "modules.txt"
    if not modules_txt_path.is_file():
        return None, "no vendor/modules.txt"
    listed = modules_txt_path.read_text()
    found = modules_txt.problems((Path(context) / "go.mod").read_text(), listed)
    if found:
        more = f"; {len(found) - 3} more" if len(found) > 3 else ""
        return False, f"vendor/ is out of date with go.mod ({'; '.join(found[:3])}{more})"
    count = len(vendored_versions(listed))
    return True, f"{count} modules vendored (vendor/modules.txt matches go.mod)"


def ignored_vendor(context):
    """Why git ignores vendor/ in ``context`` ('.gitignore:3:vendor/'), or None.

    Asks git itself (check-ignore), so the repository's own .gitignore files, nested
    ones and info/exclude all count; a tracked vendor/ is not ignored.
    """
    try:
        proc = subprocess.run(["git", "-C", str(context), "check-ignore", "-v", "--",
                               "vendor/modules.txt"], capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0 or not proc.stdout.strip():
        return None   # 1: not ignored; 128: not a git repository
    source = proc.stdout.split("\t", 1)[0]
    return source


def ignore_warning(context):
    source = ignored_vendor(context)
    if not source:
        return None
    return (f"git ignores vendor/ ({source}): a CI clone will not have it and its build "
            "needs the network again; commit it (git add -f vendor) or drop that pattern")


def json_error(lines):
    """The "Error" field of `go mod download -json` output, unescaped."""
    import json

    try:
        found = json.loads("\n".join(line for line in lines if not line.startswith("go: ")))
    except ValueError:
        return None
    error = found.get("Error") if isinstance(found, dict) else None   # Go's shape, or none
    return error if isinstance(error, str) else None


def shell_only(build_env, baked, environ=None):
    """A note when this shell sets Go variables the build will not see (``baked``: the
    builder image's own environment)."""
    environ = os.environ if environ is None else environ
    unseen = [name for name in GO_VARIABLES if environ.get(name)
              and name not in build_env and environ[name] != baked.get(name)]
    if not unseen:
        return None
    return (f"this shell's {', '.join(unseen)} is not passed to the build (the Dockerfile "
            "declares no such ARG)")


# --- what the build does with them ------------------------------------------------------

def refuse_host_proxy(goproxy, source="--build-arg GOPROXY"):
    """A file:// GOPROXY names a folder on this host, and a build sees nothing but its
    context: Go would call every module missing. Refused before any engine call."""
    folders = [entry for entry in proxy_entries(goproxy) if entry.startswith("file://")]
    if folders:
        raise OpsError(f"{source} names {folders[0]}, a folder on this host, which a build "
                       "cannot read (it sees only its context): every module would look "
                       "missing from it",
                       fix=f"vendor from it first: inv vendor --goproxy {folders[0]}, then "
                           "inv build (vendor/ needs no network)", anchor="go-modules-offline")


def download_steps(settings):
    """(the Dockerfile declares ARG GOFLAGS, lines of its `go mod download` steps that no
    guard skips for a vendored tree); (False, []) when there is no Dockerfile to read."""
    path = settings.dockerfile_path
    if not path.is_file():
        return False, []
    text = dockerfile.read(path)
    return (dockerfile.declares_arg(text, "GOFLAGS"),
            [number for number, guarded in dockerfile.module_downloads(text) if not guarded])


def vendored_build(settings):
    """(the GOFLAGS a vendored context is built with, or None; the line saying what the build
    will do); (None, None) without vendor/modules.txt."""
    if not (settings.context_path / "vendor" / "modules.txt").is_file():
        return None, None
    declared, unguarded = download_steps(settings)
    name = settings.dockerfile_path.name
    said = "build: vendor/modules.txt found: " + (
        "building with GOFLAGS=-mod=vendor, " if declared else
        f"{name} declares no ARG GOFLAGS (go build reads vendor/ by itself from go 1.14), ")
    if unguarded:
        said += (f"but {name} line {unguarded[0]} runs `go mod download` whatever vendor/ "
                 "holds: that step needs the network")
    else:
        said += "no module download"
    return ("-mod=vendor" if declared else None), said


def unguarded_fix(settings):
    """The two ways out of a `go mod download` that runs whatever vendor/ holds."""
    import dataclasses

    ours = next(f.default for f in dataclasses.fields(settings) if f.name == "dockerfile")
    return ("guard that step as the project's Dockerfile does (declare ARG GOFLAGS and run "
            "`go mod download` only when GOFLAGS lacks -mod=vendor), or build with the "
            f"project's Dockerfile: INVOKE_TASKY_DOCKERFILE={settings.root / ours} "
            "(tasky.dockerfile)")


GO_MODULE_FAILURE = re.compile(r"go mod download|module lookup disabled|dial tcp|no such host|"
                               r"GOPROXY|proxy\.golang|missing go\.sum entry|verifying \S+@",
                               re.IGNORECASE)


def build_failure(error, settings=None):
    """The Go-modules reading of a failed build (an OpsError), or None when modules were not
    the cause: vendor/ out of step with go.mod, a `go mod download` that should not have
    run (a vendored tree, an unguarded step), or modules that could not be fetched."""
    lines = [error.message, *error.details]
    said = [line.strip() for line in lines if line.strip()]
    at = next((i for i, line in enumerate(said) if "inconsistent vendoring" in line), None)
    if at is not None:
        why = f": {said[at + 1]}" if at + 1 < len(said) else ""
        return OpsError(f"build failed: vendor/ does not match go.mod (Go: inconsistent "
                        f"vendoring{why})", fix="vendor again: inv vendor (inv doctor names "
                        "what differs), and commit vendor/", anchor="go-modules-offline",
                        details=error.details)
    if "go mod download" not in error.message and not GO_MODULE_FAILURE.search(error.message):
        return None
    cause, fix = explain(lines)
    last = last_error(error.details) if error.details else error.message
    if settings is not None and (settings.context_path / "vendor" / "modules.txt").is_file():
        _, unguarded = download_steps(settings)
        if unguarded:
            return OpsError(f"build failed: {settings.dockerfile_path} line {unguarded[0]} runs "
                            "`go mod download` although vendor/ holds the modules, and "
                            f"{cause}: {last}", fix=unguarded_fix(settings),
                            anchor="go-modules-offline", details=error.details)
    if "inv vendor" not in fix:
        fix += "; or vendor them where they can be fetched: inv vendor"
    return OpsError(f"build failed: Go modules could not be fetched ({cause}): {last}",
                    fix=fix, anchor="go-modules-offline", details=error.details)
