"""The main job end to end: build, run, wait for health, verify."""
from ops.core.console import Steps, table
from ops.core.errors import OpsError
from ops.engine import locks
from ops.gates import verify
from ops.image import docker_build
from ops.run import containers, health
from ops.settings import envvars


def health_summary(report):
    """What `health --wait` actually established, in words."""
    probe, app = report["live_probe"], report.get("app") or {}
    said = []
    if probe.get("ok") is not None:
        said.append(f"image's HEALTHCHECK exited {probe.get('exit_code')} in "
                    f"{probe.get('seconds')}s")
    if app.get("status"):
        said.append(f"{app['url']} answered HTTP {app['status']}")
    verdict = "healthy" if report["healthy"] else "NOT healthy"
    return f"{verdict} after {report.get('seconds')}s" + (f" ({'; '.join(said)})" if said else "")


def demo(engine, settings, git, progress=print):
    """Build, run, health, verify. The app's container stays running only when all of it
    passed: a failed check, an error or a signal at any step removes what the run started
    (it is owned, created, registered and started as one, until the end). The container
    name is held (ops.engine.locks) throughout, so a second demo or run on it stops at once."""
    with locks.holding(settings.container, "demo"):
        return _demo(engine, settings, git, progress)


def _demo(engine, settings, git, progress):
    steps = Steps("demo", progress)
    offline = docker_build.needs_standins(engine, settings, "demo", progress)
    built = docker_build.build(engine, settings, git, offline=offline, verbose=False,
                         progress=progress)
    steps.done("build", f"{settings.image}:{built['tags'][0]} {built['size_mb']} MB "
                  f"({built['cached_steps']}/{built['steps']} steps cached"
                  f"{', offline bases' if offline else ''})")

    env = envvars.for_container((), None, settings)
    envvars.require(env, settings.app.required_env, task="demo")
    previous = containers.stop(engine, settings)
    with containers.owner(engine, settings) as ours:
        ran = containers.run(engine, settings, tag=built["tags"][0], env=env, owned_by=ours)
        replaced = previous["status"].startswith("removed")
        steps.done("run", f"{ran['container']} at {ran['url']}"
                          + (" (replaced the previous one)" if replaced else ""))

        report = health.health(engine, settings, wait=True)
        steps.done("health", health_summary(report))

        checked = verify.verify(engine, settings, f"{settings.image}:{built['tags'][0]}",
                                env=env)
        failed = [row["check"] for row in checked["checks"] if not row["passed"]]
        steps.done("verify", "all checks passed" if not failed
                   else "FAILED: " + ", ".join(failed))
        passed = not failed and report["healthy"]
        if passed:
            ours.release()   # the one way the app stays up: every step passed
    return {"passed": passed, "steps": steps.rows, "url": ran["url"],
            "container": ran["container"]}


def render(result):
    return (table(result["steps"], [("step", "step"), ("result", "result"),
                                    ("seconds", "seconds")])
            + (f"\nThe app is up at {result['url']} (inv logs, inv stop)." if result["passed"]
               else ""))


def failed(result):
    step = next((row["step"] for row in result["steps"] if row["result"].startswith("FAILED")),
                "verify")
    return OpsError(f"demo failed at {step}; the app's container it started is removed",
                    fix="see the failed rows; inv verify shows each check, inv run starts the "
                        "app to look at it", anchor="verify-fails")
