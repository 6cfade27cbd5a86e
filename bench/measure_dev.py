#!/usr/bin/env python3
"""The `inv dev` cycle: a Go file saved -> the new build verified healthy, for our app and for
the upstream-shaped fixture (tests/fixtures/thirdparty-app, vendored), against a baseline
timed in the same run.

    python3 bench/measure_dev.py [--app ours|fixture] [--repeat N] [--json]

For each app it runs a real `inv dev --offline --json` on a temp copy (its own image name,
container and a free port; the fixture vendored and committed as a user would, and given
MONGODB_URI, which it needs to start), waits for it to serve, then N times appends a unique
comment to the app's Go file and times, from the moment the write returned:
  healthy   until inv dev prints the cycle's record (it prints it once what serves the new
            build, a restarted process on the fast path or a new container after an image
            build, answered from the host and passed the image's HEALTHCHECK)
  served    until GET /healthz from the host first reports the cycle's version (our app
            only: the fixture has no /healthz)
with inv dev's own split (build seconds, start-to-healthy seconds) and its path (go build:
the fast path; image) beside them. Each edit changes the baked-in version, so every cycle
really builds and restarts.

Baseline, timed in the same round right after each cycle, on the same edited source: the
least any such loop must do.
  go build  the incremental build alone: `docker exec` of the Dockerfile's `go build` line
            (same flags, a new -X version each round) in a long-running builder container
            (the Go stand-in base, the copy mounted read-only, its Go cache warm)
  start     `docker run -d -p 127.0.0.1:PORT:8080` of the image inv dev just built, until
            the app first answers GET / from the host (polled every 10 ms)
The target is inv dev's healthy <= 1.3 x (go build + start). Ctrl-C (SIGINT) ends each loop;
the kept image IMAGE:dev is removed with --no-prune (caches stay).
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
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from common import (
    GO_IMAGE,
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
BUILDER = "tasky-bench-dev-go"          # the baseline's builder container
STARTED = "tasky-bench-dev-start"       # the baseline's app container
TARGET_S = 3.0                          # issue 10's absolute target (our app)
TARGET_RATIO = 1.3                      # issue 18: healthy <= 1.3 x (go build + start)
FIXTURE_ENV = {"MONGODB_URI": "mongodb://bench@mongo.invalid:27017/tasky"}


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class App:
    """One app to measure: its context in a temp dir, the Go file edited, its variables."""

    def __init__(self, name):
        self.name, self.dir = name, Path(tempfile.mkdtemp(prefix=f"tasky-bench-dev-{name}-"))
        if name == "ours":
            self.context = self.dir / "app"
            shutil.copytree(ROOT / "app", self.context, ignore=shutil.ignore_patterns("vendor"))
            self.edited, self.env, self.vendored, self.has_healthz = "store.go", {}, False, True
        else:
            import measure_realapp

            target, _, _ = measure_realapp.vendored_fixture(self.dir, IMAGE)
            self.context = target.context
            self.edited, self.env, self.vendored = "main.go", dict(FIXTURE_ENV), True
            self.has_healthz = False

    def edit(self):
        path = self.context / self.edited
        path.write_text(path.read_text() + f"\n// bench {uuid.uuid4().hex}\n")

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class DevLoop:
    """`inv dev --json` running on an App's context."""

    def __init__(self, app):
        self.app = app
        self.port = free_port()
        env = bench_env(INVOKE_TASKY_CONTEXT=str(app.context))
        env.update(INVOKE_TASKY_IMAGE=IMAGE, INVOKE_TASKY_CONTAINER=CONTAINER,
                   INVOKE_TASKY_PORT=str(self.port))
        flags = [arg for key, value in app.env.items() for arg in ("-e", f"{key}={value}")]
        self.proc = subprocess.Popen(INV + ["dev", "--offline", "--json", *flags], cwd=ROOT,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.records, self.stderr = queue.Queue(), []
        for stream, put in ((self.proc.stdout, self.records.put),
                            (self.proc.stderr, self.stderr.append)):
            threading.Thread(target=lambda s=stream, p=put: [p(line) for line in s],
                             daemon=True).start()

    def record(self, timeout):
        try:
            line = self.records.get(timeout=timeout)
            return json.loads(line)
        except queue.Empty:
            raise BenchError(f"no cycle record within {timeout}s (exit {self.proc.poll()}): "
                             + "".join(self.stderr[-10:])) from None
        except ValueError:   # not a record: inv dev failed and printed its error object
            time.sleep(0.5)
            raise BenchError(f"inv dev printed {line.strip()!r}, not a record: "
                             + "".join(self.stderr[-10:])) from None

    def version(self):
        url = f"http://127.0.0.1:{self.port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=0.25) as response:
                return json.load(response).get("version")
        except (OSError, ValueError):
            return None

    def cycle(self):
        """One timed edit: (seconds to the record, seconds to the new version served or
        None, record)."""
        served = {}
        self.app.edit()
        saved = time.perf_counter()
        expected = self.cycles + 1

        def poll():   # the host's view, concurrently with inv dev's own verification
            while "at" not in served and time.perf_counter() - saved < 60:
                version = self.version()
                if version and version.endswith(f"+dev.{expected}"):
                    served["at"] = time.perf_counter()
                time.sleep(0.01)

        poller = threading.Thread(target=poll, daemon=True)
        if self.app.has_healthz:
            poller.start()
        rec = self.record(timeout=120)
        healthy = time.perf_counter() - saved
        if self.app.has_healthz:
            poller.join(timeout=60)
        if rec.get("action") != "rebuilt" or not rec["version"].endswith(f"+dev.{expected}"):
            raise BenchError(f"the edit did not give a rebuilt cycle {expected}: {rec}")
        if self.app.has_healthz and "at" not in served:
            raise BenchError(f"/healthz never reported {rec['version']}")
        self.cycles = expected
        return healthy, (served["at"] - saved if self.app.has_healthz else None), rec

    def stop(self):
        exit_code = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                exit_code = self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return exit_code


class Baseline:
    """The least a save-to-serving loop must do, timed by hand: the incremental `go build`
    in a warm builder container, and starting the built image until the app answers."""

    def __init__(self, app):
        self.app, self.round = app, 0
        docker("rm", "-f", BUILDER, STARTED, timeout=60)
        _, proc = docker("run", "-d", "--name", BUILDER, "--entrypoint", "sleep",
                         "-v", f"{app.context}:/src:ro", "-w", "/src", GO_IMAGE, "infinity",
                         timeout=120)
        if proc.returncode != 0:
            raise BenchError(f"the baseline's builder did not start: {proc.stderr.strip()}")
        self.go_build()   # untimed: fills the container's Go cache

    def go_build(self):
        """Seconds for the Dockerfile's `go build` line, run in the builder container."""
        self.round += 1
        flags = "-mod=vendor" if self.app.vendored else ""
        script = (f"CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOFLAGS={flags!r} go build "
                  f"-trimpath -ldflags '-s -w -X main.version=base.{self.round}' "
                  "-o /tmp/app .")
        seconds, proc = docker("exec", BUILDER, "sh", "-c", script, timeout=300)
        if proc.returncode != 0:
            raise BenchError(f"the baseline's go build failed: {proc.stderr.strip()[-500:]}")
        return seconds

    def start(self, image):
        """Seconds from `docker run -d` to the app's first answer on GET / from the host."""
        port = free_port()
        env = [arg for key, value in self.app.env.items() for arg in ("-e", f"{key}={value}")]
        started = time.perf_counter()
        _, proc = docker("run", "-d", "--name", STARTED, "-p", f"127.0.0.1:{port}:8080", *env,
                         image, timeout=60)
        try:
            if proc.returncode != 0:
                raise BenchError(f"the baseline's docker run failed: {proc.stderr.strip()}")
            while time.perf_counter() - started < 30:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=0.5):
                        return time.perf_counter() - started
                except urllib.error.HTTPError:
                    return time.perf_counter() - started   # an answer all the same
                except OSError:
                    time.sleep(0.01)
            raise BenchError(f"{image} did not answer within 30 s")
        finally:
            docker("rm", "-f", STARTED, timeout=60)

    def close(self):
        docker("rm", "-f", BUILDER, STARTED, timeout=60)


