"""`inv push` and `inv release`: the document's tag-and-push, made safe to run at 3 a.m.

The docker SDK does not raise on push errors (they arrive as stream items), so the
stream is read here and every error becomes a clear failure with its fix. The token
goes to the daemon as auth_config, never through `docker login` or a file.
"""
import re
import time

from ops.core.console import table
from ops.core.errors import OpsError
from ops.core.heartbeat import Heartbeat
from ops.engine.connection import image_or_fail
from ops.registry import ecr, history, http_api, target

TRANSIENT = re.compile(r"connection reset|connection refused|broken pipe|\bEOF\b|i/o timeout|"
                       r"unexpected HTTP status: 5\d\d|50[0-4] |TLS handshake timeout|"
                       r"server gave HTTP response|timeout", re.IGNORECASE)


def choose_tag(git, tag):
    """No flag: latest. Bare --tag: the git SHA tag. --tag VALUE: that tag."""
    if tag is None or tag is False:
        return "latest"
    if tag is True or tag == "":
        return git.tag
    return tag


def refuse_dirty(tag, allow_dirty):
    if tag.endswith("-dirty") and not allow_dirty:
        raise OpsError(f"refusing to push {tag}: it was built from uncommitted changes, so the "
                       "SHA does not say what is inside", fix="commit and rebuild, or pass "
                       "--allow-dirty", anchor="dirty-tag")


def classify(message, site, tag):
    """(transient?, OpsError) for an error item of the push stream."""
    lower = message.lower()
    if "tag invalid" in lower or "cannot be overwritten" in lower or "immutable" in lower:
        return False, immutable_error(site, tag, "another image")
    if "expired" in lower:
        return False, OpsError(f"the registry says the token has expired: {message}",
                               fix="run the push again (a fresh token is fetched)",
                               anchor="token-expired")
    if "name unknown" in lower or "does not exist" in lower:
        return False, OpsError(f"repository {site.repository} does not exist at {site.host}",
                               fix="inv push --create-repo", anchor="ecr-repository-missing")
    if "unauthorized" in lower or "authentication required" in lower or "no basic auth" in lower:
        return False, OpsError(f"registry {site.host} rejected the credentials: {message}",
                               fix="inv login checks the token against the registry; check the "
                                   "account, region and ECR_REGISTRY", anchor="push-denied")
    if "denied" in lower:
        return False, OpsError(f"push denied by {site.host}: {message}",
                               fix=f"grant the identity {ecr.IAM_PUSH}", anchor="push-denied")
    if TRANSIENT.search(message):
        return True, OpsError(f"registry {site.host} is unreachable or failing: {message}",
                              fix="check that the registry is up (inv registry for the local "
                                  "one) and retry", anchor="registry-unreachable")
    return False, OpsError(f"push failed: {message}", fix="read the message",
                           anchor="push-denied")


def immutable_error(site, tag, holder):
    return OpsError(f"{site.remote}:{tag} already exists and points at {holder}; the "
                    "repository's tags are immutable", fix="push a new tag (the git SHA: inv "
                    "push --tag) instead of moving this one", anchor="immutable-tag")


def follow(stream, progress, beat=lambda: None):
    """Read one push stream: per-layer progress, the pushed digest, or the error text."""
    states, shown, digest = {}, {}, None
    for item in stream:
        if item.get("status") not in (None, "Preparing", "Waiting"):
            beat()   # the daemon is moving bytes: no "still waiting" line
        if "error" in item or "errorDetail" in item:
            return None, states, (item.get("errorDetail") or {}).get("message") or item["error"]
        if "Digest" in (item.get("aux") or {}):
            digest = item["aux"]["Digest"]
        layer, status = item.get("id"), item.get("status", "")
        if not layer or " " in layer or status in ("Preparing", "Waiting"):
            continue
        states[layer] = status
        detail = item.get("progressDetail") or {}
        if status == "Pushing" and detail.get("total", 0) > 1e6:   # small layers: just "pushed"
            quarter = min(4, int(4 * detail.get("current", 0) / detail["total"]))
            if shown.get(layer) != quarter:
                shown[layer] = quarter
                progress(f"push: layer {layer} {25 * quarter:3d}% of "
                         f"{detail['total'] / 1e6:.1f} MB")
        elif status in ("Pushed", "Layer already exists") or status.startswith("Mounted"):
            progress(f"push: layer {layer} {status.lower()}")
    return digest, states, None


