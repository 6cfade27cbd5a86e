"""What every measurement shares: names, the subprocess runner, the engine pre-flight."""
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

try:
    from tabulate import tabulate  # noqa: F401 - the other modules take it from here
except ImportError:  # the project's own dependency; say so instead of a traceback
    sys.exit("error: tabulate is not installed (pip install -r requirements.txt)")

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable                      # the real interpreter, not a pyenv shim
INV = [PY, "-m", "invoke"]               # what the `inv` console script runs
IMAGE = "tasky-bench"
CONTAINER = "tasky-bench"
PORT = 18080
DOC_CONTAINER = "tasky-bench-doc"
DOC_PORT = 18081
GO_IMAGE = "tasky-ops/golang:1.19-debian"
RUNTIME_IMAGE = "tasky-ops/alpine:3.17.0-busybox"
LABELS = {"org.tasky-ops.managed": "true", "org.tasky-ops.role": "app",
          "org.tasky-ops.image": IMAGE}
# Issue 10: a no-change build within 1.3x of Invoke's start-up + the BuildKit CLI; a one-file
# change within 1.3x of the BuildKit CLI and at least 10x faster than the classic builder.
TARGETS = {"list": 1.2, "build": 1.3, "change": 1.3, "classic_speedup": 10.0,
           "healthy_s": 2.0, "size_mb": 10.0, "push": 1.1}


class BenchError(Exception):
    """A measurement could not be taken; the message says why."""


class Unmeasurable(Exception):
    """Nothing can be measured (no engine, no bases): exit 2 with this message."""


def log(message):
    print(message, file=sys.stderr, flush=True)


def docker_bin():
    return "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else shutil.which("docker")


def bench_env(**extra):
    env = dict(os.environ)
    env.pop("CI", None)  # `inv build --quiet` must not behave as in CI
    env.update({"INVOKE_TASKY_IMAGE": IMAGE, "INVOKE_TASKY_CONTAINER": CONTAINER,
                "INVOKE_TASKY_PORT": str(PORT), **extra})
    return env


ENV = bench_env()


def run(cmd, cwd=ROOT, timeout=600, check=False, env=None):
    """Run cmd; return (wall seconds, CompletedProcess)."""
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env or ENV, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"timed out after {timeout}s: {' '.join(map(str, cmd))}") from exc
    seconds = time.perf_counter() - started
    if check and proc.returncode != 0:
        raise BenchError(f"exit {proc.returncode}: {' '.join(map(str, cmd))}\n"
                         + tail(proc, 1500))
    return seconds, proc


def docker(*args, **kw):
    return run([docker_bin(), *args], **kw)


def tail(proc, chars=500):
    """The end of what a failed command said (stderr, else stdout)."""
    return (proc.stderr or proc.stdout or "").strip()[-chars:]


def git(*args):
    proc = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    return proc.stdout.strip()


def median(values):
    return statistics.median(values) if values else None


def rounded(values, digits=3):
    return [round(x, digits) for x in values]


def r3(value):
    return None if value is None else round(value, 3)


def fmt(value, unit=""):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}{unit}" if value < 10 else f"{value:.1f}{unit}"
    return f"{value}{unit}"


def ratio_row(metric, ours, base, target):
    """A summary row whose target is ours / baseline <= target."""
    ratio = ours / base if ours is not None and base else None
    return {"metric": metric, "ours": r3(ours), "baseline": r3(base), "ratio": r3(ratio),
            "target": f"ratio <= {target:g}", "ok": None if ratio is None else ratio <= target}


def speedup_row(metric, ours, base, target):
    """A summary row whose target is baseline / ours >= target (ours is that much faster)."""
    speedup = base / ours if ours and base is not None else None
    return {"metric": metric, "ours": r3(ours), "baseline": r3(base), "ratio": r3(speedup),
            "target": f"base/ours >= {target:g}", "ok": None if speedup is None
            else speedup >= target}


def info_row(metric, ours, base=None):
    """A summary row shown for context, with no target."""
    ratio = ours / base if isinstance(ours, float) and isinstance(base, float) and base else None
    return {"metric": metric, "ours": r3(ours) if isinstance(ours, float) else ours,
            "baseline": r3(base) if isinstance(base, float) else base, "ratio": r3(ratio),
            "target": "-", "ok": None}


def image_labels(image):
    """The labels `inv build` puts on an image named `image` (ops/image/docker_build.py)."""
    return {**LABELS, "org.tasky-ops.image": image}


def buildkit_cli_cmd(dockerfile, context, args, labels, tag):
    """The raw BuildKit CLI build: `DOCKER_BUILDKIT=1 docker build --progress=plain ...`
    (run it with buildkit_env()); 20.10's CLI has BuildKit built in, 28.x's needs buildx."""
    cmd = [docker_bin(), "build", "--progress=plain", "-f", str(dockerfile)]
    cmd += [a for k, v in args.items() for a in ("--build-arg", f"{k}={v}")]
    cmd += [a for k, v in labels.items() for a in ("--label", f"{k}={v}")]
    return cmd + ["-t", tag, str(context)]


def buildkit_env(base=None):
    return {**(base or ENV), "DOCKER_BUILDKIT": "1"}


