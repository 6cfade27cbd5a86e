"""Go run in the builder image on the app's modules: `inv vendor` (go mod vendor), and a cheap
real probe of whether the build's `go mod download` can fetch what go.mod requires.

Go runs only in the builder image (the host needs no Go). A `file://` GOPROXY is
bind-mounted read-only at the same path, so one value works on the host and inside.
`go mod vendor` writes into a staging folder (-o) over a read-only context; vendor/ is
replaced by it only once Go succeeded and only if no signal has arrived (signals.writing):
an interrupted or failed vendor leaves vendor/ as it was, never half written.
"""
import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from ops.core import files, redact, signals
from ops.core.errors import OpsError
from ops.engine import throwaway
from ops.image import go_image, gomod

# Writable places for a container user that is not root (the image's GOPATH is root's).
SCRATCH = {"HOME": "/tmp", "GOMODCACHE": "/tmp/gomodcache", "GOCACHE": "/tmp/gocache"}


def owner(path):
    """'uid:gid' owning ``path``, so files the container writes belong to the user."""
    stat = Path(path).stat()
    return f"{stat.st_uid}:{stat.st_gid}"


def run_go(engine, image, command, env, volumes, workdir, user=None, progress=print,
           timeout=None):
    """Run a go command in a throwaway builder container.

    Returns (exit code, or None when ``timeout`` seconds passed first; output lines with
    passwords masked, each streamed to ``progress`` as it comes).
    """
    return throwaway.run(engine, image, command, role="go-modules", progress=progress,
                         timeout=timeout, mask=redact.redact_text, working_dir=workdir,
                         user=user or "", environment={**SCRATCH, **env}, volumes=volumes)


def vendor(engine, settings, goproxy=None, progress=print):
    """`go mod vendor` for the build context in the builder image.

    Returns {"modules": int, "seconds": float, "image": str, "goproxy": str (masked),
    "vendor": str (path), "warning": str or None}.
    """
    context = Path(settings.context_path)
    if not (context / "go.mod").is_file():
        raise OpsError(f"no go.mod in {context}", fix="set tasky.context to the Go module's "
                       "folder", anchor="go-modules-offline")
    env = gomod.go_settings(goproxy)
    volumes = {str(context): {"bind": "/src", "mode": "ro"},
               **gomod.proxy_mounts(env.get("GOPROXY"))}
    started = time.monotonic()
    image = go_image.choose(engine, settings, progress)
    progress(f"go mod vendor in {image} (GOPROXY: {gomod.shown_proxy(env.get('GOPROXY'))})")
    with staging(context) as stage:
        volumes[str(stage)] = {"bind": "/out", "mode": "rw"}
        code, output = run_go(engine, image, ["go", "mod", "vendor", "-o", "/out/vendor"], env,
                              volumes, "/src", user=owner(context), progress=progress)
        if code != 0:
            cause, fix = gomod.explain(output)
            raise OpsError(f"go mod vendor failed: {cause}: {gomod.last_error(output)}",
                           fix=fix, anchor="go-modules-offline",
                           details=output[-gomod.DETAIL_LINES:])
        publish(stage / "vendor", context / "vendor")
    modules_txt = context / "vendor" / "modules.txt"
    count = len(gomod.vendored_versions(modules_txt.read_text())) if modules_txt.is_file() else 0
    return {"modules": count, "seconds": round(time.monotonic() - started, 1), "image": image,
            "goproxy": gomod.shown_proxy(env.get("GOPROXY")),
            "vendor": str(context / "vendor"), "warning": gomod.ignore_warning(context)}


@contextlib.contextmanager
def staging(context):
    """A hidden folder in the context (the same file system, so vendor/ moves in by rename;
    Go skips folders starting with '.'), owned by the context's owner, who runs Go; removed
    however the vendor ends."""
    stage = Path(tempfile.mkdtemp(prefix=".tasky-vendor-", dir=context))
    try:
        if os.geteuid() == 0:
            os.chown(stage, *map(int, owner(context).split(":")))
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def publish(staged, target):
    """vendor/ replaced by what Go wrote (files.swap_folder: one exchange), refused
    once a signal has arrived. Go wrote nothing when the module has no dependencies: then
    vendor/ goes, as `go mod vendor` itself removes it."""
    with signals.writing():
        files.swap_folder(staged, target)


def module_access(engine, settings, timeout=20, build_env=None, use_vendor=True):
    """Whether the build's `go mod download` can get the modules go.mod requires.

    ``build_env``: the Go variables the build passes to the builder image (build args the
    Dockerfile declares); by default none, as our Dockerfile declares none, so the image's
    own environment decides. ``use_vendor=False``: probe even when vendor/ exists (a
    Dockerfile that downloads whatever vendor/ holds). Returns {"ok": bool, "reason": str,
    "source": str}, source being "none", "vendor" or "GOPROXY=<value, masked>".
    """
    context = Path(settings.context_path)
    try:
        required = gomod.parse_go_mod((context / "go.mod").read_text())
    except OSError:
        return {"ok": False, "reason": f"no go.mod in {context}", "source": "none"}
    if not required:
        return {"ok": True, "reason": "go.mod requires no modules (standard library only)",
                "source": "none"}
    consistent, detail = gomod.vendor_state(context)
    if consistent is not None and use_vendor:
        return {"ok": consistent, "reason": detail, "source": "vendor"}

    if engine is None:
        return {"ok": False, "reason": "no Docker engine to run the probe in", "source": "none"}
    env = dict(build_env or {})
    image = go_image.choose(engine, settings, progress=lambda line: None)
    baked = image_env(engine, image)
    goproxy = env.get("GOPROXY") or baked.get("GOPROXY")
    source = f"GOPROXY={gomod.shown_proxy(goproxy)}"
    # One module, the first go.mod lists: one download is enough to tell whether the
    # proxy answers, and it costs well under a second when it does.
    module, version = required[0]
    volumes = {str(context): {"bind": "/ctx", "mode": "ro"}, **gomod.proxy_mounts(goproxy)}
    # A copy of go.mod and go.sum, so go checks go.sum (as the build does) and may add to it.
    script = ("mkdir -p /tmp/probe && cp /ctx/go.mod /tmp/probe/ && "
              "{ cp /ctx/go.sum /tmp/probe/ 2>/dev/null || true; } && cd /tmp/probe && "
              f"go mod download -json {module}@{version}")
    started = time.monotonic()
    code, output = run_go(engine, image, ["/bin/sh", "-c", script], env, volumes, "/",
                          progress=lambda line: None, timeout=timeout)
    seconds = time.monotonic() - started
    if code == 0:
        return {"ok": True, "reason": f"fetched {module}@{version} in {seconds:.1f} s",
                "source": source}
    if code is None:
        return {"ok": False, "reason": f"fetching {module}@{version} got no answer within "
                f"{timeout} s (a firewall dropping packets, or a very slow proxy)",
                "source": source}
    error = gomod.json_error(output) or gomod.last_error(output)
    cause, _ = gomod.explain(output)
    unseen = gomod.shell_only(env, baked)
    note = f"; {unseen}" if unseen else ""
    return {"ok": False, "reason": f"{cause}: {error}{note}", "source": source}


def image_env(engine, image):
    env = engine.images.get(image).attrs["Config"].get("Env") or []
    return dict(item.split("=", 1) for item in env if "=" in item)


def render(result):
    from ops.core.console import table

    text = table([result], [("modules", "modules vendored"), ("vendor", "into"),
                            ("goproxy", "from"), ("image", "builder"), ("seconds", "seconds")])
    return text + (f"\nwarning: {result['warning']}" if result.get("warning") else "")
