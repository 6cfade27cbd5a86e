"""`inv promote` and `inv rollback`: move a tag to another image without moving image data.

Both go through the registry's manifest API, the same road `inv push` takes: GET the
manifest by digest (the exact bytes), PUT those bytes under the new tag. The registry
already holds every layer, so nothing but a few kilobytes of JSON crosses the wire, and
the same bytes give the same digest. One path serves ECR (with the ECR token) and the
local registry alike.

A tag's history lives beside it in the registry as tags: previous-TAG, previous-2-TAG, ...
(newest first). The registry is the one state every on-call engineer shares, so the
history survives a lost laptop and `inv images` shows it; push times cannot tell what a
tag pointed at after a promote or a rollback.
"""
import re
import time

from ops.registry import ecr, push, http_api

from ops.core import reference
from ops.core.console import table
from ops.core.errors import OpsError

HISTORY_DEPTH = 3
HISTORY_PREFIX = "previous-"
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def history_tags(tag, depth=HISTORY_DEPTH):
    """previous-TAG, previous-2-TAG, ...: where TAG's earlier digests are kept, newest first."""
    return [f"{HISTORY_PREFIX}{tag}"] + [f"{HISTORY_PREFIX}{n}-{tag}"
                                         for n in range(2, depth + 1)]


def is_history_tag(tag):
    return tag.startswith(HISTORY_PREFIX)


def short(digest):
    return digest[7:19] if digest else None


def target(settings, registry_kind, tokens=None):
    """Where the manifests live: ECR's registry host with a fresh token, or the local one."""
    tokens = tokens or ecr.TokenCache(lambda: ecr.fetch_token(settings))
    return push.resolve_target(settings, registry_kind, False, tokens)


def check_ref(ref):
    """A tag or a sha256: digest, checked before any network call."""
    if (ref or "").startswith("sha256:"):
        if not DIGEST.fullmatch(ref):
            raise OpsError(f"invalid digest {ref!r}: sha256: and 64 lowercase hex digits",
                           fix="copy the full digest from inv images --json", anchor="bad-tag")
        return ref
    return reference.check_tag(ref)


def manifest(site, ref):
    """(bytes, media type, digest) of ref, or a clear refusal when the registry lacks it."""
    found = http_api.get_manifest(site.host, site.repository, ref, site.auth)
    if found is None:
        raise OpsError(f"{site.remote} has no image {ref}", fix="inv images lists the tags and "
                       "digests it holds", anchor="promote-source-missing")
    return found


def current(site, tag):
    return http_api.manifest_digest(site.host, site.repository, tag, site.auth)


def immutable(site):
    return site.mutability == "IMMUTABLE"


def refuse_immutable(site, tag, old, new):
    raise OpsError(f"{site.remote}:{tag} points at {short(old)} and the repository's tags are "
                   f"immutable: it cannot move to {short(new)}", fix="promote to a new tag, or "
                   "deploy by digest", anchor="immutable-tag")


def put(site, tag, found):
    """PUT the manifest bytes under tag and read the tag back: the registry must agree."""
    body, media_type, digest = found
    http_api.put_manifest(site.host, site.repository, tag, body, media_type, site.auth)
    stored = current(site, tag)
    if stored != digest:
        raise OpsError(f"after the move {site.remote}:{tag} reads back as {stored}, not "
                       f"{digest}", fix="someone moved the tag at the same time; run inv images "
                       "and try again", anchor="immutable-tag")
    return stored


def read_history(site, tag):
    return [current(site, slot) for slot in history_tags(tag)]


def write_history(site, tag, wanted, known):
    """Set each history slot to wanted[i] (a digest); known is what the slots hold now.

    Slots past the end of wanted repeat its last entry: a registry cannot drop one tag
    without deleting the image, and a repeated digest reads as one history entry.
    """
    if not wanted:
        return []
    wanted = (wanted + [wanted[-1]] * HISTORY_DEPTH)[:HISTORY_DEPTH]
    cache = {}
    for slot, digest, before in zip(history_tags(tag), wanted, known):
        if digest != before:
            found = cache.get(digest) or manifest(site, digest)
            cache[digest] = found
            put(site, slot, found)
    return dedupe(wanted)


def dedupe(digests, drop=()):
    seen, out = set(drop), []
    for digest in digests:
        if digest and digest not in seen:
            seen.add(digest)
            out.append(digest)
    return out


