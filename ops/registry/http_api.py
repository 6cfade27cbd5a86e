"""A registry's HTTP API (distribution v2): login, manifests, blobs and tags."""
import base64
import hashlib
import http.client
import urllib.error
import urllib.parse
import urllib.request

from ops.core import answers
from ops.core.answers import ANY, Maybe
from ops.core.errors import OpsError

MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json"])
MAX_PAGES = 1000   # of `page` tags each: 100,000 tags is far past any real repository
ANCHOR = "registry-answers-wrongly"
# What this tool reads of each answer (ops/registry/listing.py reads manifests and configs).
TAGS = {"tags": Maybe([str])}
DESCRIPTOR = {"digest": str, "size": int, "mediaType": Maybe(str)}
MANIFEST = {"mediaType": Maybe(str), "config": Maybe(DESCRIPTOR),
            "layers": Maybe([DESCRIPTOR]), "manifests": Maybe([DESCRIPTOR])}
CONFIG = {"created": Maybe(str), "config": Maybe(ANY)}


class RegistryUnreachable(OpsError):
    """No HTTP answer at all (refused, reset, timed out): distinct from an HTTP error status.
    silent: it accepted the connection and then said nothing until the timeout."""

    silent = False


def is_loopback(host):
    """Docker treats loopback registries as plain HTTP (127.0.0.0/8 is insecure by default);
    host names compare without case, as the daemon resolves LOCALHOST like localhost."""
    import ipaddress

    name = host.lower()
    name = name[1:name.index("]")] if name.startswith("[") and "]" in name else name.split(":")[0]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def base_url(host):
    return ("http://" if is_loopback(host) else "https://") + host


def request(host, path, auth=None, method="GET", accept=None, timeout=10):
    """(HTTP status, headers) of one registry call; an unreachable registry is an OpsError."""
    status, headers, _ = exchange(host, path, auth, method, accept, timeout=timeout)
    return status, headers


def exchange(host, path, auth=None, method="GET", accept=None, data=None, content_type=None,
             timeout=10):
    """One HTTP round trip: (status, headers, body bytes); only a dead connection raises."""
    call = urllib.request.Request(base_url(host) + path, method=method, data=data)
    if auth:
        pair = f"{auth['username']}:{auth['password']}".encode()
        call.add_header("Authorization", "Basic " + base64.b64encode(pair).decode())
    if accept:
        call.add_header("Accept", accept)
    if content_type:
        call.add_header("Content-Type", content_type)
    from ops.core.heartbeat import Heartbeat

    try:
        with Heartbeat(f"registry {host} {method} {path.split('?')[0]}"), \
                urllib.request.urlopen(call, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers or {}), exc.read() or b""
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # ValueError/InvalidURL: a host that slipped past validation; HTTPException: garbage.
        reason = getattr(exc, "reason", None) or exc
        failure = RegistryUnreachable(f"registry {host} is unreachable ({reason})",
                                      fix="check the address; for the local one: inv registry",
                                      anchor="registry-unreachable")
        failure.silent = isinstance(reason, TimeoutError)   # socket.timeout is TimeoutError
        raise failure from exc


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
        raise OpsError(f"registry {host} rejected the credentials (HTTP 401 reading "
                       f"{repository}:{tag})", fix="inv login checks the token against the "
                       "registry; check the account, region and ECR_REGISTRY",
                       anchor="push-denied")
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
    status, headers, body = exchange(host, f"/v2/{repository}/manifests/{reference}", auth,
                                      accept=MANIFEST_TYPES)
    if status == 404:
        return None
    if status >= 400:
        raise _refused(host, f"reading {repository}@{reference}", status, body)
    document = answers.parse(body, MANIFEST, f"registry {host}'s manifest of "
                             f"{repository}@{reference}", ANCHOR)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    media_type = (_header(headers, "Content-Type") or "").split(";")[0].strip()
    if not media_type or media_type == "application/json":
        media_type = document.get("mediaType") or media_type
    return body, media_type, digest


def put_manifest(host, repository, tag, body, media_type, auth=None):
    """PUT manifest bytes under tag; returns the digest the registry says it stored."""
    status, headers, answer = exchange(host, f"/v2/{repository}/manifests/{tag}", auth,
                                        method="PUT", data=body, content_type=media_type)
    if status >= 400:
        raise _refused(host, f"{repository}:{tag}", status, answer)
    return _header(headers, "Docker-Content-Digest")


def get_blob(host, repository, digest, auth=None):
    """A small blob (an image config) as bytes, or None when absent."""
    status, _, body = exchange(host, f"/v2/{repository}/blobs/{digest}", auth, timeout=30)
    if status == 404:
        return None
    if status >= 400:
        raise _refused(host, f"reading blob {digest[:19]}", status, body)
    return body


def get_config(host, repository, digest, auth=None):
    """An image's config blob as a checked JSON object, or None when absent."""
    body = get_blob(host, repository, digest, auth)
    if body is None:
        return None
    return answers.parse(body, CONFIG, f"registry {host}'s image config {digest[:19]} "
                         f"of {repository}", ANCHOR)


def list_tags(host, repository, auth=None, page=100, timeout=10, max_pages=MAX_PAGES):
    """Every tag of repository, following the registry's Link pagination; [] when absent.

    Bounded: a next link already followed (a registry pointing at itself, or a cycle), a
    link leaving this registry and repository, or more than max_pages pages is one line."""
    tags, path, seen = [], f"/v2/{repository}/tags/list?n={page}", set()
    while path:
        if path in seen:
            raise _paging(host, repository, f"its next link {path} was already followed (a "
                          "loop)")
        if len(seen) >= max_pages:
            raise _paging(host, repository, f"it still had a next page after {max_pages} "
                          f"pages of {page}")
        seen.add(path)
        status, headers, body = exchange(host, path, auth, timeout=timeout)
        if status == 404:
            return tags
        if status >= 400:
            raise _refused(host, f"listing {repository}'s tags", status, body)
        found = answers.parse(body, TAGS, f"registry {host}'s tag list of {repository}",
                              ANCHOR)
        tags += found.get("tags") or []
        path = next_page(host, repository, _header(headers, "Link") or "")
    return tags


def next_page(host, repository, link):
    """The path of the `rel="next"` page a Link header names, or None at the last page; one
    that leaves this registry or this repository's tag list is refused."""
    if 'rel="next"' not in link:
        return None
    target = link.split(";")[0].strip().strip("<>").strip()
    parts = urllib.parse.urlsplit(target)
    if (parts.netloc and parts.netloc.lower() != host.lower()) or \
            parts.path != f"/v2/{repository}/tags/list":
        raise _paging(host, repository, f"its next link {answers.preview(target, 80)} points "
                      f"elsewhere than /v2/{repository}/tags/list on {host}")
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _paging(host, repository, why):
    return OpsError(f"registry {host} pages {repository}'s tags wrongly: {why}",
                    fix="the registry's pagination is broken; report it to whoever runs it",
                    anchor=ANCHOR)
