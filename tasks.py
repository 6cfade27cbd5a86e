"""tasky-ops: build, run, verify and ship the Tasky container. `inv --list` shows the tasks.

Tasks stay thin: read flags, call one function in ops/, print what it returns. Heavy
imports (docker, boto3) happen inside ops/ functions so listing tasks stays fast.
"""
import functools
import sys

from invoke import Exit, task

from ops import config
from ops.console import emit, in_ci, progress, shorten, table
from ops.errors import OpsError


def reported(body):
    """Turn a known failure into its one-line message and exit 1, never a traceback."""
    @functools.wraps(body)
    def wrapper(c, *args, **kwargs):
        try:
            return body(c, *args, **kwargs)
        except OpsError as error:
            for line in error.details:
                print("  | " + line, file=sys.stderr)
            raise Exit("error: " + error.line(), code=1) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None
    return wrapper


def ops_task(*args, **kwargs):
    return lambda body: task(*args, **kwargs)(reported(body))


def settings(c, **flags):
    return config.from_invoke(c).with_overrides(**flags)


def engine(s):
    from ops.engine import client
    return client(timeout=s.docker_timeout)


def git_info(s):
    from ops import gitinfo
    return gitinfo.read(s.root)


JSON_HELP = "print JSON for machines instead of a table"


@ops_task(help={"json": JSON_HELP})
def setup(c, json=False):
    """Install and start the Docker engine when it is missing."""
    from ops.setup import setup as do_setup
    emit(do_setup(progress=progress), json,
         lambda rows: table(rows, [("component", "component"), ("action", "action")]))


@ops_task(help={"force": "rebuild even when the stand-ins are present and current",
                "json": JSON_HELP})
def bases(c, force=False, json=False):
    """Build offline stand-ins for golang:1.19 and alpine:3.17.0."""
    from ops import bases as standins
    s = settings(c)
    rows = standins.ensure(engine(s), s.bases, force=force, progress=progress)
    emit(rows, json, lambda rows: table(rows, [
        ("base", "image"), ("stands_in_for", "stands in for"), ("status", "status"),
        ("size_mb", "MB"), ("seconds", "seconds")]))


BUILD_COLUMNS = [("tags", "tags"), ("id", "image id"), ("size_mb", "MB"),
                 ("seconds", "seconds"), ("cached_steps", "cached steps"), ("steps", "steps")]


@ops_task(help={"tag": "also tag the image IMAGE:TAG (checked against Docker's tag grammar)",
                "version": "version baked into the binary and labels "
                           "(default: git describe --tags --always --dirty)",
                "no_cache": "build every step again",
                "pull": "pull the base images even when present",
                "offline": "use stand-in bases built from Debian packages (built when missing)",
                "quiet": "hide build steps (the default in CI; the log still shows on failure)",
                "verbose": "show build steps even in CI",
                "json": JSON_HELP})
def build(c, tag=None, version=None, no_cache=False, pull=False, offline=False, quiet=False,
          verbose=False, json=False):
    """Build the image, tagged by git SHA and latest."""
    from ops import images, refs
    s = settings(c)
    refs.check_request(s.image, tag)   # a typo costs nothing: checked before any connection
    show_steps = verbose or not (quiet or in_ci() or json)
    result = images.build(engine(s), s, git_info(s), extra_tag=tag, version=version,
                          nocache=no_cache, pull=pull, offline=offline, verbose=show_steps,
                          progress=progress)
    emit(result, json, lambda r: table([r], BUILD_COLUMNS))


@ops_task(iterable=["env"],
          help={"env": "KEY=VALUE for the container (repeatable); values are never printed",
                "env_file": "file of KEY=VALUE lines, as docker --env-file",
                "dev": "mount app/assets read-only over /app/assets (the document's dev mode)",
                "name": "container name (default: tasky.container)",
                "port": "host port to publish the app on (default: tasky.port)",
                "tag": "image tag to run (default: latest)",
                "json": JSON_HELP})
