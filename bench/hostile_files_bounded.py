"""Hostile cases of issue 17's files and bounded classes, for the hostile pass's classifier.

    python3 bench/hostile_files_bounded.py [--image NAME]   (NAME:latest need not exist)

cases(tmp, canary, image) returns {case: (argv for `inv`, extra env, text the one `error:`
line must name)}. What the cases need is started here and lives as long as this process:
fake registries on loopback (tests/fake_registry.py: a Link loop, a cycle, another host,
endless pages, HTML, cut JSON, a wrong shape, an HTML manifest, a stall), moto's ECR for
`inv login`, FIFOs, sockets and devices as inputs, and (as root) a full and a read-only tmpfs,
unmounted at exit. main() runs each case twice at once and classifies as hostile_pass does.
"""
import argparse
import atexit
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fake_registry import BEHAVIOURS, FakeRegistry  # noqa: E402
from tests.support import free_port  # noqa: E402

CLASSES = ("files", "bounded")
_KEEP = []   # servers and sockets the cases need, kept alive for the process


def cases(tmp, canary, image):
    tmp = Path(tmp)
    found = {}
    found.update(_registries())
    found.update(_inputs(tmp, canary))
    found.update(_filesystems(tmp, canary))
    return found


def _registries():
    """inv images against a registry answering wrongly in each way: one line naming it."""
    says = {"self-link": " pages", "cycle": " pages", "elsewhere": " pages",
            "endless": " pages", "html": "'s tag list", "malformed": "'s tag list",
            "wrong-shape": "'s tag list", "bad-manifest": "'s manifest of",
            "stall": " is unreachable (timed out)"}
    found = {}
    for behaviour in BEHAVIOURS:
        registry = FakeRegistry(behaviour).start()
        _KEEP.append(registry)
        found[f"bounded: registry {BEHAVIOURS[behaviour]}"] = (
            ["images", "--registry", "local", "--json"],
            {"INVOKE_TASKY_ECR_LOCAL_REGISTRY": registry.addr},
            f"registry {registry.addr}{says[behaviour]}")
    return found


def _inputs(tmp, canary):
    """An env file, the profile's env file, .dockerignore or Dockerfile that is no file."""
    fifo = tmp / "fifo.env"
    os.mkfifo(fifo)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp / "sock.env"))
    _KEEP.append(sock)
    folder = tmp / "folder.env"
    folder.mkdir()
    found = {}
    for name, path, kind in (("a FIFO", fifo, "is a FIFO"),
                             ("a socket", tmp / "sock.env", "is a socket"),
                             ("/dev/zero", Path("/dev/zero"), "is a character device"),
                             ("a folder", folder, "is a folder")):
        found[f"bounded: --env-file is {name}"] = (["run", "--env-file", str(path)], {},
                                                   f"env file {path} {kind}")
    found["bounded: the profile's env file is a FIFO"] = (
        ["run", "-e", f"JWT_SECRET={canary}"], {"INVOKE_TASKY_APP_ENV_FILE": str(fifo)},
        f"env file {fifo} is a FIFO")
    app = tmp / "repo" / "app"
    shutil.copytree(ROOT / "app", app, ignore=shutil.ignore_patterns(".dockerignore"))
    subprocess.run(["git", "init", "-q", str(app.parent)], check=True)
    subprocess.run(["git", "-C", str(app.parent), "-c", "user.name=h", "-c", "user.email=h@h",
                    "commit", "-q", "--allow-empty", "-m", "hostile"], check=True)
    os.mkfifo(app / ".dockerignore")
    found["bounded: .dockerignore is a FIFO"] = (
        ["build", "--offline", "--quiet"], {"INVOKE_TASKY_CONTEXT": str(app)},
        f".dockerignore {app / '.dockerignore'} is a FIFO")
    dockerfile = tmp / "Dockerfile.fifo"
    os.mkfifo(dockerfile)
    found["bounded: the Dockerfile is a FIFO"] = (
        ["build", "--offline"], {"INVOKE_TASKY_DOCKERFILE": str(dockerfile)},
        f"Dockerfile {dockerfile} is a FIFO")
    broken = tmp / "docker-broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"auths": {"x": {"auth": "' + canary)
    found.update(_login("files: docker config.json is not JSON", broken,
                        f"docker config {broken / 'config.json'} is not valid JSON"))
    return found


