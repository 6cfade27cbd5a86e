#!/usr/bin/env python3
"""tasky-ops benchmark: ratios against baselines measured in the same run.

    python3 bench/bench.py [--repeat N] [--json] [--only WHAT] [--profile | --no-profile]

Measures, each N times (median reported):
  1. `inv --list` against Invoke listing an empty tasks.py            target ratio <= 1.2
  2. a no-change `inv build --offline --quiet` (BuildKit) against      target ratio <= 1.3
     Invoke's empty start-up + the raw BuildKit CLI's fully cached build
     (`DOCKER_BUILDKIT=1 docker build --progress=plain -f Dockerfile ... app/`)
  3. `inv run` + `inv health --wait` until verified healthy, against    target < 2 s
     the document's procedure (docker run -d; sleep 10; docker inspect)
  4. `inv layers --json`: image size against a 10 MB budget             target <= 10 MB
  5. a no-change `inv push --registry local` against `docker push` of   target ratio <= 1.1
     the same tag to the same local registry (both upload no layer)
  6. one Go file changed, our app and the third-party fixture: `inv    target ratio <= 1.3,
     build` against the BuildKit CLI and the classic builder           classic >= 10x ours
  7. the third-party fixture: inv vendor, a cold build, the no-change   target ratio <= 1.3
     build as in 2, both apps' layers
  8. promote against docker pull + tag + push (info)
  9. a release's ECR calls in one process (moto's server): one cached  target ratio <= 0.5
     boto3 session against a new session per call, the old behaviour
 10. two platforms (linux/amd64 + linux/arm64), one Go file changed:  target ratio <= 1.3
     `inv build --platform` against the BuildKit CLI, one build per
     platform; --no-cache for both (info). Needs arm64 emulation and stand-in
     (`inv setup --platform linux/arm64`, `inv bases --platform linux/arm64`)

Performance is never asserted: a missed target prints MISSED and the exit code stays 0.
Exit 2 only when nothing can be measured (no engine, no stand-in bases).

Isolation: images tasky-bench, tasky-bench-change-{ours,fixture}, tasky-bench-realapp,
tasky-bench-ourapp; containers tasky-bench (port 18080) and tasky-bench-doc (port 18081);
docker-registries on free 127.0.0.1 ports; temp copies of the contexts under one temp dir.
At the end the script stops the registries, removes exactly those containers, the image tags
it created and the untagged images its builds left (`docker rmi --no-prune`, never forced:
BuildKit's cache and other images stay), and the temp dir. See bench/README.md.
"""
import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import measure_build
import measure_buildkit
import measure_ecr
import measure_multiarch
import measure_profile
import measure_promote
import measure_push
import measure_realapp
import measure_runtime as runtime
from common import (
    CONTAINER,
    DOC_CONTAINER,
    DOC_PORT,
    IMAGE,
    PORT,
    TARGETS,
    BenchError,
    Unmeasurable,
    cleanup,
    fmt,
    log,
    median,
    preflight,
    remove_images,
    tabulate,
)

MEASUREMENTS = ["list", "build", "health", "size", "push", "change", "realapp", "promote",
                "ecr", "multiarch"]
TITLES = {"list": "1. inv --list", "build": "2. no-change build",
          "health": "3. time to verified healthy", "size": "4. image size",
          "push": "5. no-change push", "change": "6. one Go file changed",
          "realapp": "7. third-party fixture", "promote": "8. promote",
          "ecr": "9. a release's ECR calls", "multiarch": "10. two platforms"}
# Each measurement: (its summary rows, its section), in the order they are printed.
REPORTS = {"list": (runtime.list_rows, runtime.list_render),
           "build": (measure_build.rows, measure_build.render),
           "build_profile": (None, measure_profile.render),
           "health": (runtime.health_rows, runtime.health_render),
           "size": (runtime.size_rows, runtime.size_render),
           "push": (None, measure_push.render),
           "change": (measure_buildkit.rows, measure_buildkit.render),
           "realapp": (measure_realapp.rows, measure_realapp.render),
           "promote": (measure_promote.rows, measure_promote.render),
           "ecr": (measure_ecr.rows, measure_ecr.render),
           "multiarch": (measure_multiarch.rows, measure_multiarch.render)}
# What needs tasky-bench:latest built first when row 2 does not run.
NEEDS_IMAGE = {"health", "size", "push", "promote"}
NEEDS_NO_ENGINE = {"ecr"}   # moto's server only: measurable without an engine or the bases


def attempt(results, key, measure):
    log(f"measuring {key} ...")
    try:
        results[key] = measure()
    except BenchError as exc:
        results[key] = str(exc)


def summary_rows(results):
    got = {k: v for k, v in results.items() if isinstance(v, dict)}
    # Invoke's own floor: starting Python + Invoke + loading an empty tasks.py.
    startup = median(got["list"]["baseline_s"]) if "list" in got else \
        median(got["build"]["startup_s"]) if "build" in got else None
    rows = []
    for key, (make_rows, _) in REPORTS.items():
        if key == "push" and key in got:
            rows += measure_push.rows(got["push"], startup)
        elif make_rows and key in got:
            rows += make_rows(got[key])
    for key in MEASUREMENTS:
        if isinstance(results.get(key), str):
            rows.append({"metric": TITLES[key], "ours": "ERROR", "baseline": None,
                         "ratio": None, "target": "-", "ok": False, "error": results[key]})
    return rows


