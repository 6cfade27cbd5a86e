"""tasky-ops: build, run, verify and ship the Tasky container. `inv --list` shows the tasks.

Each task reads its flags, checks those that are no setting, calls one function in ops/ and
prints what it returns through the renderer beside it. Where each lives: README.md's map.
Heavy imports (docker, boto3) happen inside ops/, so listing is fast.
"""
import sys

from invoke import Exit, task

from ops.cli import aws_settings, check_configuration, engine, git_info, link, ops_task, settings
from ops.core.console import emit, in_ci, progress

check_configuration()   # a malformed invoke.yaml or INVOKE_TASKY_* is one line, even for --list

JSON_HELP = "print JSON for machines instead of a table"
REGION_HELP = "AWS region (beats AWS_REGION, AWS_DEFAULT_REGION and tasky.ecr.region)"
NAME_HELP = "container name (default: tasky.container)"
REGISTRY_HELP = "ecr (default) or local (the registry `inv registry` runs)"
PLATFORM_HELP = ("comma list of platforms, e.g. linux/amd64,linux/arm64: one image each, one "
                 "index when pushed (default: tasky.platforms, else the engine's own)")
HOST_IP_HELP = ("address to publish the app's port on (default: tasky.host_ip, 127.0.0.1: "
                "this machine only; 0.0.0.0: every interface)")


def tag_help(what):
    return f"image tag to {what} (default: latest)"


@ops_task(help={"dev": "also every Debian package the tests use (the registry, htpasswd, "
                       "the Go module sources of the fixture app, ...), as `inv test` needs; "
                       "and arm64 emulation",
                "platform": "PLATFORM[,...]: register emulation (qemu-user-static, "
                            "binfmt_misc) so these platforms' images run here, e.g. linux/arm64",
                "json": JSON_HELP})
def setup(c, dev=False, platform=None, json=False):
    """Install and start the Docker engine when it is missing."""
    from ops.core.platforms import platforms
    from ops.engine import install as machine
    asked = platforms(platform or "", "--platform")
    emit(machine.setup(progress=progress, dev=dev, platforms=asked), json, machine.render)


@ops_task(help={"force": "rebuild even when the stand-ins are present and current",
                "platform": "also the runtime stand-in of each of these platforms (from "
                            "that architecture's Debian packages), e.g. linux/arm64; default: "
                            "tasky.platforms",
                "json": JSON_HELP})
def bases(c, force=False, platform=None, json=False):
    """Build offline stand-ins for golang:1.19 and alpine:3.17.0."""
    from ops.engine.ownership import Ledger
    from ops.image import standins
    s = settings(c, platforms=platform)
    asked = s.platforms
    emit(standins.ensure(engine(s), s.bases, force=force, progress=progress,
                         ledger=Ledger.of(s), platforms=asked), json, standins.render)


@ops_task(iterable=["build_arg"],
          help={"tag": "also tag the image IMAGE:TAG (checked against Docker's tag grammar)",
                "version": "version baked into the binary and labels "
                           "(default: git describe --tags --always --dirty)",
                "no_cache": "build every step again",
                "pull": "pull the base images even when present",
                "offline": "use stand-in bases built from Debian packages (built when missing)",
                "quiet": "hide build steps (the default in CI; the log still shows on failure)",
                "verbose": "show build steps even in CI",
                "build_arg": "KEY=VALUE for the Dockerfile's ARGs (repeatable), e.g. "
                             "GOFLAGS=-mod=vendor or GOPROXY=...; never secrets",
                "platform": PLATFORM_HELP,
                "json": JSON_HELP})
def build(c, tag=None, version=None, no_cache=False, pull=False, offline=False, quiet=False,
          verbose=False, build_arg=None, platform=None, json=False):
    """Build the image, tagged by git SHA and latest."""
    from ops.core import reference
    from ops.image import build_args, gitinfo
    from ops.image import platform_images as builds
    from ops.settings import validate
    s = settings(c, platforms=platform)   # every input is checked before any connection
    git = gitinfo.PendingGitInfo(s.context_path)   # git answers while the engine is asked
    if tag is not None:
        reference.tag(tag, "--tag")
    if version is not None:   # it reaches the Go linker's -X flag: no spaces or quotes
        validate.version(version, "--version")
    build_args.parse_build_args(build_arg, s)   # malformed, reserved or secret: before connecting
    show_steps = verbose or not (quiet or in_ci() or json)
    result = builds.build(link(s), s, git, extra_tag=tag, version=version,
                          nocache=no_cache, pull=pull, offline=offline, verbose=show_steps,
                          progress=progress, build_args=build_arg)
    emit(result, json, builds.render)


