"""2. A no-change `inv build --offline --quiet` (a BuildKit build) against the raw BuildKit CLI.

The target compares ours with Invoke's own start-up (an empty tasks.py, timed in the same
rounds) plus the CLI build, since a Python entry point pays that floor before any work.
"""
import dataclasses
import json
import re
import shlex
import types
from pathlib import Path

from common import (
    ENV,
    GO_IMAGE,
    IMAGE,
    INV,
    ROOT,
    RUNTIME_IMAGE,
    TARGETS,
    BenchError,
    bench_env,
    buildkit_cli_cmd,
    buildkit_env,
    fmt,
    image_labels,
    info_row,
    log,
    median,
    plain_steps,
    r3,
    ratio_row,
    rounded,
    run,
    tail,
)

CLI_TAG = "cli"


@dataclasses.dataclass
class Target:
    """What is built: the project's Dockerfile on a context, as an image named `image`."""
    name: str
    image: str
    context: Path
    env: dict

    @property
    def cli_tag(self):
        return f"{self.image}:{CLI_TAG}"


OUR_APP = Target("our app", IMAGE, ROOT / "app", ENV)


def target_for(name, image, context):
    """A Target for a context outside the repo, given to `inv` as INVOKE_TASKY_CONTEXT."""
    return Target(name, image, Path(context),
                  bench_env(INVOKE_TASKY_IMAGE=image, INVOKE_TASKY_CONTEXT=str(context)))


def git(context, *args):
    import subprocess

    return subprocess.run(["git", "-C", str(context), *args], capture_output=True,
                          text=True).stdout.strip()


def build_args(target):
    """The build args `inv build` passes, computed as ops/image/gitinfo.py and
    ops/image/docker_build.py do: git of the context, the bases, the image name, and the Go
    variables (this shell's, and GOFLAGS=-mod=vendor for a vendored context)."""
    head = git(target.context, "log", "-1", "--format=%H%n%h%n%cI").split()
    if len(head) != 3:
        raise BenchError(f"git cannot name a commit in {target.context}: the build args need one")
    sha, short, committed = head
    dirty = bool(git(target.context, "status", "--porcelain"))
    describe = git(target.context, "describe", "--tags", "--always", "--dirty") or short
    if dirty and not describe.endswith("-dirty"):
        describe += "-dirty"  # untracked files change the image too
    from ops.image.build_args import go_build_args

    project = types.SimpleNamespace(context_path=target.context,
                                    dockerfile_path=ROOT / "Dockerfile")
    go = go_build_args(project, {},
                       progress=lambda line: None, environ=target.env)
    return {**go, "GO_IMAGE": GO_IMAGE, "RUNTIME_IMAGE": RUNTIME_IMAGE, "VERSION": describe,
            "REVISION": sha, "CREATED": committed, "TASKY_IMAGE": target.image}


def cli_build_cmd(target, args):
    return buildkit_cli_cmd(ROOT / "Dockerfile", target.context, args,
                            image_labels(target.image), target.cli_tag)


