"""5. Re-pushing an unchanged image: `inv push --registry local` against `docker push`."""
import contextlib
import json
import re
import shlex
import shutil
import socket
import tempfile
from pathlib import Path

import measure_profile
from common import (
    IMAGE,
    INV,
    ROOT,
    TARGETS,
    BenchError,
    bench_env,
    docker,
    docker_bin,
    fmt,
    info_row,
    interleaved,
    log,
    median,
    r3,
    ratio_row,
    rounded,
    run,
    tail,
)

REPOSITORY = "wiz-exercise-tasky"   # tasky.ecr.repository: what --registry local pushes to
TAG = "latest"
LAYER = re.compile(r"^([0-9a-f]{12}): (.+)$")
DIGEST = re.compile(r"^\S+: digest: (sha256:[0-9a-f]{64}) size: \d+$", re.MULTILINE)
EXISTS = "Layer already exists"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def local_registry():
    """A plain docker-registry (no auth) on a free loopback port, served from a temp dir by
    the project's ops.registry.local_registry.serve; killed and its directory removed on the
    way out."""
    try:
        from ops.core.errors import OpsError
        from ops.registry import local_registry
    except (ImportError, SyntaxError) as exc:
        raise BenchError(f"cannot import ops.registry.local_registry from {ROOT}: {exc}") from None
    folder = Path(tempfile.mkdtemp(prefix="tasky-bench-registry-"))
    process, problems = None, []
    try:
        for _ in range(3):  # the free port may be taken between the probe and the bind
            addr = f"127.0.0.1:{free_port()}"
            try:
                process = local_registry.serve(folder, addr)
                break
            except (OpsError, OSError) as exc:
                problems.append(str(exc))
        if process is None:
            raise BenchError("cannot start a local registry: " + "; ".join(problems))
        yield addr, process.pid
    finally:
        if process is not None:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def image_layers(ref):
    """The short ids `docker push` prints for ref's layers (first 12 hex of each diff id)."""
    _, proc = docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", ref, timeout=30)
    if proc.returncode != 0:
        raise BenchError(f"{ref} is not in the engine (the build step makes it): {tail(proc)}")
    return {layer.split(":")[-1][:12] for layer in json.loads(proc.stdout)}


class Pusher:
    """The two pushes of the same image to the same remote tag, each checked to upload nothing."""

    def __init__(self, addr):
        self.remote = f"{addr}/{REPOSITORY}:{TAG}"
        self.env = bench_env(INVOKE_TASKY_ECR_LOCAL_REGISTRY=addr)
        self.ours_cmd = INV + ["push", "--registry", "local", "--tag", TAG, "--json"]
        self.cli_cmd = [docker_bin(), "push", self.remote]
        self.layers = image_layers(f"{IMAGE}:{TAG}")
        self.digest = None

    def ours(self):
        """(seconds, push JSON, problem or None)."""
        seconds, proc = run(self.ours_cmd, env=self.env, timeout=600)
        if proc.returncode != 0:
            raise BenchError("inv push --registry local failed: " + tail(proc, 800))
        result = json.loads(proc.stdout)
        return seconds, result, self.ours_problem(result)

    def ours_problem(self, result):
        if result.get("status") != "pushed" or result.get("layers_pushed") != 0:
            return (f"inv push uploaded {result.get('layers_pushed')} layers (status "
                    f"{result.get('status')!r})")
        if self.digest and result.get("digest") != self.digest:
            return f"inv push digest {result.get('digest')} != {self.digest}"
        return None

    def cli(self):
        """(seconds, {layer: last status}, digest, problem or None)."""
        seconds, proc = run(self.cli_cmd, timeout=600)
        if proc.returncode != 0:
            raise BenchError("docker push failed: " + tail(proc, 800))
        states = {}
        for line in proc.stdout.splitlines():
            match = LAYER.match(line.strip())
            if match:
                states[match.group(1)] = match.group(2)
        found = DIGEST.search(proc.stdout)
        digest = found.group(1) if found else None
        problem = None
        uploaded = sorted(k for k, v in states.items() if v != EXISTS)
        if set(states) != self.layers or uploaded:
            problem = (f"docker push did not say '{EXISTS}' for every layer of the image "
                       f"(layers {sorted(states)}, not existing {uploaded})")
        elif digest != self.digest:
            problem = f"docker push digest {digest} != {self.digest}"
        return seconds, states, digest, problem


