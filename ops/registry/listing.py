"""`inv images`: what the repository holds, newest first, and where its release tags point.

ECR answers from describe_images (push time, size, scan status and counts). A plain
registry knows no push time: its images are ordered by the build time in their config,
and they carry no scan results.
"""
import json

from ops.core.console import table
from ops.registry import ecr, history, http_api, target

RELEASE_TAGS = ("latest",)


def release_tags(settings, extra=()):
    """latest, tasky.ecr.release_tags (a list or a comma string) and extra, in that order."""
    configured = settings.ecr.release_tags
    if isinstance(configured, str):
        configured = configured.split(",")
    names = [*RELEASE_TAGS, *configured, *extra]
    return list(dict.fromkeys(n.strip() for n in names if n and n.strip()))


def images(settings, registry_kind="ecr", limit=20, extra_tags=()):
    """{"repository", "where", "images": [...newest first...], "pointers", "history", "total"}."""
    if registry_kind == "ecr":
        found, uri = from_ecr(settings), ecr.repository(settings)["uri"]
    else:
        site = target.site(settings, registry_kind)
        found, uri = from_registry(site), site.remote
    found.sort(key=lambda image: image["pushed_at"] or image.get("created") or "",
               reverse=True)
    by_tag = {tag: image["digest"] for image in found for tag in image["tags"]}
    tracked = release_tags(settings, extra_tags)
    pointers = {tag: by_tag.get(tag) for tag in tracked}
    earlier = {tag: history.dedupe([by_tag.get(slot) for slot in history.history_tags(tag)],
                                   drop=[pointers[tag]]) for tag in tracked}
    for image in found:
        image["release_tags"] = [t for t in tracked if pointers[t] == image["digest"]]
    shown = found[:limit] if limit else found
    return {"repository": uri, "registry_kind": registry_kind, "total": len(found), "images": shown,
            "pointers": pointers, "history": earlier}


def from_ecr(settings):
    """Every image in the repository via describe_images, page by page."""
    details = ecr.pages(settings, "describe_images", "imageDetails",
                        repositoryName=settings.ecr.repository)
    return [ecr_row(detail) for detail in details]


def ecr_row(detail):
    scan = detail.get("imageScanStatus") or {}
    summary = detail.get("imageScanFindingsSummary") or {}
    pushed = detail.get("imagePushedAt")
    size = detail.get("imageSizeInBytes")
    return {"tags": sorted(detail.get("imageTags") or []), "digest": detail["imageDigest"],
            "short": history.short(detail["imageDigest"]),
            "pushed_at": pushed.isoformat() if pushed else None,
            "size_mb": round(size / 1e6, 1) if size is not None else None,
            "media_type": detail.get("imageManifestMediaType"),
            "scan_status": scan.get("status"),
            "scan_counts": dict(summary.get("findingSeverityCounts") or {})}


def from_registry(site):
    """Images of a plain registry: tags/list, a manifest per tag, the config for its date."""
    rows = {}
    for tag in http_api.list_tags(site.host, site.repository, site.auth):
        found = http_api.get_manifest(site.host, site.repository, tag, site.auth)
        if found is None:   # deleted between the listing and now
            continue
        body, media_type, digest = found
        if digest not in rows:
            rows[digest] = registry_row(site, body, media_type, digest)
        rows[digest]["tags"].append(tag)
    for row in rows.values():
        row["tags"].sort()
    return list(rows.values())


def registry_row(site, body, media_type, digest):
    document = json.loads(body)
    if document.get("manifests"):
        return index_row(site, document, media_type, digest)
    layers = document.get("layers") or []
    config = document.get("config") or {}
    size = sum(layer.get("size", 0) for layer in layers) + config.get("size", 0)
    created = None
    if config.get("digest"):
        blob = http_api.get_config(site.host, site.repository, config["digest"], site.auth)
        created = blob.get("created") if blob else None
    return {"tags": [], "digest": digest, "short": history.short(digest), "pushed_at": None,
            "created": created, "size_mb": round(size / 1e6, 1) if layers else None,
            "media_type": media_type, "scan_status": None, "scan_counts": {}}


def index_row(site, document, media_type, digest):
    """An image index: its platforms, the newest build among them and their sizes' sum."""
    children = []
    for entry in document["manifests"]:
        found = http_api.get_manifest(site.host, site.repository, entry["digest"], site.auth)
        if found is not None:
            children.append(registry_row(site, found[0], found[1], entry["digest"]))
    named = [entry.get("platform") or {} for entry in document["manifests"]]
    sizes = [child["size_mb"] for child in children if child["size_mb"] is not None]
    return {"tags": [], "digest": digest, "short": history.short(digest), "pushed_at": None,
            "created": max((c["created"] for c in children if c["created"]), default=None),
            "size_mb": round(sum(sizes), 1) if sizes else None, "media_type": media_type,
            "platforms": ["/".join(p for p in (n.get("os"), n.get("architecture"),
                                                n.get("variant")) if p) for n in named],
            "scan_status": None, "scan_counts": {}}


def render(result):
    rows = [dict(image, tags=", ".join(image["tags"]) or "(untagged)",
                 when=(image["pushed_at"] or image.get("created") or "-")[:19],
                 scan=(image["scan_status"] or "-") + (
                     " " + ", ".join(f"{k}={v}" for k, v in image["scan_counts"].items())
                     if image["scan_counts"] else ""))
            for image in result["images"]]
    when = "pushed" if result["registry_kind"] == "ecr" else "built"
    for row in rows:   # an index: its platforms beside its tags
        if row.get("platforms"):
            row["tags"] += f" (index: {', '.join(row['platforms'])})"
    lines = [table(rows, [("short", "digest"), ("tags", "tags"), ("when", when),
                          ("size_mb", "MB"), ("scan", "scan")]) if rows else "no images"]
    lines.append(f"{result['repository']}: {len(rows)} of {result['total']} images")
    for tag, digest in result["pointers"].items():
        back = ", ".join(history.short(d) for d in result["history"][tag]) or "none recorded"
        lines.append(f"{tag} -> {history.short(digest) or '(not set)'}; before: {back}")
    return "\n".join(lines)