@ops_task(help={"goproxy": "module proxy for this run (default: this shell's GOPROXY; a "
                           "file:///path mirror works)",
                "json": JSON_HELP})
def vendor(c, goproxy=None, json=False):
    """Vendor the app's Go modules for offline builds."""
    from ops.image import vendor
    s = settings(c)
    emit(vendor.vendor(engine(s), s, goproxy=goproxy, progress=progress), json, vendor.render)


@ops_task(iterable=["env"],
          help={"env": "KEY=VALUE for the container (repeatable); values are never printed",
                "env_file": "file of KEY=VALUE lines, as docker --env-file",
                "dev": "mount app/assets read-only over /app/assets (the document's dev mode)",
                "name": NAME_HELP,
                "port": "host port to publish the app on (default: tasky.port)",
                "host_ip": HOST_IP_HELP,
                "tag": tag_help("run"),
                "platform": "run that platform's image (TAG-linux-ARCH from a --platform "
                            "build); a foreign one runs under emulation",
                "json": JSON_HELP})
def run(c, env=None, env_file=None, dev=False, name=None, port=None, host_ip=None, tag="latest",
        platform=None, json=False):
    """Run the image detached with its port published."""
    from ops.core import platforms, reference
    from ops.image import platform_images
    from ops.run import containers
    from ops.settings import envvars
    s = settings(c, container=name, port=port, host_ip=host_ip)
    reference.tag(tag, "--tag")
    platform = platform and platforms.platform(platform, "--platform")
    variables = envvars.for_container(env, env_file, s)
    client = engine(s)
    tag = platform_images.tag_of(client, s.image, tag, platform)
    emit(containers.run(client, s, tag=tag, env=variables, dev=dev), json,
         containers.render_run)


@ops_task(help={"name": NAME_HELP,
                "wait": "wait until the app is verified healthy (or fail after --timeout)",
                "timeout": "seconds to wait with --wait (default: tasky.health_timeout)",
                "json": JSON_HELP})
def health(c, name=None, wait=False, timeout=None, json=False):
    """Show Docker's health record and run the probe live."""
    from ops.run import health as checks
    from ops.settings import validate
    s = settings(c, health_timeout=timeout)
    name = name and validate.container_name(name, "--name")
    report = emit(checks.health(engine(s), s, name=name, wait=wait), json, checks.render_health)
    if not report["healthy"]:
        raise checks.unhealthy(report)


@ops_task(iterable=["env"],
          help={"tag": tag_help("verify"),
                "env": "KEY=VALUE for the app under test (repeatable); values are never printed",
                "env_file": "file of KEY=VALUE lines (tasky.app.env_file is read first)",
                "platform": PLATFORM_HELP + "; a foreign one runs under emulation",
                "json": JSON_HELP})
def verify(c, tag="latest", env=None, env_file=None, platform=None, json=False):
    """Check wizexercise.txt, appuser, health and image size."""
    from ops.core import reference
    from ops.gates import verify as checks
    from ops.settings import envvars
    s = settings(c, platforms=platform)
    reference.tag(tag, "--tag")
    variables = envvars.for_container(env, env_file, s)
    result = emit(checks.verify_each(engine(s), s, tag, env=variables), json, checks.render)
    if not result["passed"]:
        raise checks.failed(result)


@ops_task(help={"tag": tag_help("inspect"), "platform": "that platform's image "
                "(TAG-linux-ARCH from a --platform build)", "json": JSON_HELP})
def layers(c, tag="latest", platform=None, json=False):
    """List layer sizes and totals against the size budget."""
    from ops.core import platforms, reference
    from ops.image import layers as image_layers
    from ops.image import platform_images
    s = settings(c)
    reference.tag(tag, "--tag")
    platform = platform and platforms.platform(platform, "--platform")
    client = engine(s)
    tag = platform_images.tag_of(client, s.image, tag, platform)
    emit(image_layers.layers(client, f"{s.image}:{tag}", s.size_budget_mb), json,
         image_layers.render_layers)


@ops_task(help={"name": NAME_HELP, "tail": "how many lines from the end (default 100)",
                "follow": "keep printing new lines"})
def logs(c, name=None, tail=None, follow=False):
    """Print the container's log."""
    from ops.run import containers
    from ops.settings import validate
    s = settings(c)
    name = name and validate.container_name(name, "--name")
    tail = validate.number(100 if tail is None else tail, "--tail", whole=True)
    for line in containers.logs(engine(s), s, name=name, tail=tail, follow=follow,
                                progress=progress):
        print(line)


