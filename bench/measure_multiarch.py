#!/usr/bin/env python3
"""10. Two platforms (linux/amd64 + linux/arm64), our app on a temp copy, timed in one run:

  inv  `inv build --offline --json --platform linux/amd64,linux/arm64` (BuildKit through the
       Engine API: one build per platform, the build stage cross-compiling natively)
  cli  the BuildKit CLI building the same two platforms, one per platform:
       `DOCKER_BUILDKIT=1 /usr/bin/docker build --progress=plain --platform P ...`, same
       Dockerfile, context, build args (the arm64 runtime stand-in for arm64) and labels

    python3 bench/measure_multiarch.py [--repeat N] [--json]

Cold: each builder once with --no-cache (the Go caches in cache mounts stay warm, as they
do for a user: --no-cache re-runs every step, emulated ones included). Change: a unique
comment appended to store.go before each build (interleaved, median of N), so each build
really re-runs go build for both platforms. Target: change ratio <= 1.3. Performance is
never asserted. The temp copy is deleted; the tags and images the builds made are removed
(never forced); BuildKit's cache stays.
"""
import json

import measure_build
import measure_buildkit
from common import (
    INV,
    BenchError,
    buildkit_env,
    cleanup,
    fmt,
    info_row,
    log,
    median,
    r3,
    ratio_row,
    remove_images,
    rounded,
    standalone,
    run,
    tabulate,
    tail,
)

PLATFORMS = ("linux/amd64", "linux/arm64")
TARGET = 1.3


def runtime_for(platform, native_runtime):
    from ops.core import platforms

    checked = platforms.platform(platform, "bench")
    return native_runtime if checked.arch == "amd64" else native_runtime + checked.suffix


def inv_build(ctx, no_cache=False):
    cmd = INV + ["build", "--offline", "--json", "--platform", ",".join(PLATFORMS)]
    seconds, proc = run(cmd + (["--no-cache"] if no_cache else []), env=ctx.target.env,
                        timeout=3600)
    if proc.returncode != 0:
        raise BenchError("inv build --platform failed: " + tail(proc, 800))
    result = json.loads(proc.stdout)
    for image in result["images"]:
        ctx.ids.append(image["id"])
        ctx.tags.update(f"{ctx.image}:{tag}" for tag in image["tags"])
        if image["ran_steps"] < 2 and not no_cache:
            raise BenchError(f"inv build re-ran {image['ran_steps']} steps for "
                             f"{image['platform']}: the edit was not seen")
    return seconds


def cli_build(ctx, no_cache=False):
    seconds = 0.0
    for platform in PLATFORMS:
        args = dict(ctx.args, RUNTIME_IMAGE=runtime_for(platform, ctx.args["RUNTIME_IMAGE"]))
        tag = f"{ctx.image}:cli{platform.replace('/', '-')}"
        ctx.tags.add(tag)
        cmd = measure_build.cli_build_cmd(ctx.target, args)
        cmd[cmd.index("-t") + 1] = tag
        cmd[2:2] = ["--platform", platform] + (["--no-cache"] if no_cache else [])
        took, proc = run(cmd, env=buildkit_env(ctx.target.env), timeout=3600)
        output = proc.stdout + proc.stderr
        ctx.ids += measure_buildkit.made_images(output, "cli")
        if proc.returncode != 0:
            raise BenchError(f"cli build for {platform} failed: {tail(proc, 800)}")
        if not measure_buildkit.reran_go_build(output, "cli"):
            raise BenchError(f"cli build for {platform} did not re-run go build")
        seconds += took
    return seconds


BUILDS = {"inv": inv_build, "cli": cli_build}


def measure(repeat, workdir):
    ctx = measure_buildkit.Context("ours", workdir)
    samples, cold = {kind: [] for kind in BUILDS}, {}
    try:
        for kind, build in BUILDS.items():   # also warms each builder's own Go cache
            ctx.edit()
            cold[kind] = build(ctx, no_cache=True)
            log(f"  two platforms, --no-cache: {kind} {cold[kind]:.2f} s")
        for i in range(repeat):
            for kind in (list(BUILDS) if i % 2 == 0 else list(BUILDS)[::-1]):
                ctx.edit()
                samples[kind].append(BUILDS[kind](ctx))
                log(f"  two platforms, round {i + 1}: {kind} {samples[kind][-1]:.2f} s")
    finally:
        ctx.remove()
        cleanup(set(), ctx.tags, keep_images=False)
        remove_images(ctx.ids)
    return {"platforms": list(PLATFORMS), "cold_s": {k: r3(v) for k, v in cold.items()},
            "samples_s": {k: rounded(v) for k, v in samples.items()},
            "medians_s": {k: r3(median(v)) for k, v in samples.items()}}


def rows(result):
    meds, cold = result["medians_s"], result["cold_s"]
    return [ratio_row("10. two platforms, one Go file changed: vs BuildKit CLI (s)",
                      meds["inv"], meds["cli"], TARGET),
            info_row("· two platforms, --no-cache: vs BuildKit CLI (s, info)", cold["inv"],
                     cold["cli"])]


def render(result):
    return [f"\n== 10. two platforms ({', '.join(result['platforms'])}), our app  (median of "
            f"{len(result['samples_s']['inv'])}, interleaved)",
            tabulate([[kind, fmt(result["cold_s"][kind]), fmt(result["medians_s"][kind]),
                       ", ".join(map(str, result["samples_s"][kind]))] for kind in BUILDS],
                     headers=["builder", "--no-cache s", "change median s", "samples s"],
                     disable_numparse=True)]


def main():
    standalone(__doc__, lambda opts, workdir: measure(opts.repeat, workdir), render, rows)


if __name__ == "__main__":
    main()
