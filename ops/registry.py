"""Talking to a registry's HTTP API, and running a local one for offline pushes."""
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

from ops import labels
from ops.errors import OpsError

MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json"])


def base_url(host):
    # Docker treats loopback registries as plain HTTP (127.0.0.0/8 is insecure by default).
    loopback = host.startswith(("127.", "localhost", "[::1]"))
    return ("http://" if loopback else "https://") + host


def _request(host, path, auth=None, method="GET", accept=None, timeout=10):
    status, headers, _ = _exchange(host, path, auth, method, accept, timeout=timeout)
    return status, headers


def _exchange(host, path, auth=None, method="GET", accept=None, data=None, content_type=None,
              timeout=10):
    """One HTTP round trip: (status, headers, body bytes); only a dead connection raises."""
    request = urllib.request.Request(base_url(host) + path, method=method, data=data)
    if auth:
        pair = f"{auth['username']}:{auth['password']}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode())
    if accept:
        request.add_header("Accept", accept)
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers or {}), exc.read() or b""
    except OSError as exc:
        reason = getattr(exc, "reason", exc)
        raise OpsError(f"registry {host} is unreachable ({reason})",
                       fix="check the address; for the local one: inv registry",
                       anchor="registry-unreachable") from exc


def check_login(host, auth):
    """The /v2/ round trip a `docker login` makes: does the registry accept these credentials?"""
    status, _ = _request(host, "/v2/", auth=auth)
    if status == 401:
        raise OpsError(f"registry {host} rejected the credentials (HTTP 401)",
                       fix="fetch a fresh token (inv login); check the account and region",
                       anchor="push-denied")
    if status >= 400:
        raise OpsError(f"registry {host} answered /v2/ with HTTP {status}",
                       fix="check the registry address (ECR_REGISTRY)",
                       anchor="registry-unreachable")
    return status


def manifest_digest(host, repository, tag, auth=None):
    """The digest the registry holds for repository:tag, or None when the tag is absent."""
    status, headers = _request(host, f"/v2/{repository}/manifests/{tag}", auth=auth,
                               method="HEAD", accept=MANIFEST_TYPES)
    if status == 404:
        return None
    if status == 401:
        raise OpsError(f"registry {host} refused to read {repository}:{tag} (HTTP 401)",
                       fix="check the credentials (inv login)", anchor="push-denied")
    if status >= 400:
        raise OpsError(f"registry {host} answered HTTP {status} for {repository}:{tag}",
                       fix="retry; check the registry's health", anchor="registry-unreachable")
    return headers.get("Docker-Content-Digest") or headers.get("docker-content-digest")


def _header(headers, name):
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def _refused(host, what, status, body):
    """An HTTP failure of a manifest or tag call as an OpsError; the registry's own words kept."""
    text = body.decode(errors="replace")[:300].strip()
    if status == 401:
        return OpsError(f"registry {host} refused {what} (HTTP 401)",
                        fix="check the credentials (inv login)", anchor="push-denied")
    if status == 403 or "denied" in text.lower():
        return OpsError(f"registry {host} denied {what} (HTTP {status}): {text}",
                        fix="the identity needs ecr:BatchGetImage and ecr:PutImage",
                        anchor="push-denied")
    if "TAG_INVALID" in text or "immutable" in text.lower():
        return OpsError(f"registry {host} will not move {what}: the tag is immutable ({text})",
                        fix="promote to a new tag instead", anchor="immutable-tag")
    return OpsError(f"registry {host} answered HTTP {status} for {what}: {text}",
                    fix="retry; check the registry's health", anchor="registry-unreachable")


def get_manifest(host, repository, reference, auth=None):
    """(body bytes, media type, digest) of repository@reference, or None when absent.

    The bytes are kept exactly as served: the digest is their sha256, so PUTting them
    unchanged elsewhere names the same image.
    """
    status, headers, body = _exchange(host, f"/v2/{repository}/manifests/{reference}", auth,
                                      accept=MANIFEST_TYPES)
    if status == 404:
        return None
    if status >= 400:
        raise _refused(host, f"reading {repository}@{reference}", status, body)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    media_type = (_header(headers, "Content-Type") or "").split(";")[0].strip()
    if not media_type or media_type == "application/json":
        media_type = json.loads(body).get("mediaType", media_type)
    return body, media_type, digest