@ops_task(help={"name": NAME_HELP, "force": "remove it even if tasky-ops did not start it"})
def stop(c, name=None, force=False):
    """Stop and remove the container `inv run` started."""
    from ops.run import containers
    from ops.settings import validate
    s = settings(c)
    name = name and validate.container_name(name, "--name")
    print(containers.render_stop(containers.stop(engine(s), s, name=name, force=force)))


@ops_task(help={"all": "every tasky-ops image and container, not only tasky.image's",
                "cache": "also the build stage's cached images (next build is cold)",
                "bases": "also the offline stand-in bases",
                "dry_run": "list what would be removed, remove nothing",
                "json": JSON_HELP})
def clean(c, all=False, cache=False, bases=False, dry_run=False, json=False):
    """Remove the images and containers this project made."""
    from ops.run import clean as cleanup
    s = settings(c)
    emit(cleanup.clean(engine(s), s, everything=all, cache=cache, include_bases=bases,
                       dry_run=dry_run, progress=progress), json, cleanup.render_clean)


@ops_task(help={"verbose": "go test -v", "json": JSON_HELP})
def app_test(c, verbose=False, json=False):
    """Run go vet and the Go tests inside the builder image."""
    from ops.gates import apptest
    s = settings(c)
    emit(apptest.app_test(engine(s), s, verbose=verbose, progress=progress), json,
         apptest.render)


@ops_task(help={"host_ip": HOST_IP_HELP, "json": JSON_HELP})
def demo(c, host_ip=None, json=False):
    """Build, run, wait for health and verify, in one go."""
    from ops.flows import demo as main_job
    from ops.image import build_args
    s = settings(c, host_ip=host_ip)
    build_args.parse_build_args((), s)   # the shell's Go variables, before connecting
    result = emit(main_job.demo(engine(s), s, git_info(s), progress=progress), json,
                  main_job.render)
    if not result["passed"]:
        raise main_job.failed(result)


@task(help={"unit": "only the unit tests (no Docker engine needed)",
            "k": "only tests matching this pytest -k expression",
            "verbose": "pytest -v"})
def test(c, unit=False, k=None, verbose=False):
    """Run the unit and integration tests (Docker required)."""
    import shlex

    args = [sys.executable, "-m", "pytest", "tests/unit" if unit else "tests",
            "-v" if verbose else "-q", "-ra", "--durations=8"]
    if k:
        args += ["-k", k]
    # A missing engine fails the run instead of skipping the integration tests.
    result = c.run(" ".join(shlex.quote(a) for a in args), warn=True, pty=False,
                   env={"TASKY_REQUIRE_DOCKER": "0" if unit else "1"})
    if result.exited:
        raise Exit(code=result.exited)


@ops_task(help={"region": REGION_HELP,
                "docker_config": "also store the token for the docker CLI (written to disk: "
                                 "~/.docker/config.json, or its credential helper)",
                "json": JSON_HELP})
def login(c, docker_config=False, region=None, json=False):
    """Check an ECR token against the registry; store it nowhere."""
    from ops.registry import login as ecr_login
    s = aws_settings(c, region)
    result = ecr_login.login(s, docker_config=docker_config)
    if docker_config and not result["stored"].startswith("credential helper"):
        progress("warning: the token is now on disk in plain base64 for 12 hours")
    emit(result, json, ecr_login.render)


@ops_task(optional=["tag"],
          help={"region": REGION_HELP,
                "tag": "no flag: push latest; bare --tag: the git SHA tag; --tag T: tag T",
                "allow_dirty": "push a -dirty tag (built from uncommitted changes)",
                "create_repo": "create the ECR repository if missing (scan on push, "
                               "tasky.ecr.tag_mutability tags)",
                "registry": REGISTRY_HELP,
                "platform": PLATFORM_HELP,
                "json": JSON_HELP})
def push(c, tag=None, allow_dirty=False, create_repo=False, registry="ecr", region=None,
         platform=None, json=False):
    """Push the image to ECR and check the stored digest."""
    from ops.core import reference
    from ops.registry import image_index as pushes
    from ops.registry import target
    from ops.settings import validate
    s = aws_settings(c, region, platforms=platform)
    validate.choice(registry, "--registry", target.KINDS)
    if isinstance(tag, str) and tag:
        reference.tag(tag, "--tag")
    git = git_info(s) if tag is True else None   # only a bare --tag asks git for the SHA
    emit(pushes.push_index(engine(s), s, git, tag=tag, allow_dirty=allow_dirty,
                     create_repo=create_repo, registry_kind=registry, progress=progress),
         json, pushes.render)


