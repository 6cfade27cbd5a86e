"""`inv release`: build, verify, push the SHA tag (and latest); stop at the first failure."""
from ops.core.console import Steps, table
from ops.core.errors import OpsError
from ops.gates import ecr_scan, scan, verify
from ops.image import platform_images
from ops.registry import ecr, image_index, push, target


def release(engine, settings, git, latest=False, allow_dirty=False, create_repo=False,
            registry_kind="ecr", offline=False, skip_scan=False, scanner="local", scan_wait=300,
            progress=print):
    push.refuse_dirty(git.tag, allow_dirty)   # before any work, not after a build
    if scanner not in ("local", "ecr"):
        raise OpsError(f"unknown --scan {scanner!r}", fix="use --scan local or --scan ecr",
                       anchor="bad-flag")
    steps = Steps("release", progress)
    tokens = ecr.TokenCache(lambda: ecr.fetch_token(settings))  # one token for every push
    steps.done("preflight", target.preflight(settings, registry_kind, create_repo, tokens))
    built = platform_images.build(engine, settings, git, offline=offline, verbose=False,
                                  progress=progress)
    images = built.get("images", [built])
    steps.done("build", f"{settings.image}:{git.tag} (" + ", ".join(
        f"{image.get('platform', '')} {image['size_mb']} MB".strip() for image in images) + ")")

    checked = verify.verify_each(engine, settings, git.tag)
    failed = [row["check"] for row in checked["checks"] if not row["passed"]]
    if failed:
        raise OpsError(f"release stopped: verify failed ({', '.join(failed)}); nothing was pushed",
                       fix="inv verify shows each check", anchor="verify-fails")
    steps.done("verify", "all checks passed")

    if skip_scan:
        steps.done("scan", "SKIPPED (--skip-scan)")
    elif scanner == "ecr":
        steps.done("scan", "ECR's scan of the pushed SHA tag gates latest (--scan ecr)")
    else:
        for image in images:   # each platform's image has its own packages
            found = scan.scan(engine, settings, tag=image["tags"][0])
            if not found["passed"]:
                raise OpsError(f"release stopped: {len(found['findings'])} "
                               f"{found['severity']} findings in {image['tags'][0]}; nothing "
                               "was pushed", fix="inv scan lists them",
                               anchor="scan-gate-failed")
            steps.done("scan", f"{found['scanner']}: no {found['severity']} findings"
                       + (f" ({image['platform']})" if "platform" in image else ""))

    pushed = []
    for tag in [git.tag] + (["latest"] if latest else []):
        result = image_index.push_index(engine, settings, git, tag=tag,
                                        allow_dirty=allow_dirty, create_repo=create_repo,
                                        registry_kind=registry_kind, progress=progress,
                                        tokens=tokens)
        pushed.append(result)
        steps.done(f"push {tag}", f"{result['status']}: {result['reference']}")
        if tag == git.tag and scanner == "ecr" and not skip_scan:
            # ECR scans images, not an index: each platform's image gates latest
            for image in result.get("images", [result]):
                ecr_gate(settings, image["digest"], git.tag, scan_wait, steps, progress)
    gate = "none (--skip-scan)" if skip_scan else ("ECR" if scanner == "ecr" else "local scanner")
    return {"passed": True, "steps": steps.rows, "pushed": [p["reference"] for p in pushed],
            "scan_gate": gate}


def ecr_gate(settings, digest, tag, scan_wait, steps, progress):
    found = ecr_scan.ecr_scan(settings, digest, wait_seconds=scan_wait, progress=progress)
    if not found["passed"]:
        raise OpsError(f"release stopped: ECR found {len(found['findings'])} "
                       f"{found['severity']} findings in {tag}; latest was not moved",
                       fix=f"inv scan --ecr --tag {tag} lists them", anchor="ecr-scan-gate")
    steps.done("ecr scan", f"ECR: no {found['severity']} findings ({found['status']})")


def render(result):
    return table(result["steps"], [("step", "step"), ("result", "result"), ("seconds", "seconds")])
