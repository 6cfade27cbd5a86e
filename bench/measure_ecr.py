"""A release's ECR calls in one process: one cached boto3 session against a session per call.

    python3 bench/measure_ecr.py [--repeat N] [--json]

moto's server (`python -m moto.server`, a free 127.0.0.1 port, stopped at the end) answers
the ECR API; a repository with one image and a finished scan is seeded once. Each sample is
a new `python` process that makes the calls of `inv release --latest --scan ecr` followed by
`inv images` (RELEASE_CALLS) through ops.registry.ecr.call / .pages, and times only them
(interpreter start and imports excluded, the same for both):
- ours: as the code is, one Session per process and one client per service;
- baseline: the same calls with ecr.client replaced by the old one, which built a new
  boto3 Session (and so re-read botocore's data files) for every call.
Each sample also counts the Sessions it built (1 against one per call), so a baseline that
stopped reproducing the old behaviour is refused. The sides alternate which goes first.
"""
import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

from common import (
    PY,
    ROOT,
    BenchError,
    interleaved,
    median,
    printed,
    r3,
    ratio_row,
    rounded,
    tail,
)

REPOSITORY = "tasky-bench-ecr"
TAG = "release"
TARGET = 0.5   # ours / baseline: the one session's cost spread over the calls, not paid each
# (method, what a release does with it): preflight, push SHA, ECR scan gate, push latest,
# then `inv images`; the token is fetched once (TokenCache) for both pushes.
RELEASE_CALLS = [("describe_repositories", "preflight: the repository exists"),
                 ("get_authorization_token", "preflight: a token for the pushes"),
                 ("describe_repositories", "push SHA: the repository's URI and tag rules"),
                 ("describe_image_scan_findings", "--scan ecr: the gate on the SHA tag"),
                 ("describe_repositories", "push latest: the repository again"),
                 ("describe_images", "inv images: every image, paginated")]