def record_move(settings, tag, old, new, registry_kind="ecr", site=None):
    """Remember that tag moved from old to new (push and promote call this after a move).

    Returns {"tag", "recorded": bool, "history": [digest, ...] newest first, "reason"}.
    A new tag (old None), a tag that did not move, a history tag itself, or an immutable
    repository (whose tags never move) records nothing.
    """
    result = {"tag": tag, "recorded": False, "history": [], "reason": None}
    if is_history_tag(tag):
        return dict(result, reason="history tags keep no history of their own")
    if old is None or old == new:
        return dict(result, reason="the tag is new or did not move")
    site = site or target(settings, registry_kind)
    if immutable(site):
        return dict(result, reason="immutable tags never move: nothing to roll back")
    known = read_history(site, tag)
    wanted = dedupe([old] + known, drop=[new])
    return dict(result, recorded=True, history=write_history(site, tag, wanted, known))


def move(site, tag, found, progress):
    """Point tag at found's digest; success when it already does. Returns (old, status)."""
    old = current(site, tag)
    digest = found[2]
    if old == digest:
        progress(f"{site.remote}:{tag} already points at {short(digest)}")
        return old, "already there"
    if old and immutable(site):
        refuse_immutable(site, tag, old, digest)
    put(site, tag, found)
    progress(f"{site.remote}:{tag}: {short(old) or '(new tag)'} -> {short(digest)}")
    return old, "moved"


def result_of(site, tag, old, new, status, started, history):
    return {"registry": site.host, "repository": site.repository, "tag": tag,
            "old": old, "new": new, "status": status,
            "reference": f"{site.remote}:{tag}@{new}", "history": history["history"],
            "history_note": history["reason"], "seconds": round(time.monotonic() - started, 2)}


def promote(settings, src, dest, registry_kind="ecr", progress=print, site=None):
    """Point DEST at the image SRC (a tag or sha256: digest) names, moving no image data."""
    check_ref(src)
    reference.check_tag(dest)
    if is_history_tag(dest):
        raise OpsError(f"{dest} is a history tag that promote and rollback manage",
                       fix="promote to a release tag such as latest", anchor="bad-tag")
    started = time.monotonic()
    site = site or target(settings, registry_kind)
    found = manifest(site, src)
    old, status = move(site, dest, found, progress)
    history = record_move(settings, dest, old, found[2], registry_kind, site)
    return dict(result_of(site, dest, old, found[2], status, started, history), source=src)


def rollback(settings, tag="latest", to=None, registry_kind="ecr", progress=print, site=None):
    """Move tag back to the digest it pointed at before (or to TO), and say how to undo it."""
    reference.check_tag(tag)
    if to is not None:
        moved = promote(settings, to, tag, registry_kind, progress, site)
        return dict(moved, undo=f"inv promote {moved['old']} {tag}" if moved["old"] else None)
    started = time.monotonic()
    site = site or target(settings, registry_kind)
    now = current(site, tag)
    if now is None:
        raise OpsError(f"{site.remote}:{tag} does not exist: nothing to roll back",
                       fix="inv images lists the tags", anchor="rollback-no-history")
    known = read_history(site, tag)
    earlier = dedupe(known, drop=[now])
    if not earlier:
        raise OpsError(f"no earlier digest is recorded for {site.remote}:{tag}",
                       fix=f"pick one from inv images and run inv rollback --tag {tag} --to "
                       "sha256:...", anchor="rollback-no-history")
    if immutable(site):
        refuse_immutable(site, tag, now, earlier[0])
    back = earlier[0]
    move(site, tag, manifest(site, back), progress)
    history = write_history(site, tag, earlier[1:] or [back], known)
    return dict(result_of(site, tag, now, back, "rolled back", started,
                          {"history": dedupe(history, drop=[back]), "reason": None}),
                source=f"{HISTORY_PREFIX}{tag}", undo=f"inv promote {now} {tag}")


def render(result):
    rows = [{"what": "tag", "value": f"{result['registry']}/{result['repository']}:"
                                     f"{result['tag']}"},
            {"what": "digest", "value": f"{result['old'] or '(new tag)'} -> {result['new']}"},
            {"what": "status", "value": result["status"]},
            {"what": "history", "value": ", ".join(short(d) for d in result["history"])
             or result.get("history_note") or "-"}]
    if result.get("undo"):
        rows.append({"what": "undo", "value": result["undo"]})
    return table(rows, [("what", result.get("source") and f"from {result['source']}" or ""),
                        ("value", "")])