def remove_leftovers():
    """inv dev removed its container on Ctrl-C and kept IMAGE:dev; a killed one may not
    have. Only this benchmark's names; --no-prune keeps the build cache."""
    _, proc = docker("container", "inspect", "--format", "{{.Config.Image}}", CONTAINER,
                     timeout=30)
    if proc.returncode == 0 and proc.stdout.strip().startswith(IMAGE + ":"):
        docker("rm", "-f", CONTAINER, timeout=60)
    docker("rmi", "--no-prune", f"{IMAGE}:dev", timeout=120)


KEYS = ("healthy_s", "served_s", "build_s", "start_to_healthy_s", "base_go_build_s",
        "base_start_s", "baseline_s")


def measure(name, repeat):
    app = App(name)
    loop = baseline = None
    samples = {key: [] for key in KEYS}
    paths = []
    try:
        log(f"{name}: starting inv dev (first build not timed)")
        loop = DevLoop(app)
        first = loop.record(timeout=600)
        if first.get("action") != "started":
            raise BenchError(f"inv dev did not start: {first}")
        loop.cycles, builder = 1, first["builder"]
        loop.cycle()   # the first edit warms the Go build cache for this context
        baseline = Baseline(app)
        for i in range(repeat):
            time.sleep(0.5)   # the previous container settles; saves never overlap
            healthy, served, rec = loop.cycle()
            paths.append(rec.get("path", "image"))
            go_build = baseline.go_build()
            start = baseline.start(f"{IMAGE}:dev")
            for key, value in (("healthy_s", healthy), ("served_s", served),
                               ("build_s", rec["build_s"]),
                               ("start_to_healthy_s", rec["healthy_s"]),
                               ("base_go_build_s", go_build), ("base_start_s", start),
                               ("baseline_s", go_build + start)):
                if value is not None:
                    samples[key].append(value)
            log(f"{name} edit {i + 1}: healthy after {healthy:.2f} s (build "
                f"{rec['build_s']:.2f} s); baseline {go_build:.2f} + {start:.2f} s")
    finally:
        exit_code = loop.stop() if loop else None
        if baseline:
            baseline.close()
        remove_leftovers()
        app.remove()
    ours, base = median(samples["healthy_s"]), median(samples["baseline_s"])
    return {"app": name,
            "medians_s": {k: r3(median(v)) for k, v in samples.items() if v},
            "max_s": {k: r3(max(v)) for k, v in samples.items() if v},
            "samples_s": {k: rounded(v) for k, v in samples.items() if v},
            "ratio": r3(ours / base), "target_ratio": TARGET_RATIO,
            "met": ours / base <= TARGET_RATIO, "builder": builder,
            "paths": sorted(set(paths)),
            "exit_code_on_ctrl_c": exit_code}