PLAIN_STEP = re.compile(r"^#(\d+) \[([^\]]+?) \d+/\d+\] (\S+)(.*)$", re.M)
PLAIN_IMAGE = re.compile(r"writing image sha256:([0-9a-f]{12})")


def plain_steps(output):
    """BuildKit's plain progress read back: each Dockerfile step (FROM aside, which BuildKit
    resolves rather than caches) cached or not, and the image id written."""
    steps = {}
    for match in PLAIN_STEP.finditer(output):
        number, stage, instruction, rest = match.groups()
        if instruction.upper() != "FROM":
            text = f"[{stage}] {instruction} {rest.strip()}"[:70]
            steps[number] = {"text": text, "cached": f"\n#{number} CACHED" in output}
    image = PLAIN_IMAGE.search(output)
    return {"total": len(steps), "cached": sum(s["cached"] for s in steps.values()),
            "not_cached": [s["text"] for s in steps.values() if not s["cached"]],
            "image_id": image.group(1) if image else None}


def interleaved(i, pair):
    """Alternate which side goes first, so a slow spell does not always hit the same one."""
    return pair if i % 2 == 0 else pair[::-1]


def preflight():
    """Fail clearly (exit 2) when there is no engine or no stand-in bases to build on."""
    if not docker_bin():
        raise Unmeasurable("no docker CLI on PATH. Fix: inv setup (installs docker.io)")
    try:
        _, proc = docker("version", "--format", "{{.Server.Version}}", timeout=20)
    except BenchError as exc:
        raise Unmeasurable(f"the Docker engine does not answer ({exc}). "
                           "Fix: inv setup, or start dockerd") from None
    if proc.returncode != 0 or not proc.stdout.strip():
        reason = (proc.stderr.strip().splitlines() or ["no answer"])[-1]
        raise Unmeasurable(f"no Docker engine: {reason.rstrip('.?')}. Fix: inv setup (installs "
                           "and starts it), or set DOCKER_HOST")
    missing = [ref for ref in (GO_IMAGE, RUNTIME_IMAGE)
               if docker("image", "inspect", ref, timeout=30)[1].returncode != 0]
    if missing:
        raise Unmeasurable(f"stand-in bases missing: {', '.join(missing)}. Fix: inv bases "
                           "(the benchmark does not time building them)")
    return proc.stdout.strip()


def container_image(name):
    _, proc = docker("container", "inspect", "--format", "{{.Config.Image}}", name, timeout=30)
    return proc.stdout.strip() if proc.returncode == 0 else None


def is_bench_image(ref):
    return bool(ref) and (ref == IMAGE or ref.startswith(IMAGE + ":"))


def cleanup(created_containers, refs, keep_images):
    """Remove the bench's containers and the image references (repo:tag) it created."""
    for name in sorted(created_containers):
        if is_bench_image(container_image(name)):
            docker("rm", "-f", name, timeout=60)
    if keep_images:
        return []
    removed = []
    for ref in sorted(refs):
        # --no-prune: untag (and drop the final image), keep its parents = the build cache
        _, proc = docker("rmi", "--no-prune", ref, timeout=120)
        if proc.returncode == 0:
            removed.append(ref)
    return removed


def remove_images(ids):
    """Remove images the bench made that no tag names any more (replaced by a later build,
    or a classic build's intermediate images), newest first so children go before parents.
    Never forced: an image someone tagged or runs meanwhile stays."""
    removed = []
    for image_id in reversed(list(dict.fromkeys(ids))):
        _, proc = docker("image", "inspect", "--format", "{{len .RepoTags}}", image_id,
                         timeout=30)
        if proc.returncode != 0 or proc.stdout.strip() != "0":
            continue
        if docker("rmi", "--no-prune", image_id, timeout=120)[1].returncode == 0:
            removed.append(image_id)
    return removed


def standalone(doc, measure, render, rows, repeat=3, arguments=()):
    """main() of a measurement run on its own: the engine pre-flight, a temp workdir, then
    the result as JSON (--json) or its section and its rows. measure(opts, workdir);
    arguments: (flags, options) pairs for argparse beside --repeat and --json."""
    import argparse
    import json
    import tempfile

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=repeat)
    parser.add_argument("--json", action="store_true")
    for flags, options in arguments:
        parser.add_argument(*flags, **options)
    opts = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tasky-bench-"))
    try:
        preflight()
        result = measure(opts, workdir)
    except (Unmeasurable, BenchError) as exc:
        sys.exit(f"error: {exc}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if opts.json:
        print(json.dumps(result, indent=2))
        return
    print("\n".join(render(result)))
    print(tabulate([[r["metric"], fmt(r["ours"]), fmt(r["baseline"]), fmt(r["ratio"]),
                     r["target"]] for r in rows(result)],
                   headers=["metric", "ours", "baseline", "ratio", "target"],
                   disable_numparse=True))


def printed(measure, render, as_json):
    """Run measure() and print its result (JSON, or render's lines); the exit code: 1 when
    it could not be measured, with the reason on stderr."""
    import json

    try:
        out = measure()
    except BenchError as exc:
        log(f"error: {exc}")
        return 1
    print(json.dumps(out, indent=2) if as_json else "\n".join(render(out)))
    return 0
