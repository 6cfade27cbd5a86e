"""2. A no-change `inv build --offline --quiet` against the plain docker CLI build."""
import json
import re
import shlex

from common import (ENV, GO_IMAGE, IMAGE, INV, LABELS, ROOT, RUNTIME_IMAGE, TARGETS, BenchError,
                    docker_bin, fmt, git, info_row, interleaved, log, median, r3, ratio_row,
                    rounded, run, tail)

STEP = re.compile(r"^Step (\d+)/(\d+) : (\S+)")
CLI_TAG = "cli"


def build_args():
    """The build args `inv build` passes, computed as ops/gitinfo.py and ops/build.py do."""
    head = git("log", "-1", "--format=%H%n%h%n%cI").split()
    if len(head) != 3:
        raise BenchError(f"git cannot name a commit in {ROOT}: the build args need one")
    sha, short, committed = head
    dirty = bool(git("status", "--porcelain"))
    describe = git("describe", "--tags", "--always", "--dirty") or short
    if dirty and not describe.endswith("-dirty"):
        describe += "-dirty"  # untracked files change the image too
    return {"GO_IMAGE": GO_IMAGE, "RUNTIME_IMAGE": RUNTIME_IMAGE, "VERSION": describe,
            "REVISION": sha, "CREATED": committed}


def cli_build_cmd(args, quiet=True):
    """`docker build [-q] -f Dockerfile <args> <labels> -t tasky-bench:cli app/`, run from ROOT."""
    cmd = [docker_bin(), "build"] + (["-q"] if quiet else []) + ["-f", "Dockerfile"]
    for key, value in args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    for key, value in LABELS.items():
        cmd += ["--label", f"{key}={value}"]
    return cmd + ["-t", f"{IMAGE}:{CLI_TAG}", "app/"]


def parse_steps(output):
    """Steps of a verbose classic-builder log: total, cached, cacheable, uncached names."""
    steps, seen_from = [], False
    for line in output.splitlines():
        match = STEP.match(line)
        if match:
            instruction = match.group(3).upper()
            seen_from = seen_from or instruction == "FROM"
            # FROM and the ARGs before the first FROM never say "Using cache".
            steps.append({"n": int(match.group(1)), "text": line.split(" : ", 1)[1][:60],
                          "cacheable": seen_from and instruction != "FROM", "cached": False})
        elif "Using cache" in line and steps:
            steps[-1]["cached"] = True
    return {"total": len(steps), "cached": sum(s["cached"] for s in steps),
            "cacheable": sum(s["cacheable"] for s in steps),
            "not_cached": [f"{s['n']}: {s['text']}" for s in steps
                           if s["cacheable"] and not s["cached"]]}


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
    """The two no-change builds: `inv build` and the docker CLI, kept warm and checked."""

    def __init__(self, refs):
        self.refs = refs  # every image reference this run creates, for the cleanup
        self.args = None
        self.inv_id = self.cli_id = None
        self.cacheable = None
        self.rewarms = 0

    def inv_build(self, json_out=False):
        cmd = INV + ["build", "--offline"] + (["--json"] if json_out else ["--quiet"])
        seconds, proc = run(cmd, timeout=1800)
        if proc.returncode != 0:
            raise BenchError("inv build failed: " + tail(proc, 800))
        if json_out:
            result = json.loads(proc.stdout)
            row = {"id": result["id"], "cached": result["cached_steps"],
                   "steps": result["steps"], "tags": result["tags"], "raw": result}
        else:
            table = parse_table(proc.stdout)
            row = {"id": table.get("image id"), "tags": table.get("tags", "").split(", "),
                   "cached": int(table.get("cached steps") or -1),
                   "steps": int(table.get("steps") or -1)}
        self.refs.update(f"{IMAGE}:{t}" for t in row["tags"] if t)
        return seconds, row

    def cli_build(self, quiet=True):
        self.refs.add(f"{IMAGE}:{CLI_TAG}")
        seconds, proc = run(cli_build_cmd(self.args, quiet), cwd=ROOT, timeout=1800, env=ENV)
        if proc.returncode != 0:
            raise BenchError("docker build failed: " + tail(proc, 800))
        image_id = proc.stdout.strip().split(":")[-1][:12] if quiet else None
        return seconds, image_id, proc.stdout

    def cli_check(self):
        """A verbose (untimed) CLI build: are all cacheable steps cached?"""
        return parse_steps(self.cli_build(quiet=False)[2])

    def warm(self):
        """Build both until each is a no-change build; record the ids they must keep."""
        self.args = build_args()
        _, inv_row = self.inv_build(json_out=True)
        if inv_row["raw"].get("bases") and inv_row["raw"]["bases"] != [GO_IMAGE, RUNTIME_IMAGE]:
            raise BenchError(f"inv build used bases {inv_row['raw']['bases']}, the benchmark "
                             f"passes {GO_IMAGE}, {RUNTIME_IMAGE} to the CLI")
        if inv_row["raw"].get("version") != self.args["VERSION"]:
            log(f"  note: inv build's VERSION {inv_row['raw'].get('version')} != "
                f"{self.args['VERSION']} computed here (the tree changed in between?)")
        self.cli_build()
        check = self.cli_check()
        if check["not_cached"]:  # the first CLI build may have run steps; the second must not
            check = self.cli_check()
        if check["not_cached"]:
            raise BenchError("the CLI build is not fully cached on a no-change rebuild (does "
                             "app/.dockerignore list Dockerfile and .dockerignore?): "
                             f"{check['not_cached']}")
        self.cacheable = check["cacheable"]
        _, inv_row = self.inv_build()
        _, self.cli_id, _ = self.cli_build()
        self.inv_id = inv_row["id"]
        return check, inv_row

    def still_current(self):
        return build_args() == self.args


