"""`inv doctor`'s checks of what a build needs: Python packages, git, bases, Go modules."""
import os
import sys
from importlib import metadata
from pathlib import Path

from ops.core.errors import OpsError
from ops.doctor.rows import from_error, needs_engine, row
from ops.image import gitinfo
from ops.image.gomod import parse_go_mod
from ops.image.standins import local_image

# --- Python -----------------------------------------------------------------------------

def parse_requirements(text):
    """[(name, SpecifierSet)] of the requirements that apply to this Python, read as pip reads
    them (packaging): options, comments and lines whose marker excludes this Python skipped."""
    from packaging.requirements import InvalidRequirement, Requirement

    found = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue   # pip would refuse the file; the install command in the fix says so
        if requirement.marker is None or requirement.marker.evaluate():
            found.append((requirement.name, requirement.specifier))
    return found


def satisfies(version, specifier):
    """True when the installed version is in the range, as pip compares versions (PEP 440:
    2.0.0rc1 is below 2.0.0; 7.2.0 matches ==7.*). An installed pre-release counts."""
    from packaging.version import InvalidVersion

    try:
        return specifier.contains(version, prereleases=True)
    except InvalidVersion:
        return False


def python_packages(engine, settings):
    install = "python3 -m pip install -r requirements.txt"
    wanted = parse_requirements((settings.root / "requirements.txt").read_text())
    seen, missing, outside = [], [], []
    for name, specifier in wanted:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        seen.append(f"{name} {version}")
        if not satisfies(version, specifier):
            outside.append(f"{name} {version} (wants {specifier})")
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
        info = gitinfo.read(settings.context_path)   # the app's repository, as the build
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


def go_modules(engine, settings):
    """Can the build get the modules go.mod requires? Decided by what the build will do:
    vendor/ when present, else one real download in the builder image with the same Go
    variables (ops.image.gomod.module_access)."""
    from ops.image import build_args, gomod, vendor

    context = settings.context_path
    shown = display_path(context, settings.root)
    try:
        required = parse_go_mod((context / "go.mod").read_text())
    except OSError:
        return [row("build", "go modules", "fail", f"no go.mod in {context}",
                    "set tasky.context to the Go module's folder", anchor="build-fails")]
    try:
        env = build_args.go_build_args(settings, {}, progress=lambda line: None)
    except OpsError as error:   # a Go variable no build would take (credentials in a URL)
        return [from_error("build", "go modules", error)]
    said = "; ".join(f"{name}={gomod.shown_proxy(value) if name == 'GOPROXY' else value} "
                     "(this shell)" for name, value in env.items())
    if not required:
        return [row("build", "go modules", "ok", "go.mod requires no modules (standard library "
                    "only)" + (f": {said} cannot break the build" if said else ""))]
    names = ", ".join(m for m, _ in required[:3]) + (
        f" and {len(required) - 3} more" if len(required) > 3 else "")
    vendor_fix = (f"vendor them where they can be fetched: inv vendor (or cd {shown} && go mod "
                  "vendor), commit vendor/; inv build then needs no network")
    consistent, detail = gomod.vendor_state(context)
    if consistent is False:
        return [row("build", "go modules", "fail", f"{shown}/{detail}: go build fails with "
                    "`inconsistent vendoring`", f"inv vendor (or cd {shown} && go mod vendor)",
                    anchor="go-modules-offline")]
    unguarded = gomod.download_steps(settings)[1] if consistent else []
    if unguarded:   # vendor/ is fine, but the Dockerfile downloads anyway: can it?
        return [_unguarded(engine, settings, env, detail, unguarded[0])]
    if consistent:
        ignored = gomod.ignore_warning(context)
        if ignored:
            return [row("build", "go modules", "warn", f"{detail}, but {ignored}", "git add -f "
                        f"{shown}/vendor, or drop the .gitignore pattern",
                        anchor="go-modules-offline")]
        return [row("build", "go modules", "ok", f"{len(required)} required modules ({names}), "
                    f"{detail}")]
    if "-mod=vendor" in env.get("GOFLAGS", "").split():
        return [row("build", "go modules", "fail", f"GOFLAGS={env['GOFLAGS']} (this shell) but "
                    f"{shown} has no vendor/: go build fails with `inconsistent vendoring`",
                    vendor_fix, anchor="go-modules-offline")]
    if env.get("GOPROXY", "").strip() == "off":
        return [row("build", "go modules", "fail", f"go.mod requires {names} and GOPROXY=off "
                    "(this shell) with no vendor/: `go mod download` fails with `module lookup "
                    "disabled by GOPROXY=off`", vendor_fix, anchor="go-modules-offline")]
    if engine is None:
        return [row("build", "go modules", "warn", f"go.mod requires {names}, downloaded at "
                    "build time (a build without network fails); the probe needs the Docker "
                    "daemon", vendor_fix, anchor="go-modules-offline")]
    access = vendor.module_access(engine, settings, build_env=env)
    if access["ok"]:
        return [row("build", "go modules", "ok", f"{len(required)} required modules ({names}): "
                    f"{access['reason']} ({access['source']})")]
    return [row("build", "go modules", "fail", f"go.mod requires {names} and the build cannot "
                f"fetch them: {access['reason']} ({access['source']})",
                vendor_fix + ", or pass a reachable proxy: inv build --build-arg GOPROXY=URL",
                anchor="go-modules-offline")]


def _unguarded(engine, settings, env, detail, line):
    """A vendored tree whose Dockerfile runs `go mod download` anyway: the build needs what
    that download needs, so the probe decides, as for a tree without vendor/."""
    from ops.image import gomod, vendor

    step = (f"{detail}, but {settings.dockerfile_path.name} line {line} runs `go mod download` "
            "whatever vendor/ holds")
    if engine is None:
        return row("build", "go modules", "warn", f"{step}: a build without network fails; the "
                   "probe needs the Docker daemon", gomod.unguarded_fix(settings),
                   anchor="go-modules-offline")
    access = vendor.module_access(engine, settings, build_env=env, use_vendor=False)
    if access["ok"]:
        return row("build", "go modules", "ok", f"{step}, and it can fetch them: "
                   f"{access['reason']} ({access['source']})")
    return row("build", "go modules", "fail", f"{step}, and it cannot fetch them: "
               f"{access['reason']} ({access['source']})", gomod.unguarded_fix(settings),
               anchor="go-modules-offline")
