#!/usr/bin/env python3
"""A one-Go-file change, rebuilt three ways, timed in one run (median of N, interleaved):

  ours     ops.buildkit.build(): POST /build?version=2 with the Dockerfile's cache mounts
  cli      DOCKER_BUILDKIT=1 /usr/bin/docker build of the same Dockerfile (BuildKit, session)
  classic  /usr/bin/docker build with DOCKER_BUILDKIT=0 of classic_dockerfile(Dockerfile)

    python3 bench/measure_buildkit.py [--repeat N] [--json]

Every timed build sees a Go file it has not built before: a unique comment is appended to
app/store.go (in a temp copy of the context) right before it, so no builder gets a cache
hit another one prepared. Each build is checked to have re-run `go build` and not more
(ours: from its own step counts; the CLIs: from their step output). Performance is never
asserted. Isolation: images tasky-bench:bk-{ours,cli,classic}, removed at the end with
`docker rmi --no-prune` (caches stay); the temp copy is deleted.
"""
import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common import (GO_IMAGE, IMAGE, LABELS, ROOT, RUNTIME_IMAGE, BenchError, Unmeasurable,
                    cleanup, docker_bin, log, median, preflight, r3, rounded,
                    run, tabulate, tail)

sys.path.insert(0, str(ROOT))
BUILD_ARGS = {"GO_IMAGE": GO_IMAGE, "RUNTIME_IMAGE": RUNTIME_IMAGE, "VERSION": "bench"}
KINDS = ["ours", "cli", "classic"]


class Context:
    """A temp copy of Dockerfile + app/ (and a classic Dockerfile beside it)."""

    def __init__(self):
        from ops import buildkit
        from ops.config import Settings

        self.dir = Path(tempfile.mkdtemp(prefix="tasky-bench-bk-"))
        shutil.copytree(ROOT / "app", self.dir / "app")
        text = (ROOT / "Dockerfile").read_text()
        (self.dir / "Dockerfile").write_text(text)
        (self.dir / "Dockerfile.classic").write_text(buildkit.classic_dockerfile(text))
        self.settings = Settings(root=self.dir)

    def edit(self):
        target = self.dir / "app" / "store.go"
        target.write_text(target.read_text() + f"\n// bench {uuid.uuid4().hex}\n")

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def ours(engine, ctx):
    from ops import buildkit, images

    started = time.perf_counter()
    result = buildkit.build(engine, images.context_tar(ctx.settings),
                            tags=[f"{IMAGE}:bk-ours"], buildargs=BUILD_ARGS, labels=LABELS,
                            verbose=False, progress=lambda line: None)
    seconds = time.perf_counter() - started
    # The edit must reach COPY . . and go build and the release COPYs; nothing else.
    if result["ran"] < 2:
        raise BenchError(f"ours re-ran only {result['ran']} steps: the edit was not seen")
    return seconds, result


def cli(ctx, kind):
    args = [a for k, v in BUILD_ARGS.items() for a in ("--build-arg", f"{k}={v}")]
    args += [a for k, v in LABELS.items() for a in ("--label", f"{k}={v}")]
    dockerfile = "Dockerfile" if kind == "cli" else "Dockerfile.classic"
    env = {"DOCKER_BUILDKIT": "1" if kind == "cli" else "0"}
    if kind == "cli":
        args += ["--progress", "plain"]
    cmd = [docker_bin(), "build", "-f", str(ctx.dir / dockerfile), *args,
           "-t", f"{IMAGE}:bk-{kind}", str(ctx.dir / "app")]
    seconds, proc = run(cmd, cwd=ctx.dir, env={**os.environ, **env})
    if proc.returncode != 0:
        raise BenchError(f"{kind} build failed: {tail(proc, 800)}")
    output = proc.stdout + proc.stderr
    if not reran_go_build(output, kind):
        raise BenchError(f"{kind} build did not re-run go build:\n{output[-1500:]}")
    return seconds, output


def reran_go_build(output, kind):
    """Whether the go build step ran (not cached), read from the CLI's own output."""
    if kind == "classic":
        found = re.search(r"^Step \d+/\d+ : RUN [^\n]*go build.*?(?=^Step |\Z)", output,
                          re.M | re.S)
        return bool(found) and "Using cache" not in found.group(0)
    found = re.search(r"^(#\d+) \[build \d+/\d+\] RUN [^\n]*go build", output, re.M)
    return bool(found) and f"{found.group(1)} CACHED" not in output


def measure(repeat):
    from ops.engine import client

    engine = client()
    ctx = Context()
    samples = {kind: [] for kind in KINDS}
    try:
        log("warming each builder's cache once (not timed)")
        ctx.edit()
        ours(engine, ctx)
        for kind in ("cli", "classic"):
            cli(ctx, kind)
        for i in range(repeat):
            for kind in KINDS[i % 3:] + KINDS[:i % 3]:   # each goes first in turn
                ctx.edit()
                seconds = ours(engine, ctx)[0] if kind == "ours" else cli(ctx, kind)[0]
                samples[kind].append(seconds)
                log(f"round {i + 1}: {kind} {seconds:.2f} s")
    finally:
        ctx.remove()
        cleanup(set(), {f"{IMAGE}:bk-{kind}" for kind in KINDS}, keep_images=False)
    return samples


def report(samples):
    meds = {kind: median(values) for kind, values in samples.items()}
    return {"medians_s": {k: r3(v) for k, v in meds.items()},
            "samples_s": {k: rounded(v) for k, v in samples.items()},
            "ours_vs_cli": r3(meds["ours"] / meds["cli"]),
            "ours_vs_classic": r3(meds["ours"] / meds["classic"]),
            "classic_vs_ours_speedup": r3(meds["classic"] / meds["ours"])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    try:
        preflight()
        result = report(measure(opts.repeat))
    except Unmeasurable as exc:
        sys.exit(f"error: {exc}")
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if opts.json:
        print(json.dumps(result, indent=2))
        return 0
    rows = [[kind, result["medians_s"][kind], ", ".join(map(str, result["samples_s"][kind]))]
            for kind in KINDS]
    print(tabulate(rows, headers=["one Go file edited", "median s", "samples s"]))
    print(f"ours / DOCKER_BUILDKIT=1 CLI: {result['ours_vs_cli']}   "
          f"ours / classic: {result['ours_vs_classic']}   "
          f"(classic takes {result['classic_vs_ours_speedup']}x as long as ours)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