@ops_task(help={"region": REGION_HELP,
                "latest": "also push the latest tag after the SHA tag",
                "allow_dirty": "release a tree with uncommitted changes (-dirty tag)",
                "create_repo": "create the ECR repository if missing",
                "registry": REGISTRY_HELP,
                "offline": "build on the offline stand-in bases",
                "skip_scan": "release without the vulnerability gate (said in the summary)",
                "scan": "local: Trivy/Grype before pushing (default); ecr: ECR's scan of the "
                        "pushed SHA tag gates the latest tag",
                "scan_wait": "with --scan ecr: seconds to wait for ECR's scan (default 300)",
                "platform": PLATFORM_HELP,
                "json": JSON_HELP})
def release(c, latest=False, allow_dirty=False, create_repo=False, registry="ecr",
            offline=False, skip_scan=False, scan="local", scan_wait=None, region=None,
            platform=None, json=False):
    """Build, verify, scan and push; stop at the first failure."""
    from ops.flows import release as releases
    from ops.image import build_args
    from ops.registry import target
    from ops.settings import validate
    s = aws_settings(c, region, platforms=platform)
    build_args.parse_build_args((), s)   # the shell's Go variables the build takes
    validate.choice(registry, "--registry", target.KINDS)
    validate.choice(scan, "--scan", ("local", "ecr"))
    scan_wait = validate.number(300 if scan_wait is None else scan_wait, "--scan-wait")
    emit(releases.release(engine(s), s, git_info(s), latest=latest, allow_dirty=allow_dirty,
                          create_repo=create_repo, registry_kind=registry, offline=offline,
                          skip_scan=skip_scan, scanner=scan,
                          scan_wait=scan_wait, progress=progress),
         json, releases.render)


@ops_task(help={"stop": "stop the local registry instead", "json": JSON_HELP})
def registry(c, stop=False, json=False):
    """Start a local registry to try pushes without AWS."""
    from ops.registry import local_registry
    s = settings(c)
    action = local_registry.stop_local if stop else local_registry.start_local
    emit(action(engine(s), s), json, local_registry.render)


@ops_task(help={"tag": tag_help("scan"),
                "severity": "severities that fail the gate (default: the document's CRITICAL,HIGH)",
                "scanner": "trivy, grype, or auto (Trivy when installed, else Grype)",
                "skip_db_update": "use the scanner's database as it is (offline machines)",
                "ecr": "gate on ECR's own scan of the pushed TAG (or sha256: digest) instead",
                "wait": "with --ecr: seconds to wait for a scan in progress (default 0)",
                "region": REGION_HELP,
                "json": JSON_HELP})
def scan(c, tag="latest", severity="CRITICAL,HIGH", scanner="auto", skip_db_update=False,
         ecr=False, wait=None, region=None, json=False):
    """Scan the image; fail on CRITICAL or HIGH findings."""
    from ops.core import reference
    from ops.gates import scan as scans
    from ops.settings import validate
    s = aws_settings(c, region) if ecr else settings(c)
    if region:   # checked even where unused
        validate.region(region, "--region")
    (reference.tag_or_digest if ecr else reference.tag)(tag, "--tag")
    from ops.gates import ecr_scan
    scans.parse_severities(severity, ecr_scan.RANK if ecr else scans.RANK)
    validate.choice(scanner, "--scanner", ("auto", "trivy", "grype"))
    wait = validate.number(wait or 0, "--wait")
    if ecr:
        result = emit(ecr_scan.ecr_scan(s, tag, wait_seconds=wait,
                                        severity=severity, progress=progress), json,
                      ecr_scan.render)
        if not result["passed"]:
            raise ecr_scan.failed(result)
        return
    result = emit(scans.scan(engine(s), s, tag=tag, severity=severity, scanner=scanner,
                             skip_db_update=skip_db_update), json, scans.render)
    if not result["passed"]:
        raise scans.failed(result)


@ops_task(help={"json": JSON_HELP})
def lint(c, json=False):
    """Lint the Dockerfile, the Go app and the Python code."""
    from ops.gates import lint as linters
    s = settings(c)
    result = emit(linters.lint(engine(s), s, progress=progress), json, linters.render)
    if not result["passed"]:
        raise linters.failed(result)


@ops_task(help={"region": REGION_HELP,
                "aws": "also check AWS credentials, region and ECR (--no-aws skips them)",
                "fix": "apply the safe fixes (start the daemon, docker group, offline bases, "
                       "stale stopped container) and say what was done",
                "json": JSON_HELP})
