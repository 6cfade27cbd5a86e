#!/usr/bin/env python3
"""The `inv dev` cycle: a Go file saved -> the new build verified healthy (target < 3 s).

    python3 bench/measure_dev.py [--repeat N] [--json]

Runs a real `inv dev --offline --json` on a temp copy of app/ (its own image name, container
and a free port), waits for it to serve, then N times appends a unique comment to store.go
and times, from the moment the write returned:
  healthy   until inv dev prints the cycle's record (it prints it once the new container's
            HEALTHCHECK passed and the app answered from the host)
  served    until GET /healthz from the host first reports the cycle's version
with inv dev's own split (build seconds, start-to-healthy seconds) beside them. Each edit
changes the baked-in version, so every cycle really rebuilds and replaces. Ctrl-C (SIGINT)
ends the loop; the kept image tasky-bench:dev is removed with --no-prune (caches stay).
"""
import argparse
import json
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from common import (
    INV,
    ROOT,
    BenchError,
    Unmeasurable,
    bench_env,
    docker,
    log,
    median,
    preflight,
    r3,
    rounded,
    tabulate,
)

IMAGE = CONTAINER = "tasky-bench-dev"   # apart from the other measurements' tasky-bench
TARGET_S = 3.0


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DevLoop:
    """`inv dev --json` running on a temp copy of the context."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="tasky-bench-dev-"))
        shutil.copytree(ROOT / "app", self.dir / "app", ignore=shutil.ignore_patterns("vendor"))
        self.port = free_port()
        env = bench_env(INVOKE_TASKY_CONTEXT=str(self.dir / "app"))
        env.update(INVOKE_TASKY_IMAGE=IMAGE, INVOKE_TASKY_CONTAINER=CONTAINER,
                   INVOKE_TASKY_PORT=str(self.port))
        self.proc = subprocess.Popen(INV + ["dev", "--offline", "--json"], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.records, self.stderr = queue.Queue(), []
        for stream, put in ((self.proc.stdout, self.records.put),
                            (self.proc.stderr, self.stderr.append)):
            threading.Thread(target=lambda s=stream, p=put: [p(line) for line in s],
                             daemon=True).start()

    def record(self, timeout):
        try:
            return json.loads(self.records.get(timeout=timeout))
        except queue.Empty:
            raise BenchError(f"no cycle record within {timeout}s (exit {self.proc.poll()}): "
                             + "".join(self.stderr[-10:])) from None

    def version(self):
        url = f"http://127.0.0.1:{self.port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=0.25) as response:
                return json.load(response).get("version")
        except (OSError, ValueError):
            return None

    def cycle(self):
        """One timed edit: (seconds to the record, seconds to the new version served, record)."""
        target = self.dir / "app" / "store.go"
        text = target.read_text() + f"\n// bench {uuid.uuid4().hex}\n"
        served = {}
        target.write_text(text)
        saved = time.perf_counter()

        def poll():   # the host's view, concurrently with inv dev's own verification
            while "at" not in served and time.perf_counter() - saved < 60:
                version = self.version()
                if version and version.endswith(f"+dev.{expected}"):
                    served["at"] = time.perf_counter()
                time.sleep(0.01)

        expected = self.cycles + 1
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        rec = self.record(timeout=120)
        healthy = time.perf_counter() - saved
        poller.join(timeout=60)
        if rec.get("action") != "rebuilt" or not rec["version"].endswith(f"+dev.{expected}"):
            raise BenchError(f"the edit did not give a rebuilt cycle {expected}: {rec}")
        if "at" not in served:
            raise BenchError(f"/healthz never reported {rec['version']}")
        self.cycles = expected
        return healthy, served["at"] - saved, rec

    def stop(self):
        exit_code = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                exit_code = self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
        return exit_code


def remove_leftovers():
    """inv dev removed its container on Ctrl-C and kept IMAGE:dev; a killed one may not
    have. Only this benchmark's names; --no-prune keeps the build cache."""
    _, proc = docker("container", "inspect", "--format", "{{.Config.Image}}", CONTAINER,
                     timeout=30)
    if proc.returncode == 0 and proc.stdout.strip().startswith(IMAGE + ":"):
        docker("rm", "-f", CONTAINER, timeout=60)
    docker("rmi", "--no-prune", f"{IMAGE}:dev", timeout=120)


def measure(repeat):
    loop = DevLoop()
    samples = {"healthy_s": [], "served_s": [], "build_s": [], "start_to_healthy_s": []}
    try:
        log("starting inv dev (first build not timed)")
        first = loop.record(timeout=600)
        if first.get("action") != "started":
            raise BenchError(f"inv dev did not start: {first}")
        loop.cycles, builder = 1, first["builder"]
        loop.cycle()   # the first edit warms the Go build cache for this context
        for i in range(repeat):
            time.sleep(0.5)   # the previous container settles; saves never overlap
            healthy, served, rec = loop.cycle()
            for key, value in (("healthy_s", healthy), ("served_s", served),
                               ("build_s", rec["build_s"]),
                               ("start_to_healthy_s", rec["healthy_s"])):
                samples[key].append(value)
            log(f"edit {i + 1}: healthy after {healthy:.2f} s (build {rec['build_s']:.2f} s)")
    finally:
        exit_code = loop.stop()
        remove_leftovers()
    return {"medians_s": {k: r3(median(v)) for k, v in samples.items()},
            "max_s": {k: r3(max(v)) for k, v in samples.items() if v},
            "samples_s": {k: rounded(v) for k, v in samples.items()},
            "builder": builder, "exit_code_on_ctrl_c": exit_code, "target_s": TARGET_S,
            "met": median(samples["healthy_s"]) < TARGET_S}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    try:
        preflight()
        result = measure(opts.repeat)
    except Unmeasurable as exc:
        sys.exit(f"error: {exc}")
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if opts.json:
        print(json.dumps(result, indent=2))
        return 0
    labels = {"healthy_s": "edit saved -> verified healthy (inv dev's line)",
              "served_s": "edit saved -> new version at /healthz (host)",
              "build_s": "  of which: build (inv dev's figure)",
              "start_to_healthy_s": "  of which: container start -> healthy"}
    rows = [[label, result["medians_s"][key], result["max_s"][key],
             ", ".join(map(str, result["samples_s"][key]))] for key, label in labels.items()]
    print(tabulate(rows, headers=["one Go file saved", "median s", "max s", "samples s"]))
    print(f"builder: {result['builder']}; target: median < {TARGET_S:g} s: "
          + ("met" if result["met"] else "MISSED")
          + f"; Ctrl-C exit code {result['exit_code_on_ctrl_c']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
