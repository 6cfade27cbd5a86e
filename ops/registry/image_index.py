"""One tag, several platforms: each platform's image pushed as TAG-linux-ARCH, then one OCI
image index under TAG naming them (the engine's BuildKit on 20.10 builds one platform per
request, so the index is assembled here, through the registry's manifest API: the same code
for ECR and the local registry).

The index's bytes depend only on its manifests, in the order asked: pushing the same images
again gives the same digest, which an immutable repository accepts as "already there".
"""
import json
import time

from ops.core.console import table
from ops.core.errors import OpsError
from ops.engine.connection import image_or_fail
from ops.engine.emulation import image_platform
from ops.image import platform_images
from ops.registry import ecr, history, http_api, push, target

INDEX = "application/vnd.oci.image.index.v1+json"


def descriptor(site, digest, platform):
    """The index's entry for one pushed manifest: its media type and size as the registry
    serves it, and the platform its image was built for."""
    found = http_api.get_manifest(site.host, site.repository, digest, site.auth)
    if found is None:
        raise OpsError(f"{site.remote} lost {digest} right after it was pushed",
                       fix="push again; check the registry's storage", anchor="multi-arch")
    body, media_type, _ = found
    entry = {"mediaType": media_type, "digest": digest, "size": len(body),
             "platform": {"architecture": platform.architecture, "os": "linux"}}
    if platform.variant:
        entry["platform"]["variant"] = platform.variant
    return entry


def index_document(entries):
    """The index's bytes: compact, keys in a fixed order, so equal inputs give one digest."""
    document = {"schemaVersion": 2, "mediaType": INDEX, "manifests": entries}
    return json.dumps(document, separators=(",", ":")).encode()


def check_platform(engine, ref, platform):
    """The local image `ref` exists and was built for `platform` (a retag by hand could
    name another architecture's image: the index would lie)."""
    image = image_or_fail(engine, ref)
    built = image_platform(image.attrs)
    if built != platform:
        raise OpsError(f"{ref} is a {built or 'platform-less'} image, not {platform}",
                       fix=f"rebuild it: inv build --platform {platform}", anchor="multi-arch")
    return image


def push_index(engine, settings, git, tag=None, allow_dirty=False, create_repo=False,
               registry_kind="ecr", progress=print, tokens=None):
    """`inv push` for tasky.platforms: every platform's image, then the index under TAG.
    With one platform (the engine's), a plain push."""
    chosen, _ = platform_images.asked(engine, settings)
    if not chosen:
        return push.push(engine, settings, git, tag=tag, allow_dirty=allow_dirty,
                         create_repo=create_repo, registry_kind=registry_kind,
                         progress=progress, tokens=tokens)
    tag = push.choose_tag(git, tag)
    push.refuse_dirty(tag, allow_dirty)
    tags = {p: platform_images.local_tag(tag, p) for p in chosen}
    for platform, own in tags.items():   # every image checked before the first byte moves
        check_platform(engine, f"{settings.image}:{own}", platform)
    tokens = tokens or ecr.TokenCache(lambda: ecr.fetch_token(settings))
    started, pushed = time.monotonic(), []
    for platform in chosen:
        progress(f"push: {platform} as {tags[platform]}")
        pushed.append(dict(push.push(engine, settings, git, tag=tags[platform],
                                     allow_dirty=allow_dirty,
                                     create_repo=create_repo and not pushed,
                                     registry_kind=registry_kind, progress=progress,
                                     tokens=tokens, remember=False), platform=str(platform)))
    site = target.resolve_target(settings, registry_kind, False, tokens)
    body = index_document([descriptor(site, row["digest"], p)
                           for row, p in zip(pushed, chosen)])
    digest, old, status = put_index(site, tag, body, progress)
    moved = history.record_move(settings, tag, old, digest, registry_kind, site)
    return {"reference": f"{site.remote}:{tag}@{digest}", "digest": digest, "tag": tag,
            "registry": site.host, "repository": site.repository, "status": status,
            "media_type": INDEX, "platforms": [str(p) for p in chosen], "images": pushed,
            "history": moved["history"], "seconds": round(time.monotonic() - started, 2)}


def put_index(site, tag, body, progress):
    """PUT the index under tag and read it back: (digest, the tag's digest before, status)."""
    import hashlib

    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    old = history.current(site, tag)
    if old == digest:
        progress(f"push: {site.remote}:{tag} already holds this index; nothing to push")
        return digest, old, "already there"
    if old and history.immutable(site):
        raise push.immutable_error(site, tag, old)
    stored = http_api.put_manifest(site.host, site.repository, tag, body, INDEX, site.auth)
    now = history.current(site, tag)
    if digest not in (stored, now) or now != digest:
        raise OpsError(f"the registry holds {now} for {site.remote}:{tag}, not the index "
                       f"pushed ({digest})", fix="someone pushed the same tag at the same time; "
                       "push again and check", anchor="immutable-tag")
    progress(f"push: {site.remote}:{tag} -> index {history.short(digest)} of "
             f"{len(json.loads(body)['manifests'])} platforms")
    return digest, old, "pushed"


COLUMNS = [("platform", "platform"), ("reference", "pushed"), ("status", "status"),
           ("layers_pushed", "layers up"), ("seconds", "seconds")]


def render(result):
    if "images" not in result:
        return push.render(result)
    rows = [*result["images"], {"platform": "index", "reference": result["reference"],
                                "status": result["status"], "seconds": result["seconds"]}]
    return table(rows, COLUMNS)