def doctor(c, aws=True, fix=False, region=None, json=False):
    """Diagnose every known failure and name its fix."""
    from ops import doctor as diagnosis
    from ops.settings import validate
    s = aws_settings(c, region) if aws else settings(c)
    if region:   # checked even where unused
        validate.region(region, "--region")
    result = emit(diagnosis.doctor(s, aws=aws, fix=fix,
                                   progress=progress), json, diagnosis.render)
    if not result["ok"]:
        raise Exit(code=1)   # the verdict line above is the message


@ops_task(help={"registry": REGISTRY_HELP,
                "limit": "show at most N images, newest first (default 20)",
                "region": REGION_HELP, "json": JSON_HELP})
def images(c, registry="ecr", limit=None, region=None, json=False):
    """List the registry's images and where latest points."""
    from ops.registry import listing, target
    from ops.settings import validate
    s = aws_settings(c, region)
    validate.choice(registry, "--registry", target.KINDS)
    limit = validate.number(20 if limit is None else limit, "--limit", 1, whole=True)
    emit(listing.images(s, registry_kind=registry, limit=limit), json, listing.render)


@ops_task(help={"src": "the image to point at: a tag or a sha256: digest",
                "dest": "the tag to move there (e.g. latest)",
                "registry": REGISTRY_HELP, "region": REGION_HELP, "json": JSON_HELP})
def promote(c, src, dest, registry="ecr", region=None, json=False):
    """Point a tag at another image; no image data moves."""
    from ops.core import reference
    from ops.registry import promotion, target
    from ops.settings import validate
    s = aws_settings(c, region)
    reference.tag_or_digest(src, "--src")
    reference.tag(dest, "--dest")
    validate.choice(registry, "--registry", target.KINDS)
    emit(promotion.promote(s, src, dest, registry_kind=registry, progress=progress), json,
         promotion.render)


@ops_task(help={"tag": "the tag to move back (default: latest)",
                "to": "a tag or sha256: digest to move it to, instead of its previous image",
                "registry": REGISTRY_HELP, "region": REGION_HELP, "json": JSON_HELP})
def rollback(c, tag="latest", to=None, registry="ecr", region=None, json=False):
    """Move a tag back to the image it pointed at before."""
    from ops.core import reference
    from ops.registry import promotion, target
    from ops.settings import validate
    s = aws_settings(c, region)
    reference.tag(tag, "--tag")
    if to is not None:
        reference.tag_or_digest(to, "--to")
    validate.choice(registry, "--registry", target.KINDS)
    emit(promotion.rollback(s, tag=tag, to=to, registry_kind=registry, progress=progress), json,
         promotion.render)


@ops_task(help={"apply": "apply the proposed policy (without it nothing is written)",
                "keep": "tagged images to keep, newest first (default 30)",
                "untagged_days": "days before an untagged image expires (default 14)",
                "region": REGION_HELP, "json": JSON_HELP})
def ecr_policy(c, apply=False, keep=None, untagged_days=None, region=None, json=False):
    """Show the ECR lifecycle policy and propose a default."""
    from ops.registry import ecr_policy as policy
    from ops.settings import validate
    s = aws_settings(c, region)
    keep = validate.number(30 if keep is None else keep, "--keep", 1, whole=True)
    days = validate.number(14 if untagged_days is None else untagged_days, "--untagged-days", 1,
                           whole=True)
    emit(policy.ecr_policy(s, apply=apply, keep=keep, untagged_days=days), json, policy.render)


@ops_task(iterable=["env"],
          help={"env": "KEY=VALUE for the container (repeatable); values are never printed",
                "env_file": "file of KEY=VALUE lines, as docker --env-file",
                "name": NAME_HELP,
                "port": "host port to publish the app on (default: tasky.port)",
                "host_ip": HOST_IP_HELP,
                "offline": "build on the offline stand-in bases (default: when the "
                           "document's bases are neither here nor pullable)",
                "json": "print one JSON object per cycle instead of a line"})
def dev(c, env=None, env_file=None, name=None, port=None, offline=False, host_ip=None,
        json=False):
    """Run the app; rebuild and replace it on each Go change."""
    from ops.flows import dev as inner_loop
    from ops.image import build_args
    from ops.settings import envvars
    s = settings(c, container=name, port=port, host_ip=host_ip)
    build_args.parse_build_args((), s)   # the shell's Go variables each rebuild takes
    variables = envvars.for_container(env, env_file, s)
    inner_loop.dev(engine(s), s, env=variables, offline=offline, as_json=json,
                   progress=progress)
