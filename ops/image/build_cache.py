"""BuildKit's build cache: the records this project's Dockerfile made, and pruning them (`inv clean
--cache`) without touching another project's."""
import re

from ops.core.errors import OpsError
from ops.image import dockerfile as dockerfile_text

# How BuildKit describes the record of a RUN step (20.10): the only handle on it.
RUN_RECORD = re.compile(r"^(?:cached )?mount \S+ from exec /bin/sh -c (.*)$", re.S)


def prune(engine, keep_storage=None, filters=None, dockerfile=None):
    """Remove BuildKit build cache (POST /build/prune); returns what went and its size.

    With `dockerfile` (the Dockerfile's text) only this project's records go: the cache
    mounts and RUN layers whose descriptions name one of its RUN commands, one request
    per record, by id. Engine 20.10 shows neither a cache mount's `id=` nor labels on
    cache records and takes one value per filter, so the description is the only handle.
    Without it, `filters` (Docker's: until, type, description, inuse, shared, private,
    id, parent) and `keep_storage` (bytes to keep) apply to the whole engine's cache.
    """
    import docker

    api = engine.api
    try:
        if dockerfile is None:
            return _pruned([_prune_once(api, filters, keep_storage)], scope="engine")
        if keep_storage is not None:
            raise OpsError("keep_storage applies to the whole engine's cache, not to one "
                           "project's records", fix="pass dockerfile or keep_storage, not both",
                           anchor="build-fails")
        mine = project_records(engine, dockerfile)
        results = [_prune_once(api, {**(filters or {}), "id": record["ID"]}, None)
                   for record in mine]
        return _pruned(results, scope="project", matched=len(mine))
    except docker.errors.APIError as exc:
        reason = (exc.explanation or str(exc)).strip()
        raise OpsError(f"the engine refused to prune the build cache: {reason[:300]}",
                       fix="check the filters (one value each)", anchor="build-fails") from exc


def _prune_once(api, filters, keep_storage):
    # docker-py's own POST /build/prune; it sends only the parameters given.
    return api.prune_builds(filters=filters or None, keep_storage=keep_storage)


def _pruned(results, scope, matched=None):
    deleted = [cache_id for result in results for cache_id in result.get("CachesDeleted") or []]
    report = {"freed_bytes": sum(result.get("SpaceReclaimed") or 0 for result in results),
              "deleted": len(deleted), "ids": deleted, "scope": scope}
    if matched is not None:
        report["matched"] = matched
    return report


def project_records(engine, dockerfile):
    """The build-cache records (GET /system/df) this Dockerfile's RUN lines made, with the
    records built on top of them, children before parents: the order a prune needs, as
    BuildKit keeps a record while another one names it as parent."""
    commands = dockerfile_text.run_commands(dockerfile)
    records = engine.api.df().get("BuildCache") or []
    children = {}
    for record in records:
        # API 1.41 names one Parent; later engines list Parents.
        for parent in record.get("Parents") or [record.get("Parent")]:
            children.setdefault(parent, []).append(record)
    ordered, seen = [], set()

    def take(record):
        if record["ID"] in seen:
            return
        seen.add(record["ID"])
        for child in children.get(record["ID"], []):
            take(child)
        ordered.append(record)

    for record in records:
        found = RUN_RECORD.match(record.get("Description") or "")
        if found and " ".join(found.group(1).split()) in commands:
            take(record)
    return ordered
