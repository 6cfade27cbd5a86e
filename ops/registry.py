"""A registry's HTTP API (distribution v2): the login round trip and manifest digests."""
import base64
import urllib.error
import urllib.request

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


def request(host, path, auth=None, method="GET", accept=None, timeout=10):
    """(HTTP status, headers) of one registry call; an unreachable registry is an OpsError."""
    call = urllib.request.Request(base_url(host) + path, method=method)
    if auth:
        pair = f"{auth['username']}:{auth['password']}".encode()
        call.add_header("Authorization", "Basic " + base64.b64encode(pair).decode())
    if accept:
        call.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(call, timeout=timeout) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers or {})
    except OSError as exc:
        reason = getattr(exc, "reason", exc)
        raise OpsError(f"registry {host} is unreachable ({reason})",
                       fix="check the address; for the local one: inv registry",
                       anchor="registry-unreachable") from exc


def check_login(host, auth):
    """The /v2/ round trip a `docker login` makes: does the registry accept these credentials?"""
    status, _ = request(host, "/v2/", auth=auth)
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
    status, headers = request(host, f"/v2/{repository}/manifests/{tag}", auth=auth,
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
