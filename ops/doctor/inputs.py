"""`inv doctor`'s checks of what a build needs: Python packages, git, bases, Go modules."""
import os
import re
import sys
from importlib import metadata
from pathlib import Path

from ops import gitinfo
from ops.standins import local_image
from ops.doctor.rows import from_error, needs_engine, row
from ops.errors import OpsError

# --- Python -----------------------------------------------------------------------------

SPEC = re.compile(r"(~=|==|!=|<=|>=|<|>)\s*([0-9][0-9A-Za-z.*+!-]*)")


def parse_requirements(text):
    """[(name, [(operator, version), ...])] from requirements.txt; options and comments skipped."""
    found = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)", line)
        if not line or line.startswith("-") or not match:
            continue
        found.append((match.group(1), SPEC.findall(match.group(3))))
    return found


def version_key(text):
    """'7.1.0' -> (7, 1, 0); stops at the first part that is not a plain number."""
    key = []
    for piece in text.split("."):
        digits = re.match(r"\d+", piece)
        if not digits:
            break
        key.append(int(digits.group()))
        if digits.end() != len(piece):
            break
    return tuple(key)


def satisfies(version, clauses):
    """True when version meets every (operator, version) clause (release numbers only)."""
    have = version_key(version)
    for op, wanted in clauses:
        want = version_key(wanted)
        width = max(len(have), len(want))
        a, b = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
        ok = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b,
              "~=": a >= b and have[:len(want) - 1] == want[:-1]}[op]
        if not ok:
            return False
    return True


def python_packages(engine, settings):
    install = "python3 -m pip install -r requirements.txt"
    wanted = parse_requirements((settings.root / "requirements.txt").read_text())
    seen, missing, outside = [], [], []
    for name, clauses in wanted:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        seen.append(f"{name} {version}")
        if not satisfies(version, clauses):
            outside.append(f"{name} {version} (wants {','.join(op + v for op, v in clauses)})")
    python = f"Python {sys.version.split()[0]}"
    if missing:
        return [row("python", "packages", "fail", f"not installed: {', '.join(missing)}",
                    install, anchor="python-packages")]
    if outside:
        return [row("python", "packages", "warn", "outside the tested range: "
                    + "; ".join(outside), install, anchor="python-packages")]
    return [row("python", "packages", "ok", f"{python}; " + ", ".join(seen)
                + " (as requirements.txt asks)")]


# --- build inputs -----------------------------------------------------------------------

def git_state(engine, settings):
    try:
        info = gitinfo.read(settings.root)
    except OpsError as error:
        return [from_error("build", "git", error)]
    if info.dirty:
        return [row("build", "git", "warn", f"{info.short} with uncommitted changes: images "
                    f"built now are tagged {info.tag}, not a commit",
                    "commit them (git status lists them) so the tag names a commit",
                    anchor="dirty-tag")]
    return [row("build", "git", "ok", f"{info.short} ({info.describe}), clean")]


def base_images(engine, settings):
    """The document's bases present or pullable; else whether the offline stand-ins exist."""
    if engine is None:
        return [needs_engine("build", "base images")]
    bases = settings.bases
    return [_base(engine, ref, standin)
            for ref, standin in ((bases.go, bases.offline_go),
                                 (bases.runtime, bases.offline_runtime))]


def _base(engine, ref, standin):
    import docker

    check = f"base {ref}"
    if local_image(engine, ref) is not None:
        return row("build", check, "ok", "present")
    try:
        engine.api.inspect_distribution(ref)   # asks the registry; pulls nothing
        return row("build", check, "ok", "not here, but pullable: inv build pulls it")
    except docker.errors.DockerException as exc:
        reason = (getattr(exc, "explanation", None) or str(exc)).splitlines()[0][-140:]
    if local_image(engine, standin) is not None:
        return row("build", check, "warn", f"not here and not pullable ({reason}); the "
                   f"offline stand-in {standin} is present",
                   "build offline: inv build --offline (inv demo does it by itself)",
                   anchor="base-image-unavailable")
    return row("build", check, "warn", f"not here and not pullable ({reason}); the offline "
               f"stand-in {standin} is missing too",
               "inv bases builds the stand-ins, then inv build --offline",
               anchor="offline-bases", autofix="bases")


