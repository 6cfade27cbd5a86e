"""`inv release`: build, verify, push the SHA tag (and latest); stop at the first failure."""
from ops import build, ecr, push, scan, verify
from ops.console import Steps, table
from ops.errors import OpsError


def release(engine, settings, git, latest=False, allow_dirty=False, create_repo=False,
            registry_kind="ecr", offline=False, skip_scan=False, progress=print):
    push.refuse_dirty(git.tag, allow_dirty)   # before any work, not after a build
    steps = Steps("release", progress)
    tokens = ecr.TokenCache(lambda: ecr.fetch_token(settings))  # one token for every push
    steps.done("preflight", push.preflight(settings, registry_kind, create_repo, tokens))
    built = build.build(engine, settings, git, offline=offline, verbose=False,
                         progress=progress)
    steps.done("build", f"{settings.image}:{git.tag} ({built['size_mb']} MB)")

    checked = verify.verify(engine, settings, f"{settings.image}:{git.tag}")
    failed = [row["check"] for row in checked["checks"] if not row["passed"]]
    if failed:
        raise OpsError(f"release stopped: verify failed ({', '.join(failed)}); nothing was pushed",
                       fix="inv verify shows each check", anchor="verify-fails")
    steps.done("verify", "all checks passed")

    if skip_scan:
        steps.done("scan", "SKIPPED (--skip-scan)")
    else:
        found = scan.scan(engine, settings, tag=git.tag)
        if not found["passed"]:
            raise OpsError(f"release stopped: {len(found['findings'])} {found['severity']} "
                           "findings; nothing was pushed", fix="inv scan lists them",
                           anchor="scan-gate-failed")
        steps.done("scan", f"{found['scanner']}: no {found['severity']} findings")

    pushed = []
    for tag in [git.tag] + (["latest"] if latest else []):
        result = push.push(engine, settings, git, tag=tag, allow_dirty=allow_dirty,
                           create_repo=create_repo, registry_kind=registry_kind,
                           progress=progress, tokens=tokens)
        pushed.append(result)
        steps.done(f"push {tag}", f"{result['status']}: {result['reference']}")
    return {"passed": True, "steps": steps.rows, "pushed": [p["reference"] for p in pushed]}


def render(result):
    return table(result["steps"], [("step", "step"), ("result", "result"), ("seconds", "seconds")])
