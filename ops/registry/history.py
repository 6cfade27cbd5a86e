"""A tag's history in the registry itself: previous-TAG, previous-2-TAG, ... newest first.

The registry is the one state every on-call engineer shares, so the history survives a lost
laptop and `inv images` shows it; push times cannot tell what a tag pointed at after a
promote or a rollback. Moving a tag is GET manifest bytes, PUT them under the tag, read back
(swap).
"""
import time

from ops.core.errors import OpsError
from ops.registry import http_api, target

HISTORY_DEPTH = 3


HISTORY_PREFIX = "previous-"


def history_tags(tag, depth=HISTORY_DEPTH):
    """previous-TAG, previous-2-TAG, ...: where TAG's earlier digests are kept, newest first."""
    return [f"{HISTORY_PREFIX}{tag}"] + [f"{HISTORY_PREFIX}{n}-{tag}"
                                         for n in range(2, depth + 1)]


def is_history_tag(tag):
    return tag.startswith(HISTORY_PREFIX)


def short(digest):
    return digest[7:19] if digest else None


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
    """PUT the manifest bytes under tag (no check: swap() is the move that checks)."""
    body, media_type, _ = found
    http_api.put_manifest(site.host, site.repository, tag, body, media_type, site.auth)


# A registry has no compare-and-swap: a PUT replaces whatever the tag held. A move is
# confirmed by reading the tag back a while after the PUT, longer than a move takes, so a
# concurrent move whose PUT lands just after ours is seen (and ours, not theirs, lost).
SETTLE_MIN, SETTLE_MAX = 0.25, 3.0   # seconds
_clock, _pause = time.monotonic, time.sleep   # replaced by the interleaving tests


def settle(took):
    """Seconds to wait before the read-back: three times what the PUT took, within bounds."""
    return min(SETTLE_MAX, max(SETTLE_MIN, 3 * took))


def swap(site, tag, found):
    """Move tag to found's digest: PUT, settle, read back.

    Returns the digest the tag holds after the settle; anything but found's means someone
    else moved it at the same time (`lost`). Two moves at once cannot both be confirmed
    unless one of them took longer between its read and its PUT than the other's settle.
    """
    started = _clock()
    put(site, tag, found)
    _pause(settle(_clock() - started))
    return current(site, tag)


def lost(site, tag, wanted, now):
    """The one line of the move that lost a race."""
    return OpsError(f"{site.remote}:{tag} was moved by someone else at the same time: now "
                    f"{short(now) or '(no tag)'}, not {short(wanted)}",
                    fix=f"inv images shows where it points; promote again if {short(wanted)} "
                        "should win", anchor="tag-moved-at-the-same-time")


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
    site = site or target.site(settings, registry_kind)
    if immutable(site):
        return dict(result, reason="immutable tags never move: nothing to roll back")
    known = read_history(site, tag)
    wanted = dedupe([old] + known, drop=[new])
    return dict(result, recorded=True, history=write_history(site, tag, wanted, known))
