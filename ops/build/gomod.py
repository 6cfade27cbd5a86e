"""What go.mod, vendor/modules.txt and the Go variables say about where modules come from,
read on the host; what Go itself does with them runs in the builder image (vendor.py)."""
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from ops.core import redact
from ops.core.errors import OpsError

# The variables that decide where modules come from and how they are checked.
GO_VARIABLES = ("GOPROXY", "GOSUMDB", "GONOSUMDB", "GOFLAGS", "GOPRIVATE")
DETAIL_LINES = 8


def parse_go_mod(text):
    """[(module, version)] a go.mod requires, from one-line and block `require`s."""
    required, in_block = [], False
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if in_block and line.startswith(")"):
            in_block = False
            continue
        if not in_block:
            directive = re.match(r"require\b\s*(.*)", line)
            if not directive:
                continue
            line = directive.group(1)
            if line.startswith("("):
                in_block, line = True, line[1:].strip()
        parts = line.replace('"', "").split()
        if len(parts) >= 2:
            required.append((parts[0], parts[1]))
    return required


# (pattern in Go's output, what it means, the fix), first match wins.
CAUSES = (
    (r"disabled by GOPROXY=off",
     "GOPROXY=off: the go command may not fetch modules",
     "point GOPROXY at a reachable proxy or a file:// mirror (GOPROXY=file:///path), "
     "then vendor"),
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
     "vendor where the proxy is reachable, or set GOPROXY to a file:// mirror "
     "(GOPROXY=file:///path)"),
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
    """{module: version} recorded in vendor/modules.txt ('# path version [=> ...]')."""
    found = {}
    for line in text.splitlines():
        parts = line.split()
        if line.startswith("# ") and len(parts) >= 3:
            found[parts[1]] = parts[2]
    return found


def vendor_state(context):
    """(consistent: bool|None, detail): None when there is no vendor/modules.txt."""
    modules_txt = Path(context) / "vendor" / "modules.txt"
    if not modules_txt.is_file():
        return None, "no vendor/modules.txt"
    required = parse_go_mod((Path(context) / "go.mod").read_text())
    vendored = vendored_versions(modules_txt.read_text())
    stale = [f"{m} {v}" for m, v in required if vendored.get(m) != v]
    if stale:
        return False, f"vendor/ is out of date with go.mod (lacks {', '.join(stale[:3])})"
    return True, f"{len(vendored)} modules vendored (vendor/modules.txt matches go.mod)"


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
        return json.loads("\n".join(line for line in lines
                                    if not line.startswith("go: "))).get("Error")
    except ValueError:
        return None


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


GO_MODULE_FAILURE = re.compile(r"go mod download|module lookup disabled|dial tcp|no such host|"
                               r"GOPROXY|proxy\.golang|missing go\.sum entry|verifying \S+@",
                               re.IGNORECASE)


def modules_failure(error):
    """The Go-modules reading of a failed build (an OpsError), or None when modules were not
    the cause."""
    lines = [error.message, *error.details]
    if "go mod download" not in error.message and not GO_MODULE_FAILURE.search(error.message):
        return None
    cause, fix = explain(lines)
    return OpsError(f"build failed: Go modules could not be fetched ({cause}): "
                    f"{last_error(error.details) if error.details else error.message}",
                    fix=fix + "; or vendor them where they can be fetched: inv vendor",
                    anchor="go-modules-offline", details=error.details)