def untag(engine, ref):
    import docker

    try:
        engine.api.remove_image(ref, noprune=True)
    except docker.errors.NotFound:
        pass   # interrupted before the tag was made


def push_with_retries(engine, site, tag, progress, retries, backoff):
    attempts = 0
    while True:
        attempts += 1
        with Heartbeat(f"push: {site.remote}:{tag}", progress) as heartbeat:
            stream = engine.api.push(site.remote, tag, auth_config=site.auth, stream=True,
                                     decode=True)
            digest, states, error = follow(stream, progress, heartbeat.beat)
        if error is None and digest:
            return digest, states, attempts
        transient, failure = classify(error or "the push ended without a digest", site, tag)
        if not transient or attempts > retries:
            if attempts > 1:
                failure.message += f" (after {attempts} attempts)"
            raise failure
        wait = backoff * 2 ** (attempts - 1)
        progress(f"push: transient failure ({error}); retry {attempts}/{retries} in {wait:g}s")
        time.sleep(wait)


def push(engine, settings, git, tag=None, allow_dirty=False, create_repo=False,
         registry_kind="ecr", progress=print, tokens=None, remember=True):
    """Push IMAGE:TAG to the registry and prove the registry holds the same digest.
    remember=False keeps no rollback history (a platform's image under an index's tag)."""
    tag = choose_tag(git, tag)
    refuse_dirty(tag, allow_dirty)
    image = image_or_fail(engine, f"{settings.image}:{tag}")
    tokens = tokens or ecr.TokenCache(lambda: ecr.fetch_token(settings))
    site = target.resolve_target(settings, registry_kind, create_repo, tokens)
    started = time.monotonic()
    result = {"reference": None, "registry": site.host, "repository": site.repository,
              "tag": tag, "attempts": 0, "layers_pushed": 0, "layers_existing": 0}

    # What the tag points at now: an immutable tag may only be "pushed" again unchanged, and
    # a mutable one keeps its earlier digest in the registry for `inv rollback`.
    try:
        remote_digest = http_api.manifest_digest(site.host, site.repository, tag,
                                                 site.auth)
    except http_api.RegistryUnreachable as error:
        # One that accepts and never answers would keep a push waiting on the same silence.
        if error.silent or site.mutability == "IMMUTABLE":
            raise
        remote_digest = None   # refused or reset: the push retries and says why it fails
    except OpsError:
        if site.mutability == "IMMUTABLE":
            raise
        remote_digest = None   # history only: the push itself retries and says why it fails
    if remote_digest and site.mutability == "IMMUTABLE":
        mine = {d.split("@", 1)[1] for d in image.attrs.get("RepoDigests") or []
                if d.split("@", 1)[0] == site.remote}
        if remote_digest not in mine:
            raise immutable_error(site, tag, remote_digest)
        progress(f"push: {site.remote}:{tag} already holds this image; nothing to push")
        return dict(result, reference=f"{site.remote}:{tag}@{remote_digest}",
                    digest=remote_digest, status="already there",
                    seconds=round(time.monotonic() - started, 2))

    tagged_before = f"{site.remote}:{tag}" in image.tags
    try:   # the tag is made inside: a signal just after it still removes it
        engine.api.tag(image.id, site.remote, tag)
        digest, states, attempts = push_with_retries(engine, site, tag, progress,
                                             settings.ecr.push_retries, settings.ecr.push_backoff)
        stored = http_api.manifest_digest(site.host, site.repository, tag, site.auth)
        if stored != digest:
            raise OpsError(f"the registry holds {stored} for {site.remote}:{tag}, not the "
                           f"pushed {digest}", fix="someone pushed the same tag at the same "
                           "time; push again and check", anchor="immutable-tag")
    except BaseException:
        if not tagged_before:  # leave no local tag naming a push that did not happen
            untag(engine, f"{site.remote}:{tag}")
        raise

    moved = history.record_move(settings, tag, remote_digest if remember else None, digest,
                                registry_kind, site)
    values = list(states.values())
    return dict(result, reference=f"{site.remote}:{tag}@{digest}", digest=digest,
                history=moved["history"],
                status="pushed", attempts=attempts,
                layers_pushed=values.count("Pushed"),
                layers_existing=len(values) - values.count("Pushed"),
                created_repository=site.created,
                seconds=round(time.monotonic() - started, 2))


COLUMNS = [("reference", "pushed"), ("status", "status"), ("layers_pushed", "layers up"),
           ("layers_existing", "already there"), ("attempts", "attempts"), ("seconds", "seconds")]


def render(result):
    return table([result], COLUMNS)
