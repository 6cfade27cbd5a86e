"""Hostile cases of issue 17's health and races classes, for bench/hostile_pass.py.

    python3 bench/hostile_health_races.py [--image NAME]   (runs them as hostile_pass would)

cases(tmp, canary, image) returns {case: (argv for `inv`, extra env, what the one `error:`
line must name)}. Setting them up, it
- builds fixture images FROM the offline runtime stand-in (`inv bases` first when absent),
  each with a hostile HEALTHCHECK, as tasky-ops/hostile-health:<case>; kept, like the
  stand-ins, so a second pass reuses them (docker rmi removes them). `inv verify` runs each:
  its container is its own, created and removed by the task under test;
- runs three of them as containers for `inv health`, in a process that removes them when
  this process exits (its stdin closes);
- starts one process that holds the container name IMAGE-held (as a running `inv dev`
  would) until this process exits (its stdin closes), so run, dev and demo meet a holder;
- serves a registry on loopback, in a thread of this process, where someone else keeps
  moving the tag: its `latest` names another image whatever is PUT there.
Every case's line is the same on a second run (the holder and the registry stay the same).
"""
import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("health", "races")
FIXTURE = "tasky-ops/hostile-health"
RUNTIME = "tasky-ops/alpine:3.17.0-busybox"
HEALTH_TIMEOUT = "3"   # seconds verify waits: under the 4 s heartbeat, so its lines are stable

# case: (HEALTHCHECK line, CMD): each one that never is healthy, however it looks. Docker's
# own first probe is an hour away (verify shortens it to 1 s), so what Docker says of a
# running fixture stays "starting" for the whole pass and every line stays the same.
HEALTHCHECKS = {
    "hang": ("--interval=1h --timeout=1s --retries=1 CMD sleep 40", '["sleep", "600"]'),
    "late-pass": ("--interval=1h --timeout=1s --retries=1 CMD sleep 2", '["sleep", "600"]'),
    "fails": ("--interval=1h --timeout=2s --retries=1 CMD exit 1", '["sleep", "600"]'),
    "exits": ("--interval=1h --timeout=2s CMD true", '["true"]'),
    "none": ("NONE", '["sleep", "600"]'),
}
RUNNING = ("hang", "late-pass", "exits")   # also run as containers `inv health` looks at
_keep = []   # the holder process and the registry server live as long as this process


def _settings_text():
    import yaml

    tasky = yaml.safe_load((ROOT / "invoke.yaml").read_text())["tasky"]
    return tasky["wizexercise"], tasky["app_user"]


def _context(healthcheck, command):
    """A build context: the runtime stand-in, the document's file and user, a HEALTHCHECK."""
    text, user = _settings_text()
    files = {"Dockerfile": f"FROM {RUNTIME}\nCOPY passwd /etc/passwd\n"
                           f"COPY wizexercise.txt /app/wizexercise.txt\nUSER 1000:1000\n"
                           f"HEALTHCHECK {healthcheck}\nCMD {command}\n",
             "passwd": f"root:x:0:0:root:/root:/bin/sh\n{user}:x:1000:1000::/app:/bin/sh\n",
             "wizexercise.txt": text + "\n"}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, body in files.items():
            data = body.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def build_fixtures():
    import docker

    engine = docker.from_env()
    try:
        engine.images.get(RUNTIME)
    except docker.errors.ImageNotFound:
        subprocess.run([sys.executable, "-m", "invoke", "bases"], cwd=ROOT, check=True,
                       capture_output=True)
    for case, (healthcheck, command) in HEALTHCHECKS.items():
        engine.images.build(fileobj=_context(healthcheck, command), custom_context=True,
                            tag=f"{FIXTURE}:{case}", rm=True, forcerm=True,
                            labels={"org.tasky-ops.managed": "true",
                                    "org.tasky-ops.role": "hostile-fixture"})


HOLDER = """import sys
from ops.engine import locks
with locks.holding(sys.argv[1], "dev"):
    print("held", flush=True)
    sys.stdin.read()
"""


def hold(name):
    """A process holding container name `name` as `inv dev` would, until our stdin closes."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, name], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "held":
        raise RuntimeError(f"could not hold {name}")
    _keep.append(proc)
    return proc.pid


KEEPER = """import json, sys, docker
engine, ids = docker.from_env(), []
try:
    for name, ref in json.loads(sys.argv[1]):
        ids.append(engine.containers.run(ref, name=name, detach=True, labels={
            "org.tasky-ops.managed": "true", "org.tasky-ops.role": "hostile-fixture"}).id)
    print("up", flush=True)
    sys.stdin.read()
finally:
    for found in ids:
        engine.api.remove_container(found, force=True)
