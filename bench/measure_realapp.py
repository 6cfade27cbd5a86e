#!/usr/bin/env python3
"""7. The upstream-like fixture app (tests/fixtures/thirdparty-app, six third-party modules)
built the way a user builds theirs: vendored through a file:// proxy made from Debian's Go
sources (tests/integration/goproxy.py), committed, then `inv build --offline`. Measures the
cold build (--no-cache), the no-change build against the raw BuildKit CLI (as row 2 does for
our app), and both apps' layers, all in this one run.

    python3 bench/measure_realapp.py [--repeat N] [--json]
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import measure_build
from common import (
    INV,
    ROOT,
    BenchError,
    Unmeasurable,
    bench_env,
    cleanup,
    fmt,
    info_row,
    log,
    preflight,
    r3,
    remove_images,
    run,
    tabulate,
)

sys.path.insert(0, str(ROOT))   # tests/ is not installed with ops; its proxy helper is
from tests.integration import goproxy  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "thirdparty-app"
REAL, OURS = "tasky-bench-realapp", "tasky-bench-ourapp"


def inv_json(args, env, what):
    seconds, proc = run(INV + args + ["--json"], env=env, timeout=900)
    if proc.returncode != 0:
        raise BenchError(f"{what} failed: {(proc.stderr or proc.stdout).strip()[-400:]}")
    return seconds, json.loads(proc.stdout)


def commit(repo, message):
    for args in (["add", "-A"], ["-c", "user.name=bench", "-c", "user.email=bench@localhost",
                                 "commit", "-q", "-m", message]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def new_repo(repo, message):
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    commit(repo, message)


def vendored_fixture(top, image):
    """A committed, vendored copy of the fixture at top/repo/app (the proxy beside it, out of
    the repo): returns (Target, `inv vendor --json` result, its seconds)."""
    missing = goproxy.missing_packages()
    if missing:
        raise BenchError("the fixture's module sources are not installed ("
                         + " ".join(missing) + "). Fix: python3 -m invoke setup --dev")
    repo = Path(top) / "repo"
    context = repo / "app"
    shutil.copytree(FIXTURE, context)
    new_repo(repo, "fixture")
    proxy = goproxy.build_proxy(Path(top) / "goproxy")
    target = measure_build.target_for("third-party fixture", image, context)
    seconds, vendored = inv_json(["vendor", "--goproxy", f"file://{proxy}"], target.env,
                                 "inv vendor")
    commit(repo, "vendor")   # as a user would: the build's VERSION is then not -dirty
    return target, vendored, seconds


def layers(env):
    _, result = inv_json(["layers"], env, "inv layers")
    return result


def measure(n, refs, ids, workdir):
    """Cold and no-change builds of the fixture, and both apps' layers."""
    top = Path(tempfile.mkdtemp(prefix="tasky-bench-realapp-", dir=workdir))
    try:
        target, vendored, vend_s = vendored_fixture(top, REAL)
        log(f"  vendored {vendored['modules']} modules in {vend_s:.2f} s; cold build ...")
        cold_s, cold = inv_json(["build", "--offline", "--no-cache", "--quiet"], target.env,
                                "cold inv build")
        ids.append(cold["id"])
        refs.update(f"{REAL}:{tag}" for tag in cold["tags"])
        nochange = measure_build.measure_build(n, refs, top / "empty", target)
        ours_env = bench_env(INVOKE_TASKY_IMAGE=OURS)
        _, ours = inv_json(["build", "--offline", "--quiet"], ours_env, "our app's build")
        refs.update(f"{OURS}:{tag}" for tag in ours["tags"])
        return {"builder": cold["builder"], "modules": vendored["modules"],
                "vendor_s": r3(vend_s), "cold_build_s": r3(cold_s),
                "cold_ran_steps": cold["ran_steps"], "cold_steps": cold["steps"],
                "no_change": nochange, "fixture": layers(target.env), "ours": layers(ours_env)}
    finally:
        shutil.rmtree(top, ignore_errors=True)


def rows(real):
    return [info_row("7. fixture: inv vendor (s, info)", real["vendor_s"]),
            info_row("· fixture: cold build, --no-cache (s, info)", real["cold_build_s"]),
            *measure_build.rows(real["no_change"], "· fixture: no-change build"),
            info_row("· fixture image / our image (MB, info)", real["fixture"]["size_mb"],
                     real["ours"]["size_mb"])]


def render(real):
    out = [f"\n== 7. third-party fixture app ({real['modules']} vendored modules), "
           f"{real['builder']}",
           f"inv vendor (file:// proxy from Debian's Go sources) {fmt(real['vendor_s'], ' s')}; "
           f"cold build (--no-cache: every step re-runs, {real['cold_ran_steps']} of "
           f"{real['cold_steps']}; BuildKit's Go cache mounts stay warm) "
           f"{fmt(real['cold_build_s'], ' s')}"]
    out += measure_build.render(real["no_change"], "7. no-change build")[1:]
    for name in ("fixture", "ours"):
        report = real[name]
        out.append(f"{name}: {report['image']} {report['size_mb']} MB")
        out.append(tabulate([[r["layer"], r["size_mb"], r["cumulative_mb"],
                              r["created_by"][:70]]
                             for r in report["layers"] if r["size_mb"] > 0],
                            headers=["#", "MB", "total MB", "created by"],
                            disable_numparse=True))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    refs, ids = set(), []
    workdir = Path(tempfile.mkdtemp(prefix="tasky-bench-"))
    try:
        preflight()
        result = measure(opts.repeat, refs, ids, workdir)
    except (Unmeasurable, BenchError) as exc:
        sys.exit(f"error: {exc}")
    finally:
        cleanup(set(), refs, keep_images=False)
        remove_images(ids)
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(result, indent=2) if opts.json else "\n".join(render(result)))


if __name__ == "__main__":
    main()
