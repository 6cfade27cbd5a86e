"""tasky-ops: build, run, verify and ship the Tasky container. `inv --list` shows the tasks.

Tasks stay thin: read flags, call one function in ops/, print what it returns through the
renderer beside it. Heavy imports (docker, boto3) happen inside ops/ so listing is fast.

Where each task lives (task -> module):
  setup -> ops/setup.py             bases -> ops/standins.py       build -> ops/build.py
  run, health, logs, stop -> ops/containers.py                      verify -> ops/verify.py
  vendor -> ops/gomod.py
  layers, clean -> ops/images.py    demo -> ops/demo.py            app-test -> ops/apptest.py
  login -> ops/login.py             push -> ops/push.py            release -> ops/release.py
  registry -> ops/local_registry.py scan -> ops/scan.py (--ecr: ops/ecr_scan.py)
  lint -> ops/lint.py               images -> ops/listing.py       ecr-policy -> ops/ecr_policy.py
  promote, rollback -> ops/promotion.py   dev -> ops/dev.py (the inner loop)
  doctor -> ops/doctor/ (rows, engine, inputs, run, aws, registry, fixes)
Shared: config (settings), engine (the one Docker connection; wire: the same engine without
docker-py, for build), buildcontext (the context tar), errors, console (tables, --json),
builder (Go in the builder image), registry (registry HTTP API), ecr (boto3).
"""
import functools
import json as jsonlib
import os
import sys

from invoke import Exit, task

from ops.core.errors import OpsError, foreign


class _Validate:
    """ops.settings.validate, imported when first used: `inv --list` with no INVOKE_TASKY_* variable
    set needs none of it (it keeps listing within 1.2x of an empty task file)."""

    def __getattr__(self, name):
        from ops.settings import validate as module
        return getattr(module, name)


validate = _Validate()
try:   # invoke.yaml and INVOKE_TASKY_* are read before any task runs (even by --list):
    from ops.settings import invoke_yaml  # a malformed invoke.yaml is one line, not Invoke's
    invoke_yaml.tasky_section()   # traceback; the settings are built when a task runs
    if any(name.startswith("INVOKE_TASKY_") for name in os.environ):
        validate.check_environment()   # else Invoke casts them itself, with a traceback
except OpsError as error:
    raise Exit("error: " + error.line(), code=1) from None

from ops.core import signals  # noqa: E402  (after the check above, like every ops import)
from ops.core.console import emit, in_ci, printed, progress  # noqa: E402

JSON_HELP = "print JSON for machines instead of a table"
REGION_HELP = "AWS region (beats AWS_REGION, AWS_DEFAULT_REGION and tasky.ecr.region)"
NAME_HELP = "container name (default: tasky.container)"
REGISTRY_HELP = "ecr (default) or local (the registry `inv registry` runs)"


def tag_help(what):
    return f"image tag to {what} (default: latest)"


def reported(body):
    """Turn a known failure into its one-line message and exit 1, never a traceback.

    With --json the same failure is also printed on stdout as an object, so a machine
    reading stdout always gets JSON. TASKY_DEBUG=1 keeps library tracebacks for bug reports.
    """
    @functools.wraps(body)
    def wrapper(c, *args, **kwargs):
        printed.result = False
        signals.install()   # SIGTERM and SIGHUP clean up as Ctrl-C does
        try:
            try:
                return body(c, *args, **kwargs)
            except Exception as exc:
                translated = foreign(exc)
                if translated is None or os.environ.get("TASKY_DEBUG"):
                    raise
                raise translated from exc
        except OpsError as error:
            for line in error.details:
                print("  | " + line, file=sys.stderr)
            if kwargs.get("json") and not printed.result:   # else the report says it all
                print(jsonlib.dumps({"ok": False, "error": error.message, "fix": error.fix,
                                     "anchor": error.anchor}, indent=2))
            raise Exit("error: " + error.line(), code=1) from None
        except KeyboardInterrupt as exc:   # also SIGTERM and SIGHUP (ops.core.signals)
            name = str(exc) or "SIGINT"
            raise Exit(f"interrupted ({name}); what this task had made is removed",
                       code=signals.exit_code(exc)) from None
    return wrapper