def run(c, env=None, env_file=None, dev=False, name=None, port=None, tag="latest", json=False):
    """Run the image detached with its port published."""
    from ops import containers, envvars
    s = settings(c, container=name, port=port)
    variables = envvars.collect(env, env_file)
    result = containers.run(engine(s), s, tag=tag, env=variables, dev=dev)
    emit(result, json, lambda r: table([r], [
        ("container", "container"), ("id", "id"), ("image", "image"), ("url", "url"),
        ("app", "app"), ("env", "env (masked)"), ("seconds", "seconds")]))


def _app_line(app):
    if not app:
        return "port not published"
    if app.get("status"):
        return f"{app['url']}: HTTP {app['status']}, version {app.get('version')}"
    return f"{app['url']}: {app.get('error')}"


def render_health(report):
    probe = report["live_probe"]
    rows = [{"what": "container state", "value": report["state"]},
            {"what": "docker health", "value": f"{report['docker_status']} "
                                               f"(failing streak {report['failing_streak']})"},
            *({"what": f"docker probe {p['end']}", "value": f"exit {p['exit_code']}: {p['output']}"}
              for p in report["last_probes"]),
            {"what": "live probe (image's HEALTHCHECK)",
             "value": f"exit {probe.get('exit_code')}: {probe.get('output')}"},
            {"what": "app from the host", "value": _app_line(report.get("app"))},
            {"what": "verdict", "value": "healthy" if report["healthy"] else "NOT healthy"}]
    return table(rows, [("what", "check"), ("value", "result")])


@ops_task(help={"name": "container name (default: tasky.container)",
                "wait": "wait until the app is verified healthy (or fail after --timeout)",
                "timeout": "seconds to wait with --wait (default: tasky.health_timeout)",
                "json": JSON_HELP})
def health(c, name=None, wait=False, timeout=None, json=False):
    """Show Docker's health record and run the probe live."""
    from ops import containers
    s = settings(c, health_timeout=timeout)
    report = containers.health(engine(s), s, name=name, wait=wait)
    emit(report, json, render_health)
    if not report["healthy"]:
        raise Exit(code=1)


@ops_task(help={"tag": "image tag to verify (default: latest)", "json": JSON_HELP})
def verify(c, tag="latest", json=False):
    """Check wizexercise.txt, appuser, health and image size."""
    from ops.verify import verify as do_verify
    s = settings(c)
    result = do_verify(engine(s), s, f"{s.image}:{tag}")
    emit(result, json, lambda r: table(r["checks"], [
        ("check", "check"), ("expected", "expected"), ("actual", "actual"), ("passed", "passed")])
        + f"\n{'PASSED' if r['passed'] else 'FAILED'}: {r['image']} ({r['id']})")
    if not result["passed"]:
        raise Exit("error: verify failed. Fix: see the failed rows. See RUNBOOK.md#verify-fails",
                   code=1)


@ops_task(help={"tag": "image tag to inspect (default: latest)", "json": JSON_HELP})
def layers(c, tag="latest", json=False):
    """List layer sizes and totals against the size budget."""
    from ops import images
    s = settings(c)
    result = images.layers(engine(s), f"{s.image}:{tag}", s.size_budget_mb)
    emit(result, json, lambda r: table([dict(row, created_by=shorten(row["created_by"], 90))
                                        for row in r["layers"]], [
        ("layer", "#"), ("size_mb", "MB"), ("cumulative_mb", "total MB"),
        ("created_by", "created by")])
        + f"\n{r['image']}: {r['size_mb']} MB of {r['budget_mb']:g} MB budget"
        + ("" if r["within_budget"] else "  OVER BUDGET"))


@ops_task(help={"name": "container name (default: tasky.container)",
                "tail": "how many lines from the end", "follow": "keep printing new lines"})
def logs(c, name=None, tail=100, follow=False):
    """Print the container's log."""
    from ops import containers
    s = settings(c)
    for line in containers.logs(engine(s), s, name=name, tail=int(tail), follow=follow):
        print(line)


@ops_task(help={"name": "container name (default: tasky.container)",
                "force": "remove it even if tasky-ops did not start it"})
def stop(c, name=None, force=False):
    """Stop and remove the container `inv run` started."""
    from ops import containers
    s = settings(c)
    result = containers.stop(engine(s), s, name=name, force=force)
    print(f"{result['container']}: {result['status']}")


