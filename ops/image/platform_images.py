"""One image per platform (`--platform`, tasky.platforms): what `inv build` and `inv release`
make, and the local tags that name each platform's image.

The engine's BuildKit (20.10) builds one platform per request into its image store, so each
platform is its own build, tagged IMAGE:TAG-linux-ARCH; the plain tags (SHA, latest) name
the engine's own platform's image, or the first asked, so `inv run` and `inv verify` find
one. The image index that joins them exists only in a registry (ops/registry/image_index.py).
With no platform asked, or only the engine's own, a build is exactly a plain one.
"""
from ops.core import reference
from ops.core.console import table
from ops.core.errors import OpsError
from ops.engine.emulation import engine_platform, image_platform
from ops.image import docker_build, gitinfo


def local_tag(tag, platform):
    """The local (and registry) tag of one platform's image: TAG-linux-ARCH."""
    return reference.tag(tag + platform.suffix, f"the tag of {platform}'s image ({tag}"
                         f"{platform.suffix}: shorten the tag)")


def tag_of(engine, image, tag, platform):
    """The local tag of IMAGE:TAG's `platform` image (run, layers --platform): TAG-linux-ARCH
    when a multi-platform build made it, else TAG itself when it is that platform's image."""
    if platform is None:
        return tag
    from ops.engine.socket_api import engine_api

    link = engine_api(engine)
    own = local_tag(tag, platform)
    if link.image(f"{image}:{own}") is not None:
        return own
    found = link.image(f"{image}:{tag}")
    if found is not None and image_platform(found) == platform:
        return tag
    raise OpsError(f"no {platform} image of {image}:{tag} here (neither {image}:{own} nor "
                   f"{image}:{tag} is one)", fix=f"inv build --platform {platform}",
                   anchor="image-not-found")


def asked(engine, settings):
    """(platforms to build, the engine's own), or ((), None) for a plain build."""
    if not settings.platforms:
        return (), None
    native = engine_platform(engine)
    if settings.platforms == (native,):
        return (), native
    if settings.builder == "classic":
        raise OpsError(f"building for {', '.join(settings.platforms)} needs BuildKit, and "
                       "tasky.builder is classic", fix="set tasky.builder to auto",
                       anchor="multi-arch")
    return settings.platforms, native


def plain_owner(chosen, native):
    """The platform whose image the plain tags name: the engine's own when built."""
    return native if native in chosen else chosen[0]


def build(engine, settings, git, extra_tag=None, progress=print, **options):
    """docker_build.build once per platform asked; the plain result when none is."""
    chosen, native = asked(engine, settings)
    if not chosen:
        return docker_build.build(engine, settings, git, extra_tag=extra_tag,
                                  progress=progress, **options)
    if isinstance(git, gitinfo.PendingGitInfo):
        git = git.answer()
    plain = list(dict.fromkeys([git.tag, "latest", *([extra_tag] if extra_tag else [])]))
    for platform in chosen:   # every tag checked before the first build
        for tag in plain:
            local_tag(tag, platform)
    rows = []
    for number, platform in enumerate(chosen, start=1):
        progress(f"build: {platform} ({number} of {len(chosen)})"
                 + ("" if platform == native else ": the build stage cross-compiles; the "
                    "release stage's RUN steps run under emulation"))
        tags = [local_tag(tag, platform) for tag in plain]
        if platform == plain_owner(chosen, native):
            tags = plain + tags
        made = docker_build.build(engine, settings, git, progress=progress, tags=tags,
                                  platform=platform, native=native, **options)
        rows.append(dict(made, platform=str(platform)))
    return {"image": settings.image, "tags": plain, "platforms": [r["platform"] for r in rows],
            "native": str(native), "plain_tags_name": str(plain_owner(chosen, native)),
            "seconds": round(sum(r["seconds"] for r in rows), 2), "images": rows,
            "version": rows[0]["version"]}


COLUMNS = [("platform", "platform"), ("tags", "tags"), ("id", "image id"), ("size_mb", "MB"),
           ("seconds", "seconds"), ("cached_steps", "cached steps"), ("steps", "steps")]


def render(result):
    if "images" not in result:
        return docker_build.render(result)
    return table(result["images"], COLUMNS)
