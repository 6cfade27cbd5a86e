"""`inv promote` and `inv rollback`: move a tag to another image without moving image data.

Both go through the registry's manifest API, the same road `inv push` takes: GET the
manifest by digest (the exact bytes), PUT those bytes under the new tag. The registry
already holds every layer, so nothing but a few kilobytes of JSON crosses the wire, and
the same bytes give the same digest. One path serves ECR (with the ECR token) and the
local registry alike.

A tag's earlier digests are kept beside it in the registry (ops/registry/history.py).
"""
import time

from ops.core.console import table
from ops.core.errors import OpsError
from ops.registry import history, target


def move(site, tag, found, progress):
    """Point tag at found's digest. Returns (old, status): "already there" only when the tag
    pointed at it before this call; "moved" when the read-back confirms ours. A move that
    lost to someone else's at the same time is one OpsError naming where the tag is now."""
    old = history.current(site, tag)
    digest = found[2]
    if old == digest:
        progress(f"{site.remote}:{tag} already points at {history.short(digest)}")
        return old, "already there"
    if old and history.immutable(site):
        history.refuse_immutable(site, tag, old, digest)
    now = history.swap(site, tag, found)
    if now != digest:
        raise history.lost(site, tag, digest, now)
    before = history.short(old) or "(new tag)"
    progress(f"{site.remote}:{tag}: {before} -> {history.short(digest)}")
    return old, "moved"


def result_of(site, tag, old, new, status, started, moved):
    return {"registry": site.host, "repository": site.repository, "tag": tag,
            "old": old, "new": new, "status": status,
            "reference": f"{site.remote}:{tag}@{new}", "history": moved["history"],
            "history_note": moved["reason"], "seconds": round(time.monotonic() - started, 2)}


def promote(settings, src, dest, registry_kind="ecr", progress=print, site=None):
    """Point DEST at the image SRC (a tag or sha256: digest) names, moving no image data."""
    if history.is_history_tag(dest):
        raise OpsError(f"{dest} is a history tag that promote and rollback manage",
                       fix="promote to a release tag such as latest", anchor="bad-tag")
    started = time.monotonic()
    site = site or target.site(settings, registry_kind)
    found = history.manifest(site, src)
    old, status = move(site, dest, found, progress)
    moved = history.record_move(settings, dest, old, found[2], registry_kind, site)
    return dict(result_of(site, dest, old, found[2], status, started, moved), source=src)


def rollback(settings, tag="latest", to=None, registry_kind="ecr", progress=print, site=None):
    """Move tag back to the digest it pointed at before (or to TO), and say how to undo it."""
    if to is not None:
        moved = promote(settings, to, tag, registry_kind, progress, site)
        return dict(moved, undo=f"inv promote {moved['old']} {tag}" if moved["old"] else None)
    started = time.monotonic()
    site = site or target.site(settings, registry_kind)
    now = history.current(site, tag)
    if now is None:
        raise OpsError(f"{site.remote}:{tag} does not exist: nothing to roll back",
                       fix="inv images lists the tags", anchor="rollback-no-history")
    known = history.read_history(site, tag)
    earlier = history.dedupe(known, drop=[now])
    if not earlier:
        raise OpsError(f"no earlier digest is recorded for {site.remote}:{tag}",
                       fix=f"pick one from inv images and run inv rollback --tag {tag} --to "
                       "sha256:...", anchor="rollback-no-history")
    if history.immutable(site):
        history.refuse_immutable(site, tag, now, earlier[0])
    back = earlier[0]
    move(site, tag, history.manifest(site, back), progress)
    kept = history.write_history(site, tag, earlier[1:] or [back], known)
    return dict(result_of(site, tag, now, back, "rolled back", started,
                          {"history": history.dedupe(kept, drop=[back]), "reason": None}),
                source=f"{history.HISTORY_PREFIX}{tag}", undo=f"inv promote {now} {tag}")


def render(result):
    rows = [{"what": "tag", "value": f"{result['registry']}/{result['repository']}:"
                                     f"{result['tag']}"},
            {"what": "digest", "value": f"{result['old'] or '(new tag)'} -> {result['new']}"},
            {"what": "status", "value": result["status"]},
            {"what": "history", "value": ", ".join(history.short(d) for d in result["history"])
             or result.get("history_note") or "-"}]
    if result.get("undo"):
        rows.append({"what": "undo", "value": result["undo"]})
    return table(rows, [("what", result.get("source") and f"from {result['source']}" or ""),
                        ("value", "")])
