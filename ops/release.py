"""`inv release`: build, verify, push the SHA tag (and latest); stop at the first failure."""
import time

from ops import ecr, images, push, verify
from ops.errors import OpsError


def release(engine, settings, git, latest=False, allow_dirty=False, create_repo=False,
            where="ecr", offline=False, progress=print):
    push.refuse_dirty(git.tag, allow_dirty)   # before any work, not after a build
    steps = []

    def step(name, result, started):
        steps.append({"step": name, "result": result,
                      "seconds": round(time.monotonic() - started, 2)})
        progress(f"release: {name}: {result}")

    started = time.monotonic()
    built = images.build(engine, settings, git, offline=offline, verbose=False,
                         progress=progress)
    step("build", f"{settings.image}:{git.tag} ({built['size_mb']} MB)", started)

    started = time.monotonic()
    checked = verify.verify(engine, settings, f"{settings.image}:{git.tag}")
    failed = [row["check"] for row in checked["checks"] if not row["passed"]]
    if failed:
        raise OpsError(f"release stopped: verify failed ({', '.join(failed)}); nothing was pushed",
                       fix="inv verify shows each check", anchor="verify-fails")
    step("verify", "all checks passed", started)
    step("scan", "skipped: no scanner task in this version", time.monotonic())

    tokens = ecr.TokenCache(lambda: ecr.fetch_token(settings))  # one token for both pushes
    pushed = []
    for tag in [git.tag] + (["latest"] if latest else []):
        started = time.monotonic()
        result = push.push(engine, settings, git, tag=tag, allow_dirty=allow_dirty,
                           create_repo=create_repo, where=where, progress=progress,
                           tokens=tokens)
        pushed.append(result)
        step(f"push {tag}", f"{result['status']}: {result['reference']}", started)
    return {"passed": True, "steps": steps, "pushed": [p["reference"] for p in pushed]}