def ops_task(*args, **kwargs):
    return lambda body: task(*args, **kwargs)(reported(body))


FLAGS = {"container": "--name", "health_timeout": "--timeout"}   # setting -> its flag
NUMERIC = {"port", "health_timeout"}


def settings(c, **flags):
    """The settings with the flags applied, every value checked (validate.check_settings)."""
    given = {key: FLAGS.get(key, "--" + key.replace("_", "-"))
             for key, value in flags.items() if value is not None}
    for key, flag in given.items():   # flags arrive as text: numbers checked under their name
        check = validate.SCHEMA[(key,)]
        if key in NUMERIC:
            flags[key] = check(flags[key], flag)
    from ops.settings import config
    return validate.check_settings(config.from_invoke(c).with_overrides(**flags), given)


def aws_settings(c, region):
    """settings() for a task that calls AWS: the region and ECR_REGISTRY checked too."""
    return validate.aws(settings(c).with_region(region and validate.region(region, "--region")))


def engine(s):
    from ops.engine.connection import client
    return client(timeout=s.docker_timeout)


def link(s):
    """The engine without docker-py (ops/socket_api.py): a no-change build takes less than
    importing it."""
    from ops.engine import socket_api
    return socket_api.connect(timeout=s.docker_timeout)


def numeric(flag, value):
    """A flag's number (at least 0, finite); the one-line error names the flag."""
    return validate.number(value, f"--{flag}")


def whole(flag, value, minimum=0):
    return validate.number(value, f"--{flag}", minimum=minimum, whole=True)


def kind(flag, value, choices):
    return validate.choice(value, f"--{flag}", choices)


REGISTRY_KINDS = ("ecr", "local")


def git_info(s):
    from ops.build import gitinfo
    return gitinfo.read(s.context_path)


@ops_task(help={"json": JSON_HELP})
def setup(c, json=False):
    """Install and start the Docker engine when it is missing."""
    from ops.engine import install as machine
    emit(machine.setup(progress=progress), json, machine.render)


@ops_task(help={"force": "rebuild even when the stand-ins are present and current",
                "json": JSON_HELP})
def bases(c, force=False, json=False):
    """Build offline stand-ins for golang:1.19 and alpine:3.17.0."""
    from ops.build import standins
    s = settings(c)
    emit(standins.ensure(engine(s), s.bases, force=force, progress=progress), json,
         standins.render)


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
                "json": JSON_HELP})
def build(c, tag=None, version=None, no_cache=False, pull=False, offline=False, quiet=False,
          verbose=False, build_arg=None, json=False):
    """Build the image, tagged by git SHA and latest."""
    from ops.build import docker_build as builds
    from ops.build import gitinfo
    s = settings(c)   # a typo costs nothing: every input is checked before any connection
    git = gitinfo.Asked(s.context_path)   # git answers while the engine is asked
    if tag is not None:
        validate.tag(tag, "--tag")
    if version is not None:   # it reaches the Go linker's -X flag: no spaces or quotes
        validate.version(version, "--version")
    builds.parse_build_args(build_arg, s)   # malformed, reserved or secret: before connecting
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
    from ops.build import vendor
    s = settings(c)
    emit(vendor.vendor(engine(s), s, goproxy=goproxy, progress=progress), json, vendor.render)


@ops_task(iterable=["env"],
          help={"env": "KEY=VALUE for the container (repeatable); values are never printed",
                "env_file": "file of KEY=VALUE lines, as docker --env-file",
                "dev": "mount app/assets read-only over /app/assets (the document's dev mode)",
                "name": NAME_HELP,
                "port": "host port to publish the app on (default: tasky.port)",
                "tag": tag_help("run"),
                "json": JSON_HELP})
def run(c, env=None, env_file=None, dev=False, name=None, port=None, tag="latest", json=False):
    """Run the image detached with its port published."""
    from ops.run import containers, envvars
    s = settings(c, container=name, port=port)
    validate.tag(tag, "--tag")
    variables = envvars.collect(env, env_file, s.env_file_path)
    emit(containers.run(engine(s), s, tag=tag, env=variables, dev=dev), json,
         containers.render_run)