"""


def keep_running(containers):
    """Start {name: image} in a process that removes them when our stdin closes: when this
    process ends, however it ends."""
    proc = subprocess.Popen([sys.executable, "-c", KEEPER, json.dumps(list(containers.items()))],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "up":
        raise RuntimeError("could not start the fixture containers")
    _keep.append(proc)


def manifest(name):
    body = json.dumps({"schemaVersion": 2, "mediaType": MEDIA, "name": name}).encode()
    return body, "sha256:" + hashlib.sha256(body).hexdigest()


MEDIA = "application/vnd.docker.distribution.manifest.v2+json"
WANTED, THEIRS, BEFORE = manifest("ours"), manifest("theirs"), manifest("before")


class Contested(http.server.BaseHTTPRequestHandler):
    """Repository `hostile`: `release` is ours; `latest` always names someone else's image
    (THEIRS), before and after any PUT; `previous-latest` names the one before (BEFORE)."""

    tags = {"release": WANTED, "latest": THEIRS, "previous-latest": BEFORE}

    def log_message(self, *args):
        pass

    def _found(self):
        reference = self.path.rsplit("/manifests/", 1)[-1]
        for body, digest in (*self.tags.values(),):
            if reference == digest:
                return body, digest
        return self.tags.get(reference)

    def do_HEAD(self, send_body=False):
        found = self._found() if "/v2/hostile/manifests/" in self.path else None
        if self.path == "/v2/":
            found = (b"{}", None)
        if found is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body, digest = found
        self.send_response(200)
        self.send_header("Content-Type", MEDIA)
        if digest:
            self.send_header("Docker-Content-Digest", digest)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def do_GET(self):
        self.do_HEAD(send_body=True)

    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(201)
        self.send_header("Docker-Content-Digest", "sha256:" + hashlib.sha256(body).hexdigest())
        self.send_header("Content-Length", "0")
        self.end_headers()   # accepted, and at once moved again by "someone else"


def contested_registry():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Contested)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _keep.append(server)
    return f"127.0.0.1:{server.server_address[1]}"


def cases(tmp, canary, image):
    build_fixtures()
    found = {}
    secret = ["-e", f"JWT_SECRET={canary}"]
    health_env = {"INVOKE_TASKY_IMAGE": FIXTURE, "INVOKE_TASKY_HEALTH_TIMEOUT": HEALTH_TIMEOUT}
    for case, what in (("hang", "sleeps past its timeout"),
                       ("late-pass", "passes, but only after its timeout"),
                       ("fails", "always fails"), ("exits", "passes on an exited container"),
                       ("none", "is absent")):
        found[f"health: verify, HEALTHCHECK {what}"] = (
            ["verify", "--tag", case, *secret], health_env, "becomes healthy")
    # Named without IMAGE (hostile_pass counts what carries it as orphans at its end, before
    # the keeper removes these), with this process's pid, so two passes never share one.
    running = {case: f"hostile-health-{case}-{os.getpid()}" for case in RUNNING}
    keep_running({name: f"{FIXTURE}:{case}" for case, name in running.items()})
    late = "the health command gave no answer within the HEALTHCHECK's 1s timeout"
    for case, what, said in (("hang", "hangs", late), ("late-pass", "passes too late", late),
                             ("exits", "passes on an exited container", "container is exited")):
        found[f"health: HEALTHCHECK {what}"] = (["health", "--name", running[case]], {}, said)
    found["health: --wait --timeout 3, HEALTHCHECK hangs"] = (
        ["health", "--name", running["hang"], "--wait", "--timeout", "3"], {},
        f"not healthy after 3s: {late}")
    found["health: --wait --timeout 3, HEALTHCHECK passes too late"] = (
        ["health", "--name", running["late-pass"], "--wait", "--timeout", "3"], {},
        f"not healthy after 3s: {late}")
    found["health: --wait on a container that is not there"] = (
        ["health", "--name", f"{image}-absent", "--wait", "--timeout", "3"], {},
        f"no container named {image}-absent")

    held = f"{image}-held"
    pid = hold(held)
    holder = f"in use by pid {pid} (inv dev)"
    found["races: run on a name a running dev holds"] = (
        ["run", "--name", held, *secret], {}, holder)
    found["races: dev on a name a running dev holds"] = (
        ["dev", "--name", held, *secret], {}, holder)
    found["races: demo on a name a running dev holds"] = (
        ["demo"], {"INVOKE_TASKY_CONTAINER": held}, holder)

    registry = {"INVOKE_TASKY_ECR_LOCAL_REGISTRY": contested_registry(),
                "INVOKE_TASKY_ECR_REPOSITORY": "hostile"}
    moved = f"moved by someone else at the same time: now {THEIRS[1][7:19]}"
    found["races: promote while someone else moves the tag"] = (
        ["promote", "release", "latest", "--registry", "local"], registry, moved)
    found["races: rollback while someone else moves the tag"] = (
        ["rollback", "--registry", "local"], registry, moved)
    return found


def main():
    """Run the cases as bench/hostile_pass.py does (twice, four at a time), print counts."""
    import argparse
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    sys.path.insert(0, str(ROOT))
    import hostile_pass

    parser = argparse.ArgumentParser()
    parser.add_argument("--image", default="hz-harden")
    image = parser.parse_args().image
    counts = {"tried": 0, "held": 0}
    with tempfile.TemporaryDirectory(prefix="hz-hostile-17-") as tmp:
        found = cases(Path(tmp), hostile_pass.CANARY, image)
        with ThreadPoolExecutor(max_workers=4) as pool:
            runs = [dict(zip(found, pool.map(
                lambda k: hostile_pass.run(found[k][0], found[k][1], image), found)))
                for _ in range(2)]
    for key, (_, _, text) in found.items():
        counts["tried"] += 1
        first, again = (runs[0][key], runs[1][key])
        verdict = hostile_pass.classify(first, text)
        if verdict == "held" and (hostile_pass.classify(again, text) != "held"
                                  or first.stderr != again.stderr):
            verdict = "race"
        counts["held"] += verdict == "held"
        print(f"{verdict:9} {key}" + ("" if verdict == "held" else
                                      f": {(first.stderr if first else '')[-300:]}"))
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    return 0 if counts["held"] == counts["tried"] else 1


if __name__ == "__main__":
    sys.exit(main())
