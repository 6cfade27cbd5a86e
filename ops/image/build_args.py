"""What a build is given: --build-arg values, refused when they would leak (a secret-looking
name, credentials in a URL, a control character) or clash with what tasky-ops sets, and
this shell's Go variables, checked the same way. Every refusal comes before the engine."""
from ops.core.errors import OpsError

RESERVED = {"GO_IMAGE": "--offline (or tasky.bases.go)", "RUNTIME_IMAGE": "--offline (or "
            "tasky.bases.runtime)", "VERSION": "--version", "REVISION": "git (the SHA)",
            "CREATED": "git (the commit time)", "TASKY_IMAGE": "tasky.image",
            "TASKY_CACHE": "nothing: it is this checkout's cache scope (ownership)",
            # The platform names the architecture: an arg that disagreed would ship a binary
            # the image's platform cannot run (exec format error).
            **dict.fromkeys(("GOARCH", "GOOS", "GOARM", "TARGETARCH", "TARGETOS",
                             "TARGETPLATFORM", "TARGETVARIANT", "BUILDPLATFORM"),
                            "--platform linux/ARCH (or tasky.platforms)")}


def parse_build_args(assignments, settings, environ=None):
    """--build-arg KEY=VALUE list -> dict, refusing what would go wrong later: a malformed
    value (never echoed), a name tasky-ops sets itself, or a secret (build args are kept in
    the image's history for anyone who pulls it): a secret-looking name, a control character
    or credentials in a URL (validate.build_arg). The shell's Go variables the build takes
    are checked here too: every refusal comes before the engine is reached (tasks.py)."""
    from ops.core import redact
    from ops.image import gomod
    from ops.settings import validate

    found = {}
    for text in assignments or ():
        from ops.settings import envvars   # here: most builds are given no --build-arg

        key, value = envvars.parse_assignment(text, source="--build-arg")
        if key in RESERVED:
            raise OpsError(f"--build-arg {key} is set by tasky-ops", fix=f"use {RESERVED[key]}",
                           anchor="bad-flag")
        if redact.looks_secret(key) or key in settings.app.secret_env:
            raise OpsError(f"--build-arg {key} looks like a secret: build args are stored in "
                           "the image history, readable by anyone who pulls the image",
                           fix=f"pass it when the container runs: inv run -e {key}=<value>",
                           anchor="bad-flag")
        found[key] = validate.build_arg(value, f"--build-arg {key}")
    gomod.refuse_host_proxy(found.get("GOPROXY"))   # a host folder the build cannot see
    shell_go_args(found, environ)
    return found


def shell_go_args(extra, environ=None):
    """({name: value}, skipped a file:// GOPROXY) of this shell's Go variables the build
    passes on, as `docker build --build-arg GOPROXY` would take them: those no --build-arg
    in `extra` sets, each checked as a build arg is (validate.build_arg). A file:// GOPROXY
    names a host folder the build cannot see, and is left out."""
    from ops.image import gomod
    from ops.settings import validate

    found, skipped = {}, False
    for name, value in gomod.go_settings(environ=environ).items():
        if name in extra:
            continue
        validate.build_arg(value, f"{name} (this shell's, which the build passes on as a "
                                  "build arg)")
        if name == "GOPROXY" and any(e.startswith("file://") for e in gomod.proxy_entries(value)):
            skipped = True
            continue
        found[name] = value
    return found, skipped


def go_build_args(settings, extra, progress=print, environ=None):
    """The Go variables the build passes: --build-arg values, else this shell's
    (shell_go_args), and -mod=vendor for a vendored app whose Dockerfile declares GOFLAGS.
    A file:// GOPROXY names a host folder the build cannot see: `inv vendor` reads it."""
    from ops.image import gomod

    shell, skipped = shell_go_args(extra, environ)
    if skipped:
        progress("build: this shell's GOPROXY is a file:// folder, which the build cannot "
                 "read (not passed); vendor from it first: inv vendor")
    found = {**extra, **shell}
    if "GOFLAGS" not in found:
        flags, said = gomod.vendored_build(settings)
        if flags:
            found["GOFLAGS"] = flags
        if said:
            progress(said)
    return found
