#!/usr/bin/env python3
"""6. A one-Go-file change, rebuilt three ways, timed in one run (median of N, interleaved):

  inv      `inv build --offline --json` (BuildKit through the Engine API, Go cache mounts),
           INVOKE_TASKY_CONTEXT pointing at a temp copy of the context
  cli      DOCKER_BUILDKIT=1 /usr/bin/docker build --progress=plain, same Dockerfile,
           context, build args and labels
  classic  DOCKER_BUILDKIT=0 /usr/bin/docker build of classic_dockerfile(Dockerfile)

    python3 bench/measure_buildkit.py [--repeat N] [--app ours|fixture ...] [--json]

For our app (app/, edit store.go) and the third-party fixture (vendored as in
measure_realapp.py, edit main.go). Every timed build sees a Go file no builder has built
before: a unique comment is appended right before it, so no builder gets a cache hit another
one prepared. Each build is checked to have re-run `go build` (inv: ran_steps >= 2; the CLIs:
their step output). Performance is never asserted. The temp copies are deleted; the images
(tasky-bench-change-<app>:*, every image id a build made, the classic builder's
intermediate images included) are removed at the end, never forced; BuildKit's cache stays.
"""
import json
import re
import shutil
import tempfile
import uuid
from pathlib import Path

import measure_build
import measure_realapp
from common import (
    INV,
    ROOT,
    TARGETS,
    BenchError,
    buildkit_env,
    cleanup,
    docker_bin,
    fmt,
    image_labels,
    info_row,
    log,
    median,
    r3,
    ratio_row,
    remove_images,
    rounded,
    standalone,
    run,
    speedup_row,
    tabulate,
    tail,
)

KINDS = ["inv", "cli", "classic"]
APPS = ["ours", "fixture"]
EDITED = {"ours": "store.go", "fixture": "main.go"}
CLASSIC_ID = re.compile(r"^ ---> ([0-9a-f]{12})$", re.M)


class Context:
    """A committed temp copy of one app's context; edits leave its git state at -dirty, so
    the build args stay the same from one edit to the next."""

    def __init__(self, app, workdir):
        self.app = app
        self.top = Path(tempfile.mkdtemp(prefix=f"tasky-bench-change-{app}-", dir=workdir))
        self.image = f"tasky-bench-change-{app}"
        if app == "fixture":
            self.target, _, _ = measure_realapp.vendored_fixture(self.top, self.image)
        else:
            repo = self.top / "repo"
            shutil.copytree(ROOT / "app", repo / "app")
            measure_realapp.new_repo(repo, "our app")
            self.target = measure_build.target_for("our app", self.image, repo / "app")
        self.edit()
        self.args = measure_build.build_args(self.target)
        from ops.image import dockerfile

        self.classic = self.top / "Dockerfile.classic"
        self.classic.write_text(dockerfile.classic_dockerfile((ROOT / "Dockerfile").read_text()))
        self.ids = []     # every image a build made, oldest first
        self.tags = set()

    def edit(self):
        target = self.target.context / EDITED[self.app]
        target.write_text(target.read_text() + f"\n// bench {uuid.uuid4().hex}\n")

    def remove(self):
        shutil.rmtree(self.top, ignore_errors=True)


def inv_build(ctx):
    seconds, proc = run(INV + ["build", "--offline", "--json"], env=ctx.target.env,
                        timeout=1800)
    if proc.returncode != 0:
        raise BenchError("inv build failed: " + tail(proc, 800))
    result = json.loads(proc.stdout)
    ctx.ids.append(result["id"])
    ctx.tags.update(f"{ctx.image}:{tag}" for tag in result["tags"])
    # The edit must reach COPY . . and go build (and the release COPY of the binary).
    if result["ran_steps"] < 2:
        raise BenchError(f"inv build re-ran only {result['ran_steps']} steps: the edit was "
                         "not seen")
    return seconds, result["seconds"]


def cli_build(ctx, kind):
    tag = f"{ctx.image}:{kind}"
    ctx.tags.add(tag)
    if kind == "cli":
        cmd = measure_build.cli_build_cmd(ctx.target, ctx.args)
        cmd[cmd.index("-t") + 1] = tag
        env = buildkit_env(ctx.target.env)
    else:
        cmd = [docker_bin(), "build", "-f", str(ctx.classic)]
        cmd += [a for k, v in ctx.args.items() for a in ("--build-arg", f"{k}={v}")]
        cmd += [a for k, v in image_labels(ctx.image).items() for a in ("--label", f"{k}={v}")]
        cmd += ["-t", tag, str(ctx.target.context)]
        env = {**ctx.target.env, "DOCKER_BUILDKIT": "0"}
    seconds, proc = run(cmd, env=env, timeout=1800)
    output = proc.stdout + proc.stderr
    ctx.ids += made_images(output, kind)
    if proc.returncode != 0:
        raise BenchError(f"{kind} build failed: {tail(proc, 800)}")
    if not reran_go_build(output, kind):
        raise BenchError(f"{kind} build did not re-run go build:\n{output[-1500:]}")
    return seconds, None