def put_manifest(host, repository, tag, body, media_type, auth=None):
    """PUT manifest bytes under tag; returns the digest the registry says it stored."""
    status, headers, answer = _exchange(host, f"/v2/{repository}/manifests/{tag}", auth,
                                        method="PUT", data=body, content_type=media_type)
    if status >= 400:
        raise _refused(host, f"{repository}:{tag}", status, answer)
    return _header(headers, "Docker-Content-Digest")


def get_blob(host, repository, digest, auth=None):
    """A small blob (an image config) as bytes, or None when absent."""
    status, _, body = _exchange(host, f"/v2/{repository}/blobs/{digest}", auth, timeout=30)
    if status == 404:
        return None
    if status >= 400:
        raise _refused(host, f"reading blob {digest[:19]}", status, body)
    return body


def list_tags(host, repository, auth=None, page=100):
    """Every tag of repository, following the registry's Link pagination; [] when absent."""
    tags, path = [], f"/v2/{repository}/tags/list?n={page}"
    while path:
        status, headers, body = _exchange(host, path, auth)
        if status == 404:
            return tags
        if status >= 400:
            raise _refused(host, f"listing {repository}'s tags", status, body)
        tags += json.loads(body).get("tags") or []
        link = _header(headers, "Link") or ""
        path = link.split(";")[0].strip("<> ") if 'rel="next"' in link else None
    return tags


# ---- a local registry for trying the push flow without AWS ----------------------------

CONFIG = """version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {addr}
{auth}"""


def write_config(folder, addr, htpasswd=None):
    auth = f"auth:\n  htpasswd:\n    realm: tasky-ops\n    path: {htpasswd}\n" if htpasswd else ""
    os.makedirs(folder / "data", exist_ok=True)
    path = folder / "config.yml"
    path.write_text(CONFIG.format(root=folder / "data", addr=addr, auth=auth))
    return path


def serve(folder, addr, htpasswd=None):
    """Start Debian's docker-registry in the background; return the process once it answers."""
    config = write_config(folder, addr, htpasswd)
    with open(folder / "registry.log", "ab") as log:   # the child keeps its own copy
        process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log,
                                   stderr=log, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise OpsError(f"docker-registry exited at start (see {folder / 'registry.log'})",
                           fix=f"is {addr} already taken? pick another tasky.ecr.local_registry",
                           anchor="registry-unreachable")
        try:
            _request(addr, "/v2/", timeout=1)
            return process
        except OpsError:
            time.sleep(0.1)
    process.kill()
    raise OpsError(f"docker-registry did not answer on {addr} within 10s",
                   fix=f"read {folder / 'registry.log'}", anchor="registry-unreachable")


def answering(addr):
    try:
        _request(addr, "/v2/", timeout=1)
        return True
    except OpsError:
        return False


def start_local(engine, settings):
    """`inv registry`: a plain local registry on loopback, Debian's package or registry:2."""
    addr = settings.ecr.local_registry
    folder = settings.bases.cache_path / "registry"
    if answering(addr):
        return {"registry": addr, "status": "already running", "how": "-", "data": str(folder)}
    folder.mkdir(parents=True, exist_ok=True)
    if shutil.which("docker-registry"):
        process = serve(folder, addr)
        (folder / "pid").write_text(str(process.pid))
        return {"registry": addr, "status": "started",
                "how": f"docker-registry (pid {process.pid})", "data": str(folder / "data")}
    import docker

    host, _, port = addr.rpartition(":")
    try:
        container = engine.containers.run(
            "registry:2", detach=True, name="tasky-ops-registry", labels=labels.for_container(
                "registry"), ports={"5000/tcp": (host, int(port))},
            volumes={str(folder / "data"): {"bind": "/var/lib/registry", "mode": "rw"}})
    except docker.errors.DockerException as exc:
        raise OpsError("no local registry available: docker-registry is not installed and "
                       f"registry:2 cannot be run ({str(exc).splitlines()[0][:160]})",
                       fix="apt-get install docker-registry",
                       anchor="registry-unreachable") from exc
    return {"registry": addr, "status": "started", "how": f"registry:2 ({container.short_id})",
            "data": str(folder / "data")}


def stop_local(engine, settings):
    import docker

    folder = settings.bases.cache_path / "registry"
    pidfile = folder / "pid"
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass
        pidfile.unlink()
        return {"registry": settings.ecr.local_registry, "status": "stopped"}
    try:
        engine.containers.get("tasky-ops-registry").remove(force=True)
        return {"registry": settings.ecr.local_registry, "status": "stopped"}
    except docker.errors.NotFound:
        return {"registry": settings.ecr.local_registry, "status": "not running"}
