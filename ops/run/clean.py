"""`inv clean`: remove what this checkout made: its containers, images and build caches.

What is "made here" is ops/engine/ownership.py's rule and nothing else: the engine id is in
this checkout's ownership record. Labels only find what to mention as left alone.
"""
from ops.core.console import table
from ops.engine import ownership


def clean(engine, settings, everything=False, cache=False, include_bases=False, dry_run=False,
          progress=None):
    """Remove this checkout's containers and images (tasky.image's, or all with
    `everything`); list what went. What carries our labels without being ours is left
    alone and counted in one progress line that says how to remove it by hand.

    The engine's lists are read as summaries (one call each, no inspect per object): on a
    shared engine an object someone else removes meanwhile is not an error."""
    import docker

    ledger = ownership.Ledger.of(settings)
    api = engine.api

    def mine(entry):
        return entry is not None and (everything or entry.get("image") == settings.image)

    removed, gone = [], {"container": [], "image": []}
    for container in api.containers(all=True):
        if not mine(ledger.entry("container", container["Id"])):
            continue
        removed.append({"kind": "container", "name": _name(container),
                        "id": container["Id"][:12], "status": container.get("State", "?")})
        if not dry_run:
            try:
                api.remove_container(container["Id"], force=True)
            except docker.errors.NotFound:
                pass
            gone["container"].append(container["Id"])
    roles = ["app"] + (["build-stage"] if cache else []) + (["base"] if include_bases else [])
    for role in roles:
        # The classic builder's build stage: its last image, which nothing is built on.
        listed = api.images(filters={"dangling": True}) if role == "build-stage" else api.images()
        for image in listed:
            entry = ledger.entry("image", image["Id"])
            if entry is None or entry.get("role") != role or (role != "base" and not mine(entry)):
                continue
            tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
            removed.append({"kind": f"image ({role})", "name": ", ".join(tags) or "<none>",
                            "id": image["Id"].split(":")[-1][:12], "status": "removed"})
            if not dry_run:
                try:
                    said = api.remove_image(image["Id"], force=True) or []
                    # The untagged parents that went with it (a classic build's steps) too.
                    gone["image"] += [image["Id"]] + [e["Deleted"] for e in said
                                                      if isinstance(e, dict) and "Deleted" in e]
                except docker.errors.NotFound:
                    gone["image"].append(image["Id"])   # a parent removed with its child
                except docker.errors.APIError as exc:   # e.g. 409: a container uses it
                    removed[-1]["status"] = f"kept ({exc.explanation or exc})"[:120]
    for kind, ids in gone.items():
        ledger.forget(kind, ids)
    if dry_run:
        for row in removed:
            row["status"] = "would remove"
    if cache:
        removed += buildkit_cache(engine, settings, ledger, everything, dry_run)
    left = unproven(api, settings, ledger, everything, roles)
    if left:
        (progress or _stderr)(left)
    return removed


def _name(container):
    names = container.get("Names") or ["?"]
    return names[0].lstrip("/")


def buildkit_cache(engine, settings, ledger, everything, dry_run):
    """The BuildKit cache records this checkout's builds recorded (Go module and build
    caches, the build stage's RUN layers): one row with their count and size."""
    from ops.image import build_cache

    # The records of every scope this checkout built with (inv build leaves finding them to
    # here): the scope is derived from this checkout's key and the image name.
    names = {entry.get("image") for kind in ("image", "cache")
             for entry in ledger.entries(kind).values() if entry.get("image")}
    for name in sorted(names | {settings.image}):
        if everything or name == settings.image:
            build_cache.record_made(engine, ledger, ledger.cache_scope(name), name)
    wanted = {record_id for record_id, entry in ledger.entries("cache").items()
              if everything or entry.get("image") == settings.image}
    if not wanted:
        return []
    records = [r for r in build_cache.all_records(engine) if r["ID"] in wanted]
    ledger.forget("cache", sorted(wanted - {r["ID"] for r in records}))   # already gone
    if not records:
        return []
    size = sum(record.get("Size") or 0 for record in records)
    if dry_run:
        status = f"would free {size / 1e6:.1f} MB"
    else:
        freed = build_cache.prune_records(engine, records)
        ledger.forget("cache", freed["ids"])
        status = f"freed {freed['freed_bytes'] / 1e6:.1f} MB ({freed['deleted']} records)"
    whose = "this checkout's builds" if everything else f"{settings.image}'s builds here"
    return [{"kind": "BuildKit cache", "name": f"{len(records)} records of {whose}",
             "id": "-", "status": status}]


def unproven(api, settings, ledger, everything, roles):
    """One line on what carries our labels but is not in the record (made before records
    were kept, by another checkout, or derived from ours), and how to remove it by hand."""
    scope = [f"{ownership.MANAGED}=true"] + ([] if everything else
                                             [f"{ownership.IMAGE}={settings.image}"])
    containers = [c for c in api.containers(all=True, filters={"label": scope})
                  if not ledger.owns("container", c["Id"])]
    images = []
    for role in roles:
        labels = [f"{ownership.MANAGED}=true", f"{ownership.ROLE}={role}"]
        if role != "base" and not everything:
            labels.append(f"{ownership.IMAGE}={settings.image}")
        images += [i for i in api.images(filters={"label": labels})
                   if not ledger.owns_image(i["Id"])]
    if not containers and not images:
        return None
    label = ownership.MANAGED if everything else f"{ownership.IMAGE}={settings.image}"
    return (f"clean: left alone {len(containers)} container(s) and {len(images)} image(s) "
            "that carry tasky-ops labels but are not in this checkout's ownership record "
            f"({ledger.path}): made before records were kept, by another checkout, or built "
            "from ours. If you know they are yours, remove them by hand: "
            f"docker ps -a --filter label={label} then docker rm -f ID; "
            f"docker images --filter label={label} then docker rmi ID")


def _stderr(line):
    from ops.core.console import progress

    progress(line)


def render_clean(rows):
    if not rows:
        return "nothing to remove"
    return table(rows, [("kind", "kind"), ("name", "name"), ("id", "id"), ("status", "status")])