@ops_task(help={"all": "every tasky-ops image and container, not only tasky.image's",
                "cache": "also the build stage's cached images (next build is cold)",
                "bases": "also the offline stand-in bases",
                "dry_run": "list what would be removed, remove nothing",
                "json": JSON_HELP})
def clean(c, all=False, cache=False, bases=False, dry_run=False, json=False):
    """Remove the images and containers this project made."""
    from ops import images
    s = settings(c)
    rows = images.clean(engine(s), s, everything=all, cache=cache, include_bases=bases,
                        dry_run=dry_run)
    emit(rows, json, lambda rows: table(rows, [("kind", "kind"), ("name", "name"),
                                               ("id", "id"), ("status", "status")])
         if rows else "nothing to remove")


@ops_task(help={"verbose": "go test -v", "json": JSON_HELP})
def app_test(c, verbose=False, json=False):
    """Run go vet and the Go tests inside the builder image."""
    from ops.apptest import app_test as run_app_tests
    s = settings(c)
    result = run_app_tests(engine(s), s, verbose=verbose, progress=progress)
    emit(result, json, lambda r: table([r], [("image", "builder"), ("result", "go vet + go test"),
                                             ("seconds", "seconds")]))


@ops_task(help={"json": JSON_HELP})
def demo(c, json=False):
    """Build, run, wait for health and verify, in one go."""
    from ops.demo import demo as run_demo
    s = settings(c)
    result = run_demo(engine(s), s, git_info(s), progress=progress)
    emit(result, json, lambda r: table(r["steps"], [("step", "step"), ("result", "result"),
                                                    ("seconds", "seconds")])
         + (f"\nThe app is up at {r['url']} (inv logs, inv stop)." if r["passed"] else ""))
    if not result["passed"]:
        raise Exit("error: demo failed at verify. Fix: see the failed rows. "
                   "See RUNBOOK.md#verify-fails", code=1)


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


PUSH_COLUMNS = [("reference", "pushed"), ("status", "status"), ("layers_pushed", "layers up"),
                ("layers_existing", "already there"), ("attempts", "attempts"),
                ("seconds", "seconds")]


@ops_task(help={"region": "AWS region (beats AWS_REGION, AWS_DEFAULT_REGION and tasky.ecr.region)",
                "docker_config": "also store the token for the docker CLI (written to disk: "
                                 "~/.docker/config.json, or its credential helper)",
                "json": JSON_HELP})
def login(c, docker_config=False, region=None, json=False):
    """Check an ECR token against the registry; store it nowhere."""
    from ops.login import login as do_login
    s = settings(c).with_region(region)
    result = do_login(s, docker_config=docker_config)
    if docker_config and not result["stored"].startswith("credential helper"):
        progress("warning: the token is now on disk in plain base64 for 12 hours")
    emit(result, json, lambda r: table([r], [
        ("registry", "registry"), ("account", "account"), ("region", "region"),
        ("expires_at", "expires"), ("expires_in", "left"), ("stored", "token stored")]))


@ops_task(optional=["tag"],
          help={"region": "AWS region (beats AWS_REGION, AWS_DEFAULT_REGION and tasky.ecr.region)",
                "tag": "no flag: push latest; bare --tag: the git SHA tag; --tag T: tag T",
                "allow_dirty": "push a -dirty tag (built from uncommitted changes)",
                "create_repo": "create the ECR repository if missing (scan on push, "
                               "tasky.ecr.tag_mutability tags)",
                "registry": "ecr (default) or local (the registry `inv registry` runs)",
                "json": JSON_HELP})
def push(c, tag=None, allow_dirty=False, create_repo=False, registry="ecr", region=None,
         json=False):
    """Push the image to ECR and check the stored digest."""
    from ops.push import push as do_push
    s = settings(c).with_region(region)
    git = git_info(s) if tag is True else None   # only a bare --tag asks git for the SHA
    result = do_push(engine(s), s, git, tag=tag, allow_dirty=allow_dirty,
                     create_repo=create_repo, where=registry, progress=progress)
    emit(result, json, lambda r: table([r], PUSH_COLUMNS))