WORKER = """import json, sys, time
sys.path.insert(0, {root!r})
import boto3
from botocore.config import Config
from ops.registry import ecr
from ops.settings import config

made = []
real_session = boto3.Session
def counted(*args, **kwargs):
    made.append(kwargs)
    return real_session(*args, **kwargs)
boto3.Session = counted

def per_call(settings, service="ecr", timeout=10.0, attempts=2, session=None):
    # ops/registry/ecr.py's client() before issue 16: a new Session for every call
    return boto3.Session(profile_name=settings.ecr.profile or None,
                         region_name=settings.ecr.resolved_region).client(service, config=Config(
        connect_timeout=min(timeout, 5), read_timeout=timeout,
        retries={{"total_max_attempts": attempts, "mode": "standard"}}))

if sys.argv[1] == "baseline":
    ecr.client = per_call
s = config.Settings(ecr=config.Ecr(repository={repo!r}))
name, ident = s.ecr.repository, {{"imageTag": {tag!r}}}
started = time.perf_counter()
for method in {methods!r}:
    if method == "describe_images":
        assert ecr.pages(s, method, "imageDetails", repositoryName=name)
    elif method == "describe_image_scan_findings":
        found = ecr.call(s, method, repositoryName=name, imageId=ident)
        assert found["imageScanStatus"]["status"] == "COMPLETE", found["imageScanStatus"]
    elif method == "get_authorization_token":
        ecr.fetch_token(s)
    else:
        ecr.call(s, method, repositoryNames=[name])
print(json.dumps({{"seconds": time.perf_counter() - started, "sessions": len(made)}}))
"""


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def aws_env(port):
    """A shell pointed at moto only: no profile, no real credentials, no metadata service."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    endpoint = f"http://127.0.0.1:{port}"
    env.update(AWS_ACCESS_KEY_ID="bench-key-id", AWS_SECRET_ACCESS_KEY="bench-secret",
               AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL_ECR=endpoint,
               AWS_ENDPOINT_URL_STS=endpoint, AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    return env


@contextlib.contextmanager
def moto_server():
    """moto's server on a free loopback port, in a process of its own (so its work is not
    timed in the bench's process); killed on the way out."""
    port = free_port()
    process = subprocess.Popen([PY, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise BenchError("moto's server did not start (pip install 'moto[server]'):"
                                     f" {(process.stderr.read() or '').strip()[-300:]}") from None
                time.sleep(0.1)
        yield port
    finally:
        process.kill()
        process.wait(timeout=10)


def seed(env):
    """The repository, one image tagged TAG, and a finished scan of it, made untimed."""
    script = f"""import json, boto3
c = boto3.client("ecr")
c.create_repository(repositoryName={REPOSITORY!r})
manifest = {{"schemaVersion": 2, "mediaType":
            "application/vnd.docker.distribution.manifest.v2+json",
            "config": {{"mediaType": "application/vnd.docker.container.image.v1+json",
                        "size": 2, "digest": "sha256:" + "1" * 64}}, "layers": []}}
c.put_image(repositoryName={REPOSITORY!r}, imageManifest=json.dumps(manifest),
            imageTag={TAG!r})
c.start_image_scan(repositoryName={REPOSITORY!r}, imageId={{"imageTag": {TAG!r}}})
"""
    proc = subprocess.run([PY, "-c", script], env=env, capture_output=True, text=True,
                          timeout=60)
    if proc.returncode != 0:
        raise BenchError("seeding moto's ECR failed: " + tail(proc))


def sample(env, side):
    script = WORKER.format(root=str(ROOT), repo=REPOSITORY, tag=TAG,
                           methods=[method for method, _ in RELEASE_CALLS])
    proc = subprocess.run([PY, "-c", script, side], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    if proc.returncode != 0:
        raise BenchError(f"the {side} worker failed: " + tail(proc))
    out = json.loads(proc.stdout)
    expected = 1 if side == "ours" else len(RELEASE_CALLS)
    if out["sessions"] != expected:
        raise BenchError(f"the {side} worker built {out['sessions']} boto3 Sessions for "
                         f"{len(RELEASE_CALLS)} calls, not {expected}")
    return out["seconds"]


def measure(n):
    with moto_server() as port:
        env = aws_env(port)
        seed(env)
        sample(env, "ours")   # untimed: the first process pays for the disk cache
        times = {"ours": [], "baseline": []}
        for i in range(n):
            for side in interleaved(i, ["ours", "baseline"]):
                times[side].append(sample(env, side))
    ours, base = median(times["ours"]), median(times["baseline"])
    return {"moto_port": port, "calls": [method for method, _ in RELEASE_CALLS],
            "ours_s": times["ours"], "baseline_s": times["baseline"],
            "ratio": r3(ours / base) if base else None}


def rows(out):
    ours, base = median(out["ours_s"]), median(out["baseline_s"])
    return [ratio_row("9. a release's ECR calls in one process (s)", ours, base, TARGET)]


def render(out):
    calls = len(out["calls"])
    ours, base = median(out["ours_s"]), median(out["baseline_s"])
    return [f"\n== 9. a release's ECR calls in one process  ({len(out['ours_s'])} interleaved "
            f"samples, each a new process, moto's server on 127.0.0.1:{out['moto_port']})",
            *(f"call {n}: {method} ({why})" for n, (method, why) in
              enumerate(RELEASE_CALLS, start=1)),
            "ours:     ops.registry.ecr as is: one boto3 Session, one client per service",
            "baseline: the same calls, a new boto3 Session for each (ecr.client before issue 16)",
            f"samples ours {rounded(out['ours_s'])}",
            f"samples base {rounded(out['baseline_s'])}",
            f"per call: ours {ours / calls * 1000:.1f} ms, baseline {base / calls * 1000:.1f} ms;"
            f" ratio ours/baseline {out['ratio']}"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    return printed(lambda: measure(args.repeat), render, args.json)


if __name__ == "__main__":
    sys.exit(main())