LABELS = {"healthy_s": "edit saved -> verified healthy (inv dev's line)",
          "served_s": "edit saved -> new version at /healthz (host)",
          "build_s": "  of which: build (inv dev's figure)",
          "start_to_healthy_s": "  of which: (re)start -> healthy",
          "baseline_s": "baseline: go build + start",
          "base_go_build_s": "  go build in a warm builder (docker exec)",
          "base_start_s": "  docker run -d -> app answers"}


def render(result):
    rows = [[label, result["medians_s"][key], result["max_s"][key],
             ", ".join(map(str, result["samples_s"][key]))]
            for key, label in LABELS.items() if key in result["medians_s"]]
    return (f"{result['app']}:\n"
            + tabulate(rows, headers=["one Go file saved", "median s", "max s", "samples s"])
            + f"\nratio {result['ratio']} (target <= {TARGET_RATIO:g}: "
            + ("met" if result["met"] else "MISSED") + f"); builder: {result['builder']}; "
            f"cycles on the path: {', '.join(result['paths'])}; "
            f"Ctrl-C exit code {result['exit_code_on_ctrl_c']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--app", choices=("ours", "fixture"), action="append",
                        help="which app (repeatable; default both)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    try:
        preflight()
        results = [measure(name, opts.repeat) for name in opts.app or ("ours", "fixture")]
    except Unmeasurable as exc:
        sys.exit(f"error: {exc}")
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if opts.json:
        print(json.dumps(results, indent=2))
        return 0
    print("\n\n".join(render(result) for result in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
