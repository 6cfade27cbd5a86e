"""The upstream-like fixture app (tests/fixtures/thirdparty-app, six third-party modules) built
the way a user builds theirs: vendored through a file:// proxy made from Debian's Go sources,
then `inv build --offline`. Prints the cold build (--no-cache), the no-change build (median of
N), and the image's layers beside our own app's, all measured in this one run.

    python3 bench/measure_realapp.py [--repeat N] [--json]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import INV, ROOT, BenchError, log, median, r3, run, tabulate

sys.path.insert(0, str(ROOT))
from tests.integration import goproxy  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "thirdparty-app"
REAL, OURS = "tasky-bench-realapp", "tasky-bench-ourapp"


def inv_json(args, env, what):
    seconds, proc = run(INV + args + ["--json"], env=env, timeout=900)
    if proc.returncode != 0:
        raise BenchError(f"{what} failed: {(proc.stderr or proc.stdout).strip()[-400:]}")
    return seconds, json.loads(proc.stdout)


def layers(env):
    _, result = inv_json(["layers"], env, "inv layers")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    missing = goproxy.missing_packages()
    if missing:
        sys.exit("error: apt-get install -y " + " ".join(missing))
    top = Path(tempfile.mkdtemp(prefix="tasky-bench-realapp-"))
    try:
        repo = top / "app"
        shutil.copytree(FIXTURE, repo)
        for args in (["init", "-q"], ["add", "-A"],
                     ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "x"]):
            subprocess.run(["git", "-C", str(repo), *args], check=True)
        proxy = goproxy.build_proxy(top / "goproxy")
        env = {**os.environ, "INVOKE_TASKY_CONTEXT": str(repo),
               "INVOKE_TASKY_IMAGE": REAL}
        env.pop("CI", None)
        vend_s, vendored = inv_json(["vendor", "--goproxy", f"file://{proxy}"], env, "inv vendor")
        log(f"vendored {vendored['modules']} modules in {vend_s:.2f} s")
        cold_s, cold = inv_json(["build", "--offline", "--no-cache", "--quiet"], env,
                                "cold inv build")
        warm = []
        for _ in range(opts.repeat):
            seconds, again = inv_json(["build", "--offline", "--quiet"], env, "inv build")
            if again["ran_steps"]:
                raise BenchError(f"a no-change build ran {again['ran_steps']} steps")
            warm.append(seconds)
        ours_env = {**env, "INVOKE_TASKY_CONTEXT": "app", "INVOKE_TASKY_IMAGE": OURS}
        inv_json(["build", "--offline", "--quiet"], ours_env, "our app's build")
        result = {"builder": cold["builder"], "cold_build_s": r3(cold_s),
                  "no_change_build_s": r3(median(warm)), "vendor_s": r3(vend_s),
                  "fixture": layers(env), "ours": layers(ours_env)}
    finally:
        for image in (REAL, OURS):
            tags = subprocess.run(["/usr/bin/docker", "image", "ls", "--format",
                                   "{{.Repository}}:{{.Tag}}", image], capture_output=True,
                                  text=True).stdout.split()
            if tags:
                subprocess.run(["/usr/bin/docker", "rmi", "--no-prune", *tags],
                               capture_output=True)
        shutil.rmtree(top, ignore_errors=True)
    if opts.json:
        print(json.dumps(result, indent=2))
        return
    print(f"builder: {result['builder']}; inv vendor {result['vendor_s']} s; cold build "
          f"(--no-cache) {result['cold_build_s']} s; no-change build "
          f"{result['no_change_build_s']} s (median of {opts.repeat})")
    for name in ("fixture", "ours"):
        report = result[name]
        print(f"\n{name}: {report['image']} {report['size_mb']} MB")
        print(tabulate([[r["layer"], r["size_mb"], r["cumulative_mb"], r["created_by"][:70]]
                        for r in report["layers"] if r["size_mb"] > 0],
                       headers=["#", "MB", "total MB", "created by"]))


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        sys.exit(f"error: {error}")
