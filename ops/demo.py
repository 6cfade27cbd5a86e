"""The main job end to end: build, run, wait for health, verify."""
from ops import containers, images, verify
from ops.console import Steps
from ops.errors import OpsError


def hub_reachable(engine, settings, progress):
    """True when the document's bases are here or can be pulled; else use the stand-ins."""
    try:
        for ref in (settings.bases.go, settings.bases.runtime):
            images.ensure_base(engine, ref, pull=False)
        return True
    except OpsError as error:
        progress(f"demo: {error.message}; building offline with stand-in bases")
        return False


def demo(engine, settings, git, progress=print):
    steps = Steps("demo", progress)
    offline = not hub_reachable(engine, settings, progress)
    built = images.build(engine, settings, git, offline=offline, verbose=False,
                         progress=progress)
    steps.done("build", f"{settings.image}:{built['tags'][0]} {built['size_mb']} MB "
                  f"({built['cached_steps']}/{built['steps']} steps cached"
                  f"{', offline bases' if offline else ''})")

    previous = containers.stop(engine, settings)
    ran = containers.run(engine, settings, tag=built["tags"][0])
    replaced = previous["status"].startswith("removed")
    steps.done("run", f"{ran['container']} at {ran['url']}"
                + (" (replaced the previous one)" if replaced else ""))

    report = containers.health(engine, settings, wait=True)
    steps.done("health", "healthy (live probe of the image's HEALTHCHECK passed)")

    checked = verify.verify(engine, settings, f"{settings.image}:{built['tags'][0]}")
    failed = [row["check"] for row in checked["checks"] if not row["passed"]]
    steps.done("verify", "all checks passed" if not failed else "FAILED: " + ", ".join(failed))
    return {"passed": not failed and report["healthy"], "steps": steps.rows, "url": ran["url"],
            "container": ran["container"]}