_AWS = {}


def _login(name, folder, says):
    """inv login --docker-config against moto's ECR and a registry whose /v2/ says yes."""
    if not _AWS:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError:
            return {}
        import logging

        logging.getLogger("werkzeug").setLevel(logging.ERROR)   # moto's request log
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        registry = FakeRegistry("bad-manifest").start()   # its /v2/ accepts any login
        _KEEP.extend([server, registry])
        endpoint = f"http://127.0.0.1:{port}"
        _AWS.update({"AWS_ACCESS_KEY_ID": "hostile", "AWS_SECRET_ACCESS_KEY": "hostile-key",
                     "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_ECR": endpoint,
                     "AWS_ENDPOINT_URL_STS": endpoint, "AWS_EC2_METADATA_DISABLED": "true",
                     "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                     "ECR_REGISTRY": registry.addr})
    return {name: (["login", "--docker-config"], {**_AWS, "DOCKER_CONFIG": str(folder)}, says)}


def _filesystems(tmp, canary):
    """A full and a read-only filesystem under the docker config and the local registry's
    folder (root only: skipped otherwise)."""
    found = {}
    full = _tmpfs("size=64k")
    if full is None:
        return found
    config = full / "docker" / "config.json"
    config.parent.mkdir()
    others = {f"r{n}.example": {"auth": "dXNlcjpwYXNzd29yZA=="} for n in range(400)}
    config.write_text(json.dumps({"auths": others}, indent=2))
    (full / "cache").mkdir()
    free = os.statvfs(full)
    (full / "filler").write_bytes(b"\0" * (free.f_bavail * free.f_frsize - 2048))
    found.update(_login("files: docker config on a full filesystem", config.parent,
                        f"(no space left): filesystem {full},"))
    found["files: the local registry's config on a full filesystem"] = (
        ["registry"], {"INVOKE_TASKY_BASES_CACHE_DIR": str(full / "cache"),
                       "INVOKE_TASKY_ECR_LOCAL_REGISTRY": f"127.0.0.1:{free_port()}"},
        f"(no space left): filesystem {full},")
    readonly = _tmpfs("size=64k", prepare=lambda folder: (folder / "config.json").write_text(
        '{"auths": {}}'))
    if readonly is not None:
        found.update(_login("files: docker config on a read-only filesystem", readonly,
                            f"(read-only): filesystem {readonly},"))
    return found


def _tmpfs(options, prepare=None):
    folder = Path(tempfile.mkdtemp(prefix="tasky-hostile-fs-"))
    if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:
        folder.rmdir()
        return None
    atexit.register(lambda: (subprocess.run(["umount", "-l", str(folder)], check=False),
                             folder.rmdir()))
    if prepare:
        prepare(folder)
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
    return folder


def main():
    from concurrent.futures import ThreadPoolExecutor

    import hostile_pass

    parser = argparse.ArgumentParser()
    parser.add_argument("--image", default="hz-harden")
    parser.add_argument("--show", action="store_true", help="print every case's last words")
    args = parser.parse_args()
    image, show = args.image, args.show
    canary = hostile_pass.CANARY
    with tempfile.TemporaryDirectory(prefix="hz-hostile-fb-") as tmp:
        found = cases(Path(tmp), canary, image)
        keys = list(found)
        with ThreadPoolExecutor(max_workers=4) as pool:
            first = list(pool.map(lambda k: hostile_pass.run(*found[k][:2], image), keys))
            again = list(pool.map(lambda k: hostile_pass.run(*found[k][:2], image), keys))
    counts, failures = {}, []
    for key, one, two in zip(keys, first, again):
        verdict = hostile_pass.classify(one, found[key][2])
        if verdict == "held" and hostile_pass.classify(two, found[key][2]) != "held":
            verdict = "race"
        counts[verdict] = counts.get(verdict, 0) + 1
        if verdict != "held" or show:
            failures.append(f"{verdict}: {key}: {(one.stderr[-300:] if one else '')}")
    print(f"tried={len(keys)} " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    print("\n".join(failures))
    return 0 if counts.get("held", 0) == len(keys) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main())