def display_path(path, root):
    """path relative to the repository when inside it (app), else as given."""
    path = Path(path)
    return os.path.relpath(path, root) if path.is_relative_to(root) else str(path)


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


def vendored_modules(text):
    """Module paths vendor/modules.txt records ('# path version' lines)."""
    return {line.split()[1] for line in text.splitlines()
            if line.startswith("# ") and len(line.split()) >= 3}


def go_environment(engine, settings):
    """[(name, value, where)] for GOPROXY=off and GOFLAGS with -mod=vendor that builds see."""
    sources = [("this shell", os.environ)]
    if engine is not None:
        import docker

        for ref in (settings.bases.go, settings.bases.offline_go):
            try:
                env = engine.images.get(ref).attrs["Config"].get("Env") or []
            except docker.errors.ImageNotFound:
                continue
            sources.append((f"builder image {ref}", dict(e.split("=", 1) for e in env
                                                         if "=" in e)))
            break
    found = []
    for where, env in sources:
        if env.get("GOPROXY", "").strip() == "off":
            found.append(("GOPROXY", "off", where))
        if "-mod=vendor" in env.get("GOFLAGS", "").split():
            found.append(("GOFLAGS", env["GOFLAGS"], where))
    return found


def go_modules(engine, settings):
    context = settings.context_path
    shown = display_path(context, settings.root)
    try:
        required = parse_go_mod((context / "go.mod").read_text())
    except OSError:
        return [row("build", "go modules", "fail", f"no go.mod in {context}",
                    "set tasky.context to the Go module's folder", anchor="build-fails")]
    settings_found = go_environment(engine, settings)
    said = "; ".join(f"{name}={value} ({where})" for name, value, where in settings_found)
    if not required:
        return [row("build", "go modules", "ok", "go.mod requires no modules (standard library "
                    "only)" + (f": {said} cannot break the build" if said else ""))]
    names = ", ".join(m for m, _ in required[:3]) + (
        f" and {len(required) - 3} more" if len(required) > 3 else "")
    vendor_fix = (f"vendor them where the proxy is reachable: cd {shown} && go mod vendor, then "
                  "build with GOFLAGS=-mod=vendor (declare ARG GOFLAGS in the build stage: the "
                  "document's --build-arg alone is ignored)")
    modules_txt = context / "vendor" / "modules.txt"
    if modules_txt.is_file():
        missing = [m for m, _ in required if m not in vendored_modules(modules_txt.read_text())]
        if missing:
            return [row("build", "go modules", "fail", f"{shown}/vendor is out of date (no "
                        f"{', '.join(missing)}): go build fails with `inconsistent vendoring`",
                        f"cd {shown} && go mod vendor", anchor="build-fails")]
        return [row("build", "go modules", "ok", f"{len(required)} required modules ({names}), "
                    "vendored" + (f"; {said}" if said else ""))]
    for name, value, where in settings_found:
        if name == "GOFLAGS":
            return [row("build", "go modules", "fail", f"GOFLAGS={value} ({where}) but {shown} "
                        "has no vendor/: go build fails with `inconsistent vendoring`",
                        vendor_fix, anchor="build-fails")]
        return [row("build", "go modules", "fail", f"go.mod requires {names} and GOPROXY=off "
                    f"({where}) with no vendor/: `go mod download` fails with `module lookup "
                    "disabled by GOPROXY=off`", vendor_fix, anchor="build-fails")]
    return [row("build", "go modules", "warn", f"go.mod requires {names}, downloaded at build "
                "time: a build without network fails", vendor_fix, anchor="build-fails")]
