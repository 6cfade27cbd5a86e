"""`inv clean`: remove what this project made: its containers, images and build caches."""
from ops.core.console import table
from ops.engine import ownership


def clean(engine, settings, everything=False, cache=False, include_bases=False, dry_run=False):
    """Remove this project's containers and images (found by label); list what went."""
    import docker

    scope = [f"{ownership.STARTED}=true"]
    if not everything:
        scope.append(f"{ownership.IMAGE}={settings.image}")
    removed = []
    for container in engine.containers.list(all=True, filters={"label": scope}):
        removed.append({"kind": "container", "name": container.name,
                        "id": container.short_id, "status": container.status})
        if not dry_run:
            container.remove(force=True)
    roles = ["app"] + (["build-stage"] if cache else []) + (["base"] if include_bases else [])
    for role in roles:
        filters = {"label": [f"{ownership.MANAGED}=true", f"{ownership.ROLE}={role}"]}
        if role in ("app", "build-stage") and not everything:
            # Build stages carry the image name too (the Dockerfile's TASKY_IMAGE), so
            # another project's caches on the same engine are never touched.
            filters["label"].append(f"{ownership.IMAGE}={settings.image}")
        if role == "build-stage":
            filters["dangling"] = True
        for image in engine.images.list(filters=filters):
            removed.append({"kind": f"image ({role})", "name": ", ".join(image.tags) or "<none>",
                            "id": image.short_id.split(":")[-1], "status": "removed"})
            if not dry_run:
                try:
                    engine.images.remove(image.id, force=True)
                except docker.errors.NotFound:
                    pass  # a parent removed with its child
                except docker.errors.APIError as exc:   # e.g. 409: a container uses it
                    removed[-1]["status"] = f"kept ({exc.explanation or exc})"[:120]
    if dry_run:
        for row in removed:
            row["status"] = "would remove"
    if cache:
        removed += buildkit_cache(engine, settings, dry_run)
    return removed


def buildkit_cache(engine, settings, dry_run):
    """BuildKit's cache records made by this Dockerfile's RUN lines (Go module and build
    caches, RUN layers): one row with their count and size; other projects' stay."""
    from ops.image import build_cache, buildkit, dockerfile

    if not settings.dockerfile_path.is_file() or not buildkit.available(engine)[0]:
        return []
    text = dockerfile.read(settings.dockerfile_path)
    records = build_cache.project_records(engine, text)
    if not records:
        return []
    size = sum(record.get("Size") or 0 for record in records)
    if dry_run:
        status = f"would free {size / 1e6:.1f} MB"
    else:
        freed = build_cache.prune(engine, dockerfile=text)
        status = f"freed {freed['freed_bytes'] / 1e6:.1f} MB ({freed['deleted']} records)"
    return [{"kind": "BuildKit cache", "name": f"{len(records)} records of "
             f"{settings.dockerfile}'s RUN lines", "id": "-", "status": status}]


def render_clean(rows):
    if not rows:
        return "nothing to remove"
    return table(rows, [("kind", "kind"), ("name", "name"), ("id", "id"), ("status", "status")])