def made_images(output, kind):
    """The images a CLI build wrote: BuildKit's one, or each classic step that ran."""
    if kind == "cli":
        found = re.search(r"writing image sha256:([0-9a-f]{12})", output)
        return [found.group(1)] if found else []
    made = []
    for step in re.split(r"^Step \d+/\d+ : ", output, flags=re.M)[1:]:
        if "Using cache" not in step and not step.upper().startswith("FROM "):  # a base
            made += CLASSIC_ID.findall(step)[-1:]
    return made


def reran_go_build(output, kind):
    """Whether the go build step ran (not cached), read from the CLI's own output."""
    if kind == "classic":
        found = re.search(r"^Step \d+/\d+ : RUN [^\n]*go build.*?(?=^Step |\Z)", output,
                          re.M | re.S)
        return bool(found) and "Using cache" not in found.group(0)
    found = re.search(r"^(#\d+) \[build \d+/\d+\] RUN [^\n]*go build", output, re.M)
    return bool(found) and f"{found.group(1)} CACHED" not in output


def build(ctx, kind):
    return inv_build(ctx) if kind == "inv" else cli_build(ctx, kind)


def measure_app(app, repeat, workdir):
    ctx = Context(app, workdir)
    samples = {kind: [] for kind in KINDS}
    inside = []
    try:
        log(f"  {app}: warming each builder once on an edited {EDITED[app]} (not timed)")
        for kind in KINDS:
            ctx.edit()
            build(ctx, kind)
        for i in range(repeat):
            for kind in KINDS[i % 3:] + KINDS[:i % 3]:   # each goes first in turn
                ctx.edit()
                seconds, in_build = build(ctx, kind)
                samples[kind].append(seconds)
                if in_build is not None:
                    inside.append(in_build)
                log(f"  {app} round {i + 1}: {kind} {seconds:.2f} s")
    finally:
        ctx.remove()
        cleanup(set(), ctx.tags, keep_images=False)
        remove_images(ctx.ids)
    return {"app": app, "edited": EDITED[app], "build_args": ctx.args,
            "samples_s": {k: rounded(v) for k, v in samples.items()},
            "inv_inside_s": rounded(inside),
            "medians_s": {k: r3(median(v)) for k, v in samples.items()}}


def measure(repeat, workdir, apps=APPS):
    return {app: measure_app(app, repeat, workdir) for app in apps}


def rows(change):
    out = []
    for app, res in change.items():
        meds = res["medians_s"]
        name = "our app" if app == "ours" else "fixture"
        out += [ratio_row(f"6. one Go file changed, {name}: vs BuildKit CLI (s)",
                          meds["inv"], meds["cli"], TARGETS["change"]),
                speedup_row(f"· {name}: vs the classic builder (s)", meds["inv"],
                            meds["classic"], TARGETS["classic_speedup"]),
                info_row(f"· {name}: inside inv build's own seconds (s, info)",
                         r3(median(res["inv_inside_s"])), meds["cli"])]
    return out


def render(change):
    out = []
    for app, res in change.items():
        out += [f"\n== 6. one Go file changed ({res['edited']} of "
                f"{'our app' if app == 'ours' else 'the third-party fixture'}, on a temp "
                f"copy)  (median of {len(res['samples_s']['inv'])}, interleaved)",
                "build args (all three): " + ", ".join(f"{k}={v}"
                                                       for k, v in res["build_args"].items()),
                tabulate([[kind, fmt(res["medians_s"][kind]),
                           ", ".join(map(str, res["samples_s"][kind]))] for kind in KINDS],
                         headers=["builder", "median s", "samples s"], disable_numparse=True),
                f"inv build's own 'seconds' (after Python and Invoke start): "
                f"{res['inv_inside_s']}"]
    return out


def main():
    standalone(__doc__, lambda opts, workdir: measure(opts.repeat, workdir, opts.app or APPS),
               render, rows, arguments=[(["--app"], {"action": "append", "choices": APPS})])


if __name__ == "__main__":
    main()
