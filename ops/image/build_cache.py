"""BuildKit's build cache: the records a build made, found by the cache scope its RUN line names
(so they can be recorded as this checkout's: ops/engine/ownership.py), and pruned by id."""
import re

from ops.core.errors import OpsError
from ops.image import dockerfile as dockerfile_text

# How BuildKit describes the record of a RUN step (20.10): the only handle on it.
RUN_RECORD = re.compile(r"^(?:cached )?mount \S+ from exec /bin/sh -c (.*)$", re.S)


def prune(engine, keep_storage=None, filters=None, dockerfile=None):
    """Remove BuildKit build cache (POST /build/prune); returns what went and its size.

    With `dockerfile` (a Dockerfile's text) only the records whose descriptions name one of
    its RUN commands go, with those built on them, one request per record, by id. That is a
    selection by text, not by owner: two checkouts of one project write the same RUN lines,
    so `inv clean --cache` never uses it (it prunes the ids its ownership record holds,
    prune_records); it suits a Dockerfile whose RUN lines are its own. Without it,
    `filters` (Docker's: until, type, description, inuse, shared, private, id, parent) and
    `keep_storage` (bytes to keep) apply to the whole engine's cache.
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
        raise _refused(exc) from exc


def prune_records(engine, records):
    """Prune these records (as all_records gives them) by id, those built on another of them
    first: BuildKit keeps a record while another one names it as parent."""
    import docker

    wanted = {record["ID"] for record in records}
    ordered = _with_descendants(records, lambda record: True, within=wanted)
    try:
        results = [_prune_once(engine.api, {"id": record["ID"]}, None) for record in ordered]
    except docker.errors.APIError as exc:
        raise _refused(exc) from exc
    return _pruned(results, scope="recorded", matched=len(ordered))


def _refused(exc):
    reason = (exc.explanation or str(exc)).strip()
    return OpsError(f"the engine refused to prune the build cache: {reason[:300]}",
                    fix="check the filters (one value each)", anchor="build-fails")


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


def all_records(engine):
    """Every build-cache record of the engine (GET /system/df), through docker-py's client or
    an EngineApi (inv build's socket, which never imports docker-py)."""
    from ops.engine.socket_api import engine_api

    api = getattr(engine, "api", None)
    if hasattr(api, "df"):   # docker-py's client (inv clean holds one)
        return api.df().get("BuildCache") or []
    for answer in engine_api(engine).stream("GET", "/system/df"):
        return answer.get("BuildCache") or []
    return []


def scoped_records(engine, scope):
    """The records whose description names `scope` (the cache scope a build wrote into its RUN
    line: the cache mounts and the layer that line made) and every record built on one of
    them, children first."""
    if not re.fullmatch(r"[0-9a-f]{16,}", scope or ""):
        raise ValueError(f"not a cache scope: {scope!r}")
    return _with_descendants(all_records(engine),
                             lambda record: scope in (record.get("Description") or ""))


def project_records(engine, dockerfile):
    """The build-cache records (GET /system/df) whose descriptions name one of this
    Dockerfile's RUN commands, with the records built on top of them, children before
    parents: the order a prune needs. By text: see prune()."""
    commands = dockerfile_text.run_commands(dockerfile)

    def named(record):
        found = RUN_RECORD.match(record.get("Description") or "")
        return bool(found) and " ".join(found.group(1).split()) in commands

    return _with_descendants(engine.api.df().get("BuildCache") or [], named)


def _with_descendants(records, chosen, within=None):
    """The chosen records and those built on them (only ids in `within`, when given),
    each after the records built on it."""
    children = {}
    for record in records:
        # API 1.41 names one Parent; later engines list Parents.
        for parent in record.get("Parents") or [record.get("Parent")]:
            children.setdefault(parent, []).append(record)
    ordered, seen = [], set()

    def take(record):
        if record["ID"] in seen or (within is not None and record["ID"] not in within):
            return
        seen.add(record["ID"])
        for child in children.get(record["ID"], []):
            take(child)
        ordered.append(record)

    for record in records:
        if chosen(record):
            take(record)
    return ordered


def record_made(engine, ledger, scope, image, failed=False):
    """Record in `ledger` (ops/engine/ownership.py) the cache records a build of this scope
    made, with those of its earlier builds still there. After a failed build the engine may
    be gone too: then nothing is recorded and the build's own error stands."""
    try:
        made = scoped_records(engine, scope)
        ledger.record("cache", [record["ID"] for record in made], role="build-cache",
                      image=image)
    except Exception:   # OpsError, or docker-py's own when the build held its client
        if not failed:
            raise