def measure_build(n, refs):
    b = Builder(refs)
    log("  warming: inv build --offline --json, docker build -f Dockerfile app/ x3 ...")
    cli_check, inv_row = b.warm()
    ours, base, notes = [], [], []
    attempts = 0
    while len(ours) < n:
        attempts += 1
        if attempts > n + 6:
            raise BenchError("the builds kept missing the cache (is someone else changing the "
                             "tree or removing build-stage images?): " + "; ".join(notes[-3:]))
        if not b.still_current():
            notes.append("git state changed (VERSION/REVISION): re-warmed")
            b.rewarms += 1
            b.warm()
            continue
        sample = {}
        for kind in interleaved(len(ours), ["inv", "cli"]):
            if kind == "inv":
                seconds, row = b.inv_build()
                ok = row["id"] == b.inv_id and row["cached"] == b.cacheable
                inv_row = row if ok else inv_row
                if not ok:
                    notes.append(f"inv build not a no-change build (id {row['id']}, cached "
                                 f"{row['cached']}/{b.cacheable}): re-warmed")
            else:
                seconds, image_id, _ = b.cli_build()
                ok = image_id == b.cli_id
                if not ok:
                    notes.append(f"CLI image id changed {b.cli_id} -> {image_id}: re-warmed")
            if not ok:
                break
            sample[kind] = seconds
        if len(sample) < 2:
            b.rewarms += 1
            b.warm()
            continue
        ours.append(sample["inv"])
        base.append(sample["cli"])
    after = b.cli_check()  # the CLI stayed fully cached all along
    return {"ours_s": ours, "baseline_s": base, "build_args": b.args,
            "inv_id": b.inv_id, "cli_id": b.cli_id, "same_image": b.inv_id == b.cli_id,
            "inv_cached_steps": f"{inv_row['cached']}/{inv_row['steps']}",
            "cli_cache_check_before": cli_check, "cli_cache_check_after": after,
            "rewarms": b.rewarms, "notes": notes,
            "baseline_cmd": shlex.join(cli_build_cmd(b.args)) + "  (cwd: the repo root)"}


def missed(bld):
    return bool(bld["baseline_s"]) and \
        median(bld["ours_s"]) / median(bld["baseline_s"]) > TARGETS["build"]


def rows(bld, startup_s=None):
    ours = median(bld["ours_s"])
    out = [ratio_row("2. no-change build (s)", ours, median(bld["baseline_s"]),
                     TARGETS["build"])]
    if startup_s:  # what a Python tool can reach: Invoke's floor + the CLI
        out.append(info_row("· vs empty-invoke startup + CLI build (s, info)", ours,
                            startup_s + median(bld["baseline_s"])))
    return out


def render(bld):
    out = [f"\n== 2. no-change build  (median of {len(bld['ours_s'])}, interleaved)",
           "build args: " + ", ".join(f"{k}={v}" for k, v in bld["build_args"].items()),
           f"ours:     inv build --offline --quiet  (cached {bld['inv_cached_steps']}, "
           f"image {bld['inv_id']})",
           f"baseline: {bld['baseline_cmd']}  (image {bld['cli_id']})",
           "same final image id: " + ("yes" if bld["same_image"] else "NO")]
    for when in ("before", "after"):
        c = bld[f"cli_cache_check_{when}"]
        out.append(f"CLI verbose check {when} the timed runs: {c['cached']}/{c['cacheable']} "
                   "cacheable steps cached"
                   + (f"; NOT cached: {c['not_cached']}" if c["not_cached"] else ""))
    out += [f"samples ours {rounded(bld['ours_s'])}",
            f"samples base {rounded(bld['baseline_s'])}",
            f"absolute medians: inv build {fmt(r3(median(bld['ours_s'])), ' s')}, "
            f"docker CLI {fmt(r3(median(bld['baseline_s'])), ' s')}"]
    if bld["rewarms"]:
        out.append(f"re-warmed {bld['rewarms']}x: " + "; ".join(bld["notes"]))
    return out