@ops_task(help={"region": "AWS region (beats AWS_REGION, AWS_DEFAULT_REGION and tasky.ecr.region)",
                "latest": "also push the latest tag after the SHA tag",
                "allow_dirty": "release a tree with uncommitted changes (-dirty tag)",
                "create_repo": "create the ECR repository if missing",
                "registry": "ecr (default) or local",
                "offline": "build on the offline stand-in bases",
                "skip_scan": "release without the vulnerability gate (said in the summary)",
                "json": JSON_HELP})
def release(c, latest=False, allow_dirty=False, create_repo=False, registry="ecr",
            offline=False, skip_scan=False, region=None, json=False):
    """Build, verify, scan and push; stop at the first failure."""
    from ops.release import release as do_release
    s = settings(c).with_region(region)
    result = do_release(engine(s), s, git_info(s), latest=latest, allow_dirty=allow_dirty,
                        create_repo=create_repo, where=registry, offline=offline,
                        skip_scan=skip_scan, progress=progress)
    emit(result, json, lambda r: table(r["steps"], [("step", "step"), ("result", "result"),
                                                    ("seconds", "seconds")]))


@ops_task(help={"stop": "stop the local registry instead", "json": JSON_HELP})
def registry(c, stop=False, json=False):
    """Start a local registry to try pushes without AWS."""
    from ops import registry as local
    s = settings(c)
    result = (local.stop_local if stop else local.start_local)(engine(s), s)
    emit(result, json, lambda r: table([r], [(k, k) for k in r]))


@ops_task(help={"tag": "image tag to scan (default: latest)",
                "severity": "severities that fail the gate (default: the document's CRITICAL,HIGH)",
                "scanner": "trivy, grype, or auto (Trivy when installed, else Grype)",
                "skip_db_update": "use the scanner's database as it is (offline machines)",
                "json": JSON_HELP})
def scan(c, tag="latest", severity="CRITICAL,HIGH", scanner="auto", skip_db_update=False,
         json=False):
    """Scan the image; fail on CRITICAL or HIGH findings."""
    from ops.scan import scan as do_scan
    s = settings(c)
    result = do_scan(engine(s), s, tag=tag, severity=severity, scanner=scanner,
                     skip_db_update=skip_db_update)
    emit(result, json, lambda r: (table(r["findings"], [
        ("id", "vulnerability"), ("severity", "severity"), ("package", "package"),
        ("installed", "installed"), ("fixed", "fixed in")]) if r["findings"] else "no findings")
        + f"\n{r['scanner']} on {r['image']}, gate {r['severity']}, database "
          f"{r['database_built']} ({r['database_age']} old): "
        + ("PASSED" if r["passed"] else f"FAILED with {len(r['findings'])} findings"))
    if not result["passed"]:
        raise Exit("error: scan gate failed. Fix: update the packages named in 'fixed in' "
                   "(usually the base image). See RUNBOOK.md#scan-gate-failed", code=1)


@ops_task(help={"json": JSON_HELP})
def lint(c, json=False):
    """Lint the Dockerfile, the Go app and the Python code."""
    from ops.lint import lint as do_lint
    s = settings(c)
    result = do_lint(engine(s), s, progress=progress)
    emit(result, json, lambda r: table(r["tools"], [("tool", "tool"), ("result", "result"),
                                                   ("findings", "findings")])
         + ("\n" + table(r["findings"], [("tool", "tool"), ("where", "where"), ("code", "code"),
                                         ("level", "level"), ("message", "message")])
            if r["findings"] else ""))
    if not result["passed"]:
        raise Exit("error: lint found problems (listed above). See RUNBOOK.md#lint-fails", code=1)


@ops_task(help={"region": "AWS region (beats AWS_REGION, AWS_DEFAULT_REGION and tasky.ecr.region)",
                "aws": "also check AWS credentials, region and ECR (--no-aws skips them)",
                "fix": "apply the safe fixes (start the daemon, docker group, offline bases, "
                       "stale stopped container) and say what was done",
                "json": JSON_HELP})
def doctor(c, aws=True, fix=False, region=None, json=False):
    """Diagnose every known failure and name its fix."""
    from ops.doctor import doctor as diagnose
    from ops.doctor import render
    result = diagnose(settings(c).with_region(region), aws=aws, fix=fix, progress=progress)
    emit(result, json, render)
    if not result["ok"]:
        raise Exit(code=1)