@ops_task(help={"name": NAME_HELP,
                "wait": "wait until the app is verified healthy (or fail after --timeout)",
                "timeout": "seconds to wait with --wait (default: tasky.health_timeout)",
                "json": JSON_HELP})
def health(c, name=None, wait=False, timeout=None, json=False):
    """Show Docker's health record and run the probe live."""
    from ops.run import health as checks
    s = settings(c, health_timeout=timeout)
    name = name and validate.container_name(name, "--name")
    report = emit(checks.health(engine(s), s, name=name, wait=wait), json, checks.render_health)
    if not report["healthy"]:
        raise checks.unhealthy(report)


@ops_task(iterable=["env"],
          help={"tag": tag_help("verify"),
                "env": "KEY=VALUE for the app under test (repeatable); values are never printed",
                "env_file": "file of KEY=VALUE lines (tasky.app.env_file is read first)",
                "json": JSON_HELP})
def verify(c, tag="latest", env=None, env_file=None, json=False):
    """Check wizexercise.txt, appuser, health and image size."""
    from ops.gates import verify as checks
    from ops.run import envvars
    s = settings(c)
    validate.tag(tag, "--tag")
    variables = envvars.collect(env, env_file, s.env_file_path)
    result = emit(checks.verify(engine(s), s, f"{s.image}:{tag}", env=variables), json,
                  checks.render)
    if not result["passed"]:
        raise checks.failed(result)


@ops_task(help={"tag": tag_help("inspect"), "json": JSON_HELP})
def layers(c, tag="latest", json=False):
    """List layer sizes and totals against the size budget."""
    from ops.run import images
    s = settings(c)
    validate.tag(tag, "--tag")
    emit(images.layers(engine(s), f"{s.image}:{tag}", s.size_budget_mb), json,
         images.render_layers)


@ops_task(help={"name": NAME_HELP, "tail": "how many lines from the end (default 100)",
                "follow": "keep printing new lines"})
def logs(c, name=None, tail=None, follow=False):
    """Print the container's log."""
    from ops.run import containers
    s = settings(c)
    name = name and validate.container_name(name, "--name")
    tail = whole("tail", 100 if tail is None else tail)
    for line in containers.logs(engine(s), s, name=name, tail=tail, follow=follow):
        print(line)


@ops_task(help={"name": NAME_HELP, "force": "remove it even if tasky-ops did not start it"})
def stop(c, name=None, force=False):
    """Stop and remove the container `inv run` started."""
    from ops.run import containers
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
    from ops.run import images
    s = settings(c)
    emit(images.clean(engine(s), s, everything=all, cache=cache, include_bases=bases,
                      dry_run=dry_run), json, images.render_clean)


@ops_task(help={"verbose": "go test -v", "json": JSON_HELP})
def app_test(c, verbose=False, json=False):
    """Run go vet and the Go tests inside the builder image."""
    from ops.gates import apptest
    s = settings(c)
    emit(apptest.app_test(engine(s), s, verbose=verbose, progress=progress), json,
         apptest.render)


@ops_task(help={"json": JSON_HELP})
def demo(c, json=False):
    """Build, run, wait for health and verify, in one go."""
    from ops.flows import demo as main_job
    s = settings(c)
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
                "json": JSON_HELP})
def push(c, tag=None, allow_dirty=False, create_repo=False, registry="ecr", region=None,
         json=False):
    """Push the image to ECR and check the stored digest."""
    from ops.registry import push as pushes
    s = aws_settings(c, region)
    kind("registry", registry, REGISTRY_KINDS)
    if isinstance(tag, str) and tag:
        validate.tag(tag, "--tag")
    git = git_info(s) if tag is True else None   # only a bare --tag asks git for the SHA
    emit(pushes.push(engine(s), s, git, tag=tag, allow_dirty=allow_dirty,
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
                "json": JSON_HELP})