def measure_push(n, refs, workdir, profile_mode="auto"):
    with local_registry() as (addr, pid):
        p = Pusher(addr)
        refs.add(p.remote)  # `inv push` tags IMAGE:latest as the remote name; removed at the end
        log(f"  registry {addr} (pid {pid}); warming: inv push (uploads), then each side once")
        _, first, _ = p.ours()
        p.digest = first["digest"]
        warm = [p.ours()[2], p.cli()[3]]
        if any(warm):
            raise BenchError("not a no-change push after the warm-up: "
                             + "; ".join(w for w in warm if w))
        ours, base, inside, notes, last = [], [], [], [], None
        attempts = 0
        while len(ours) < n:
            attempts += 1
            if attempts > n + 4:
                raise BenchError("the pushes kept uploading layers: " + "; ".join(notes[-3:]))
            sample = {}
            for kind in interleaved(len(ours), ["ours", "cli"]):
                if kind == "ours":
                    seconds, result, problem = p.ours()
                    last = result
                else:
                    seconds, _, _, problem = p.cli()
                if problem:
                    notes.append(problem)
                    break
                sample[kind] = seconds
            if len(sample) == 2:
                ours.append(sample["ours"])
                base.append(sample["cli"])
                inside.append(last["seconds"])
        out = {"registry": addr, "registry_pid": pid, "remote": p.remote,
               "digest": p.digest, "image_layers": len(p.layers),
               "warm_push": {k: first.get(k) for k in ("layers_pushed", "layers_existing")},
               "ours_layers_pushed": last["layers_pushed"],
               "ours_layers_existing": last["layers_existing"],
               "ours_s": ours, "baseline_s": base, "ours_inside_push_s": inside,
               "notes": notes,
               "ours_cmd": f"INVOKE_TASKY_ECR_LOCAL_REGISTRY={addr} python -m invoke "
                           + shlex.join(p.ours_cmd[3:]),
               "baseline_cmd": shlex.join(p.cli_cmd)}
        if profile_mode == "always" or (profile_mode == "auto" and missed(out)):
            log("  profiling the no-change inv push ...")

            def check(proc):
                problem = p.ours_problem(json.loads(proc.stdout))
                if problem:
                    raise BenchError("profiled push was not a no-change push: " + problem)

            try:
                out["profile"] = measure_profile.profile(
                    "push", p.ours_cmd[3:], measure_profile.PUSH_PHASES, n, workdir,
                    env=p.env, check=check, modules=("invoke", "docker", "ops.registry.push"))
            except BenchError as exc:
                out["profile"] = str(exc)
    return out


def missed(psh):
    return bool(psh["baseline_s"]) and \
        median(psh["ours_s"]) / median(psh["baseline_s"]) > TARGETS["push"]


def rows(psh, startup_s=None):
    ours = median(psh["ours_s"])
    out = [ratio_row("5. no-change push, local registry (s)", ours, median(psh["baseline_s"]),
                     TARGETS["push"])]
    if startup_s:  # what a Python entry point can reach: Invoke's floor + the CLI
        out.append(info_row("· vs empty-invoke startup + CLI push (s, info)", ours,
                            startup_s + median(psh["baseline_s"])))
    return out


def render(psh):
    out = [f"\n== 5. no-change push  (median of {len(psh['ours_s'])}, interleaved)",
           f"registry: docker-registry at {psh['registry']} (pid {psh['registry_pid']}, no auth,"
           " temp dir; stopped and removed at the end)",
           f"warm-up push uploaded {psh['warm_push']['layers_pushed']} of "
           f"{psh['image_layers']} layers; digest {psh['digest']}",
           f"ours:     {psh['ours_cmd']}  (layers_pushed {psh['ours_layers_pushed']}, "
           f"layers_existing {psh['ours_layers_existing']})",
           f"baseline: {psh['baseline_cmd']}  ('{EXISTS}' for all {psh['image_layers']} "
           "layers, same digest)",
           f"samples ours {rounded(psh['ours_s'])}",
           f"samples base {rounded(psh['baseline_s'])}",
           f"absolute medians: inv push {fmt(r3(median(psh['ours_s'])), ' s')} (of which "
           f"inside ops.registry.push.push, its JSON 'seconds': "
           f"{fmt(median(psh['ours_inside_push_s']), ' s')}), "
           f"docker push {fmt(r3(median(psh['baseline_s'])), ' s')}"]
    if psh["notes"]:
        out.append(f"samples dropped {len(psh['notes'])}x: " + "; ".join(psh["notes"]))
    if "profile" in psh:
        out += measure_profile.render(psh["profile"])
    return out