def render(results, rows):
    out = []
    for key, (_, section) in REPORTS.items():
        if isinstance(results.get(key), dict) or (key == "build_profile" and key in results):
            out += section(results[key])
    out.append("\n== summary (ratio = ours / baseline, both measured in this run)")
    body = [[r["metric"], fmt(r["ours"]), fmt(r["baseline"]), fmt(r["ratio"]), r["target"],
             "-" if r["ok"] is None else ("ok" if r["ok"] else "MISSED")] for r in rows]
    out.append(tabulate(body, headers=["metric", "ours", "baseline", "ratio", "target", "ok"],
                        disable_numparse=True))
    missed = [r["metric"].strip() for r in rows if r["ok"] is False]
    out.append("MISSED: " + "; ".join(missed) if missed else "all targets met")
    out += [f"error in {r['metric']}: {r['error']}" for r in rows if r.get("error")]
    return "\n".join(out)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="repeats per measurement (5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--only", action="append", choices=MEASUREMENTS,
                        help="run only these measurements (repeatable)")
    parser.add_argument("--list-repeat", type=int, default=None,
                        help="repeats for inv --list only (default: --repeat, at least 9; it "
                             "is cheap and the noisiest under load, so more helps)")
    parser.add_argument("--doc-poll", type=float, default=45,
                        help="after the doc's sleep 10, poll until Docker says healthy, up to "
                             "this many seconds from docker run (0: do not poll)")
    parser.add_argument("--size-budget", type=float, default=TARGETS["size_mb"])
    prof = parser.add_mutually_exclusive_group()
    prof.add_argument("--profile", action="store_true",
                      help="profile the no-change inv build and inv push even when they meet "
                           "their targets")
    prof.add_argument("--no-profile", action="store_true",
                      help="never profile (default: profile the ones that miss their target)")
    parser.add_argument("--keep-images", action="store_true",
                        help="keep the image tags this run created")
    opts = parser.parse_args(argv)
    if opts.repeat < 1:
        parser.error("--repeat must be at least 1")
    opts.only = set(opts.only or MEASUREMENTS)
    opts.profile_mode = "always" if opts.profile else "never" if opts.no_profile else "auto"
    return opts


def measure_all(opts, results, refs, ids, created, workdir):
    n, only = opts.repeat, opts.only
    if "list" in only:
        attempt(results, "list", lambda: runtime.measure_list(opts.list_repeat or max(n, 9),
                                                                 workdir))
    if "build" in only:
        attempt(results, "build", lambda: measure_build.measure_build(n, refs, workdir))
        bld = results["build"]
        if opts.profile_mode == "always" or (opts.profile_mode == "auto" and
                                             isinstance(bld, dict) and measure_build.missed(bld)):
            attempt(results, "build_profile", lambda: measure_profile.profile(
                "build", ["build", "--offline", "--quiet"], measure_profile.BUILD_PHASES, n,
                workdir))
    elif only & NEEDS_IMAGE:
        log(f"building {IMAGE}:latest (inv build --offline) for the remaining steps ...")
        measure_build.Builder(refs).inv_build()
    if "push" in only:
        attempt(results, "push", lambda: measure_push.measure_push(n, refs, workdir,
                                                                   opts.profile_mode))
    if "size" in only:
        attempt(results, "size", lambda: runtime.measure_size(opts.size_budget))
    if "health" in only:
        attempt(results, "health", lambda: runtime.measure_health(n, opts.doc_poll, created))
    if "promote" in only:
        attempt(results, "promote", lambda: measure_promote.measure(n, f"{IMAGE}:latest"))
    if "change" in only:
        attempt(results, "change", lambda: measure_buildkit.measure(n, workdir))
    if "realapp" in only:
        attempt(results, "realapp", lambda: measure_realapp.measure(n, refs, ids, workdir))
    if "ecr" in only:
        attempt(results, "ecr", lambda: measure_ecr.measure(n))
    if "multiarch" in only:
        attempt(results, "multiarch", lambda: measure_multiarch.measure(min(n, 3), workdir))


def main(argv=None):
    opts = parse_args(argv)
    try:
        server = preflight() if opts.only - NEEDS_NO_ENGINE else "not needed"
    except Unmeasurable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log(f"docker engine {server}; image {IMAGE}, containers {CONTAINER}:{PORT} and "
        f"{DOC_CONTAINER}:{DOC_PORT}; repeat {opts.repeat}")
    results, refs, ids, created = {}, set(), [], set()
    workdir = Path(tempfile.mkdtemp(prefix="tasky-bench-"))
    started = time.perf_counter()
    try:
        measure_all(opts, results, refs, ids, created, workdir)
    except BenchError as exc:  # the image the later steps need could not be built
        results["setup"] = str(exc)
        log(f"error: {exc}")
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        raise
    finally:
        removed = cleanup(created, refs, opts.keep_images)
        removed += [] if opts.keep_images else remove_images(ids)
        shutil.rmtree(workdir, ignore_errors=True)
        log("removed: " + (", ".join(removed) or "nothing")
            + (f"; containers {', '.join(sorted(created))}" if created else ""))
    rows = summary_rows(results)
    if opts.json:
        print(json.dumps({"repeat": opts.repeat, "engine": server, "results": results,
                          "summary": rows, "seconds": round(time.perf_counter() - started, 1),
                          "removed": removed}, indent=2, default=str))
    else:
        print(render(results, rows))
        if "setup" in results:
            print(f"error: {results['setup']}")
        print(f"(bench took {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