def release(c, latest=False, allow_dirty=False, create_repo=False, registry="ecr",
            offline=False, skip_scan=False, scan="local", scan_wait=None, region=None,
            json=False):
    """Build, verify, scan and push; stop at the first failure."""
    from ops.flows import release as releases
    s = aws_settings(c, region)
    kind("registry", registry, REGISTRY_KINDS)
    kind("scan", scan, ("local", "ecr"))
    scan_wait = numeric("scan-wait", 300 if scan_wait is None else scan_wait)
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
    from ops.gates import scan as scans
    s = aws_settings(c, region) if ecr else settings(c)
    if region:   # checked even where unused
        validate.region(region, "--region")
    (validate.tag_or_digest if ecr else validate.tag)(tag, "--tag")
    if ecr:
        from ops.gates import ecr_scan
        ecr_scan.parse_severities(severity)
    else:
        scans.parse_severities(severity)
    kind("scanner", scanner, ("auto", "trivy", "grype"))
    wait = numeric("wait", wait or 0)
    if ecr:
        from ops.gates import ecr_scan
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
    from ops.registry import listing
    s = aws_settings(c, region)
    kind("registry", registry, REGISTRY_KINDS)
    limit = whole("limit", 20 if limit is None else limit, 1)
    emit(listing.images(s, registry_kind=registry, limit=limit), json, listing.render)


@ops_task(help={"src": "the image to point at: a tag or a sha256: digest",
                "dest": "the tag to move there (e.g. latest)",
                "registry": REGISTRY_HELP, "region": REGION_HELP, "json": JSON_HELP})
def promote(c, src, dest, registry="ecr", region=None, json=False):
    """Point a tag at another image; no image data moves."""
    from ops.registry import promotion
    s = aws_settings(c, region)
    validate.tag_or_digest(src, "--src")
    validate.tag(dest, "--dest")
    kind("registry", registry, REGISTRY_KINDS)
    emit(promotion.promote(s, src, dest, registry_kind=registry, progress=progress), json,
         promotion.render)


@ops_task(help={"tag": "the tag to move back (default: latest)",
                "to": "a tag or sha256: digest to move it to, instead of its previous image",
                "registry": REGISTRY_HELP, "region": REGION_HELP, "json": JSON_HELP})
def rollback(c, tag="latest", to=None, registry="ecr", region=None, json=False):
    """Move a tag back to the image it pointed at before."""
    from ops.registry import promotion
    s = aws_settings(c, region)
    validate.tag(tag, "--tag")
    if to is not None:
        validate.tag_or_digest(to, "--to")
    kind("registry", registry, REGISTRY_KINDS)
    emit(promotion.rollback(s, tag=tag, to=to, registry_kind=registry, progress=progress), json,
         promotion.render)


@ops_task(help={"apply": "apply the proposed policy (without it nothing is written)",
                "keep": "tagged images to keep, newest first (default 30)",
                "untagged_days": "days before an untagged image expires (default 14)",
                "region": REGION_HELP, "json": JSON_HELP})
def ecr_policy(c, apply=False, keep=None, untagged_days=None, region=None, json=False):
    """Show the ECR lifecycle policy and propose a default."""
    from ops.registry import ecr_policy as policy
    s = aws_settings(c, region)
    keep = whole("keep", 30 if keep is None else keep, 1)
    days = whole("untagged-days", 14 if untagged_days is None else untagged_days, 1)
    emit(policy.ecr_policy(s, apply=apply, keep=keep, untagged_days=days), json, policy.render)


@ops_task(iterable=["env"],
          help={"env": "KEY=VALUE for the container (repeatable); values are never printed",
                "env_file": "file of KEY=VALUE lines, as docker --env-file",
                "name": NAME_HELP,
                "port": "host port to publish the app on (default: tasky.port)",
                "offline": "build on the offline stand-in bases (default: when the "
                           "document's bases are neither here nor pullable)",
                "json": "print one JSON object per cycle instead of a line"})
def dev(c, env=None, env_file=None, name=None, port=None, offline=False, json=False):
    """Run the app; rebuild and replace it on each Go change."""
    from ops.flows import dev as inner_loop
    from ops.run import envvars
    s = settings(c, container=name, port=port)
    variables = envvars.collect(env, env_file, s.env_file_path)
    inner_loop.dev(engine(s), s, env=variables, offline=offline, as_json=json,
                   progress=progress)
