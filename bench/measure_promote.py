"""Promote (manifest GET + PUT) against the docker CLI's pull + tag + push, same registry, one run.

    python3 bench/measure_promote.py [--repeat N] [--image REF] [--json]

A plain docker-registry on a free loopback port (ops.registry.local_registry.serve, temp dir)
gets IMAGE once; then each sample retags it to a fresh tag both ways, interleaved:
- ours: a new `python` process calling ops.registry.promotion.promote(SRC, DEST,
  registry_kind="local"), as `inv promote` will (interpreter start included; the
  function's own seconds shown apart);
- baseline: `docker pull REMOTE:SRC`, `docker tag`, `docker push REMOTE:DEST`. The engine
  already holds the layers, so the pull fetches a manifest and the push says "Layer already
  exists": the cheapest the CLI can do, which favours the baseline.
Every sample is checked: DEST reads back as SRC's digest, and the registry's blob count
does not change. Exit 0 always after measuring (2 when there is no image or engine); it
removes the registry, its directory and the tags it created.
"""
import argparse
import json
import sys
from pathlib import Path

from common import (
    PY,
    BenchError,
    docker,
    info_row,
    interleaved,
    log,
    median,
    printed,
    r3,
    rounded,
    run,
    tail,
)
from measure_push import local_registry

REPOSITORY = "tasky-bench-promote"
SRC = "release"
OURS = """import json, sys, time
from ops.settings import config
from ops.registry import promotion
s = config.Settings(ecr=config.Ecr(repository={repo!r}, local_registry={addr!r}))
r = promotion.promote(s, {src!r}, sys.argv[1], registry_kind="local", progress=lambda line: None)
print(json.dumps(r))
"""


def blob_count(folder):
    return sum(1 for _ in (Path(folder) / "data").rglob("blobs/sha256/*/*/data"))


def measure(n, image):
    with local_registry() as (addr, pid):
        folder = registry_folder(pid)
        remote = f"{addr}/{REPOSITORY}"
        made = [f"{remote}:{SRC}"]
        try:
            docker("tag", image, f"{remote}:{SRC}", check=True)
            docker("push", f"{remote}:{SRC}", check=True, timeout=300)
            digest = read_back(addr, SRC)
            blobs = blob_count(folder)
            script = OURS.format(repo=REPOSITORY, addr=addr, src=SRC)
            ours, inside, base = [], [], []
            for i in range(n):
                for kind in interleaved(i, ["ours", "cli"]):
                    dest = f"{kind}-{i}"
                    if kind == "ours":
                        seconds, proc = run([PY, "-c", script, dest], timeout=120)
                        if proc.returncode != 0:
                            raise BenchError("promote failed: " + tail(proc))
                        inside.append(json.loads(proc.stdout)["seconds"])
                        ours.append(seconds)
                    else:
                        seconds = cli_retag(remote, dest)
                        made.append(f"{remote}:{dest}")
                        base.append(seconds)
                    if read_back(addr, dest) != digest:
                        raise BenchError(f"{dest} does not read back as {digest}")
            if blob_count(folder) != blobs:
                raise BenchError("the registry's blob count changed: something was uploaded")
        finally:
            for ref in made:
                docker("rmi", "--no-prune", ref, timeout=60)
    return {"registry": addr, "image": image, "digest": digest, "blobs": blobs,
            "ours_s": ours, "ours_inside_s": inside, "baseline_s": base,
            "ratio": r3(median(ours) / median(base))}


def registry_folder(pid):
    """The temp dir measure_push.local_registry serves from (the registry's cwd-free config)."""
    config = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[2].decode()
    return Path(config).parent


def cli_retag(remote, dest):
    total = 0.0
    for args in (["pull", f"{remote}:{SRC}"], ["tag", f"{remote}:{SRC}", f"{remote}:{dest}"],
                 ["push", f"{remote}:{dest}"]):
        seconds, _ = docker(*args, check=True, timeout=300)
        total += seconds
    return total


def read_back(addr, tag):
    from ops.registry import http_api

    return http_api.manifest_digest(addr, REPOSITORY, tag)


def rows(out):
    """No target in issue 10: shown for context (the baseline favours the CLI, see above)."""
    ours, base = median(out["ours_s"]), median(out["baseline_s"])
    return [info_row("8. promote vs docker pull+tag+push (s, info)", r3(ours), r3(base)),
            info_row("· inside promote() alone (s, info)", r3(median(out["ours_inside_s"])),
                     r3(base))]


def render(out):
    return [f"\n== 8. promote  ({len(out['ours_s'])} interleaved samples, registry "
            f"{out['registry']}, {out['image']} {out['digest'][:19]}, blobs unchanged: "
            f"{out['blobs']})",
            "ours:     python -c 'ops.registry.promotion.promote(SRC, DEST, "
            "registry_kind=\"local\")' (a new process, as inv promote)",
            "baseline: docker pull REMOTE:SRC; docker tag; docker push REMOTE:DEST",
            f"samples ours {rounded(out['ours_s'])}; inside promote "
            f"{rounded(out['ours_inside_s'])}",
            f"samples base {rounded(out['baseline_s'])}",
            f"ratio ours/CLI {out['ratio']}"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--image", default="tasky-bench:latest")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    _, proc = docker("image", "inspect", args.image, timeout=30)
    if proc.returncode != 0:
        log(f"error: no image {args.image} (python3 bench/bench.py builds tasky-bench, or "
            "pass --image)")
        return 2
    return printed(lambda: measure(args.repeat, args.image), render, args.json)


if __name__ == "__main__":
    sys.exit(main())