def parse_table(text):
    """The first row of a tabulate 'simple' table, columns sliced by its dashes line."""
    lines = [line for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if i and set(line.replace(" ", "")) == {"-"} and i + 1 < len(lines):
            spans = [m.span() for m in re.finditer(r"-+", line)]
            head, row = lines[i - 1], lines[i + 1]
            return {head[a:b].strip(): row[a:b].strip() for a, b in spans}
    return {}


class Builder:
    """The no-change builds of one target: `inv build` and the BuildKit CLI, kept warm and
    checked, and Invoke's empty start-up timed beside them."""

    def __init__(self, refs, target=OUR_APP, empty_dir=None):
        self.refs = refs  # every image reference this run creates, for the cleanup
        self.target = target
        self.empty_dir = empty_dir
        self.args = None
        self.inv_json = None   # the warm `inv build --json`: id, steps, cached, ran 0
        self.cli_id = None
        self.rewarms = 0

    def inv_build(self, json_out=False):
        cmd = INV + ["build", "--offline"] + (["--json"] if json_out else ["--quiet"])
        seconds, proc = run(cmd, timeout=1800, env=self.target.env)
        if proc.returncode != 0:
            raise BenchError("inv build failed: " + tail(proc, 800))
        if json_out:
            result = json.loads(proc.stdout)
            row = {"id": result["id"], "cached": result["cached_steps"],
                   "steps": result["steps"], "ran": result["ran_steps"], "tags": result["tags"],
                   "raw": result}
        else:
            table = parse_table(proc.stdout)
            row = {"id": table.get("image id"), "tags": table.get("tags", "").split(", "),
                   "cached": int(table.get("cached steps") or -1),
                   "steps": int(table.get("steps") or -1)}
        self.refs.update(f"{self.target.image}:{t}" for t in row["tags"] if t)
        return seconds, row

    def cli_build(self):
        self.refs.add(self.target.cli_tag)
        seconds, proc = run(cli_build_cmd(self.target, self.args), timeout=1800,
                            env=buildkit_env(self.target.env))
        if proc.returncode != 0:
            raise BenchError("docker build (BuildKit) failed: " + tail(proc, 800))
        return seconds, plain_steps(proc.stdout + proc.stderr)

    def startup(self):
        seconds, proc = run(INV + ["--search-root", str(self.empty_dir), "--list"],
                            cwd=self.empty_dir, timeout=60)
        if proc.returncode not in (0, 1):  # 1: "No tasks found"
            raise BenchError("invoke --search-root failed: " + tail(proc))
        return seconds

    def inv_check(self):
        """An untimed `inv build --json`: ran_steps must be 0."""
        _, row = self.inv_build(json_out=True)
        if row["raw"].get("bases") and row["raw"]["bases"] != [GO_IMAGE, RUNTIME_IMAGE]:
            raise BenchError(f"inv build used bases {row['raw']['bases']}, the benchmark "
                             f"passes {GO_IMAGE}, {RUNTIME_IMAGE} to the CLI")
        passed = set(self.args) - {"GO_IMAGE", "RUNTIME_IMAGE", "VERSION", "REVISION",
                                   "CREATED", "TASKY_IMAGE"}
        if set(row["raw"].get("build_args", [])) != passed:
            raise BenchError(f"inv build passed Go build args {row['raw']['build_args']}, "
                             f"the benchmark computed {sorted(passed)}")
        if row["raw"].get("version") != self.args["VERSION"]:
            log(f"  note: inv build's VERSION {row['raw'].get('version')} != "
                f"{self.args['VERSION']} computed here (the tree changed in between?)")
        return row

    def warm(self):
        """Build both until each is a no-change build; record what they must keep."""
        self.args = build_args(self.target)
        self.inv_build(json_out=True)
        row = self.inv_check()
        if row["ran"]:   # the first build may have run steps; the second must not
            row = self.inv_check()
        if row["ran"]:
            raise BenchError(f"inv build ran {row['ran']} steps on a no-change rebuild")
        self.inv_json = row
        self.cli_build()
        _, check = self.cli_build()
        if check["not_cached"]:
            raise BenchError("the BuildKit CLI build is not fully cached on a no-change "
                             f"rebuild: {check['not_cached']}")
        self.cli_id = check["image_id"]
        return check

    def still_current(self):
        return build_args(self.target) == self.args

    def sample(self, kind):
        """One timed build; (seconds, None) when it was a no-change build, else (_, why)."""
        if kind == "start":
            return self.startup(), None
        if kind == "inv":
            seconds, row = self.inv_build()
            want = self.inv_json
            if (row["id"], row["cached"], row["steps"]) != (want["id"], want["cached"],
                                                            want["steps"]):
                return seconds, (f"inv build not a no-change build (id {row['id']}, cached "
                                 f"{row['cached']}/{row['steps']})")
            return seconds, None
        seconds, check = self.cli_build()
        if check["not_cached"] or check["image_id"] != self.cli_id:
            return seconds, (f"CLI build not a no-change build (image {check['image_id']}, "
                             f"ran {check['not_cached']})")
        return seconds, None


def measure_build(n, refs, empty_dir, target=OUR_APP):
    Path(empty_dir).mkdir(parents=True, exist_ok=True)
    (Path(empty_dir) / "tasks.py").write_text("")
    b = Builder(refs, target, empty_dir)
    log(f"  warming {target.name}: inv build --offline --json x2, BuildKit CLI x2 ...")
    cli_check = b.warm()
    samples = {"inv": [], "cli": [], "start": []}
    notes, attempts, order = [], 0, ["inv", "cli", "start"]
    while len(samples["inv"]) < n:
        attempts += 1
        if attempts > n + 6:
            raise BenchError("the builds kept missing the cache (is someone else changing the "
                             "tree or pruning the build cache?): " + "; ".join(notes[-3:]))
        if not b.still_current():
            notes.append("git state changed (VERSION/REVISION): re-warmed")
            b.rewarms += 1
            b.warm()
            continue
        i = len(samples["inv"])
        got = {}
        for kind in order[i % 3:] + order[:i % 3]:   # each goes first in turn
            seconds, why = b.sample(kind)
            if why:
                notes.append(why + ": re-warmed")
                break
            got[kind] = seconds
        if len(got) < 3:
            b.rewarms += 1
            b.warm()
            continue
        for kind, seconds in got.items():
            samples[kind].append(seconds)
    after = b.inv_check()   # inv build stayed a no-change build all along
    _, cli_after = b.cli_build()
    return {"target": target.name, "ours_s": samples["inv"], "baseline_s": samples["cli"],
            "startup_s": samples["start"], "build_args": b.args, "inv_id": b.inv_json["id"],
            "cli_id": b.cli_id, "inv_steps": f"{b.inv_json['cached']}/{b.inv_json['steps']}",
            "inv_ran_after": after["ran"], "cli_check_before": cli_check,
            "cli_check_after": cli_after, "rewarms": b.rewarms, "notes": notes,
            "baseline_cmd": "DOCKER_BUILDKIT=1 " + shlex.join(cli_build_cmd(target, b.args))}


def missed(bld):
    return ratio(bld) is not None and ratio(bld) > TARGETS["build"]


def ratio(bld):
    ours, floor = median(bld["ours_s"]), median(bld["startup_s"]) + median(bld["baseline_s"])
    return ours / floor if ours and floor else None


def rows(bld, label="2. no-change build"):
    ours, cli = median(bld["ours_s"]), median(bld["baseline_s"])
    return [ratio_row(f"{label} vs start-up + BuildKit CLI (s)", ours,
                      median(bld["startup_s"]) + cli, TARGETS["build"]),
            info_row("· vs the BuildKit CLI alone (s, info)", ours, cli)]


def render(bld, title="2. no-change build"):
    out = [f"\n== {title}: {bld['target']}  (median of {len(bld['ours_s'])}, interleaved "
           "with the CLI and Invoke's empty start-up)",
           "build args: " + ", ".join(f"{k}={v}" for k, v in bld["build_args"].items()),
           f"ours:     inv build --offline --quiet  (cached {bld['inv_steps']}, ran 0, image "
           f"{bld['inv_id']}; an inv build --json after the timed runs ran "
           f"{bld['inv_ran_after']} steps)",
           f"baseline: {bld['baseline_cmd']}  (image {bld['cli_id']})"]
    for when in ("before", "after"):
        c = bld[f"cli_check_{when}"]
        out.append(f"CLI plain progress {when} the timed runs: {c['cached']}/{c['total']} "
                   "steps CACHED" + (f"; NOT cached: {c['not_cached']}" if c["not_cached"]
                                     else ""))
    out += [f"samples ours  {rounded(bld['ours_s'])}",
            f"samples CLI   {rounded(bld['baseline_s'])}",
            f"samples start {rounded(bld['startup_s'])}  (python -m invoke, empty tasks.py)",
            f"absolute medians: inv build {fmt(r3(median(bld['ours_s'])), ' s')}, "
            f"BuildKit CLI {fmt(r3(median(bld['baseline_s'])), ' s')}, "
            f"empty Invoke {fmt(r3(median(bld['startup_s'])), ' s')}"]
    if bld["rewarms"]:
        out.append(f"re-warmed {bld['rewarms']}x: " + "; ".join(bld["notes"]))
    return out
