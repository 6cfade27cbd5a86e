"""What every task in tasks.py stands on: the one way a known failure ends (one line, exit 1),
signals, and the settings, engine and git a task asks for.

Kept apart from tasks.py so that file holds flags, one call and a renderer per task; kept
light, because tasks.py imports it even for `inv --list`.
"""
import functools
import gc
import json
import os
import sys
import time

from invoke import Exit, Task, task

from ops.core import signals
from ops.core.console import SHOWN, STDOUT
from ops.core.errors import OpsError, foreign

# AWS material a task may be handed in its environment: never printed, whatever prints it.
AWS_SECRETS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def check_configuration(argv=None, environ=None):
    """invoke.yaml, the `-f` file and INVOKE_TASKY_* checked before any task runs, even
    `inv --list`: a malformed file or variable is one line (and, with --json, a JSON
    object on stdout), not Invoke's traceback. Invoke loads `-f` after this, unchecked.
    From here on a signal ends `inv` with its own exit code, also before the task begins
    (ops.core.signals)."""
    from ops.settings import invoke_yaml

    signals.install_outside_task()
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    try:
        invoke_yaml.tasky_section()
        runtime = invoke_yaml.runtime_file(argv, environ)
        if runtime is not None:
            invoke_yaml.check_runtime_file(runtime)
        if any(name.startswith("INVOKE_TASKY_") for name in environ):
            from ops.settings import load
            load.check_environment(environ)   # else Invoke casts them, with a traceback
    except OpsError as error:
        if "--json" in argv:
            print(json.dumps({"ok": False, "error": error.message, "fix": error.fix,
                              "anchor": error.anchor}, indent=2))
        raise Exit("error: " + error.line(), code=1) from None


def reported(body):
    """Run a task inside the one way out (ops/core/output.py: every byte through the redactor)
    and turn a known failure into its one-line message and exit 1, never a traceback.

    With --json the same failure is also printed on stdout as an object, so a machine
    reading stdout always gets JSON. TASKY_DEBUG=1 keeps library tracebacks for bug reports.
    """
    @functools.wraps(body)
    def wrapper(c, *args, **kwargs):
        from ops.core.output import Redacted  # here, not above: `inv --list` stays light
        from ops.core.redact import SECRETS

        startup_made()
        STDOUT.has_result = False
        SHOWN.at = time.monotonic()   # the heartbeats' silence counts from the task's start
        signals.install()   # SIGTERM and SIGHUP clean up as Ctrl-C does
        for name in AWS_SECRETS:
            SECRETS.add(os.environ.get(name))
        try:
            with Redacted():
                return _run(body, c, args, kwargs)
        except Exit as ending:   # Invoke prints it after the streams are given back
            raise Exit(SECRETS.redact(ending.message) if ending.message else ending.message,
                       code=ending.code) from None
        finally:
            signals.install_outside_task()   # the task is over: a signal now just exits
    return wrapper


@functools.cache
def startup_made():
    """Once per process, as its first task starts: what Python, Invoke and tasks.py have made
    by now lives as long as `inv` does, so the cycle collector stops walking it again at
    every full collection (gc.freeze: about 4% of a no-change build's instructions). What
    the task makes is collected as ever."""
    gc.freeze()


def _run(body, c, args, kwargs):
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
        if kwargs.get("json") and not STDOUT.has_result:   # else the report says it all
            print(json.dumps({"ok": False, "error": error.message, "fix": error.fix,
                              "anchor": error.anchor}, indent=2))
        raise Exit("error: " + error.line(), code=1) from None
    except KeyboardInterrupt as exc:   # also SIGTERM and SIGHUP (ops.core.signals)
        name, code = signals.received(exc)
        raise Exit(f"interrupted ({name}); what this task had made is removed",
                   code=code) from None


class OpsTask(Task):
    """invoke's Task, with -h left to --help: Invoke gives a flag the first letter of its
    name not yet taken, and `inv run -h` must not ask --host-ip for a value."""

    def arg_opts(self, name, default, taken_names):
        return super().arg_opts(name, default, set(taken_names) | {"h"})


def ops_task(*args, **kwargs):
    """invoke.task, with known failures and signals ending as reported() says."""
    return lambda body: task(*args, klass=OpsTask, **kwargs)(reported(body))


def settings(c, **flags):
    """The settings with the task's flags applied, every value checked once (settings/load)."""
    from ops.settings import load

    return load.load(c, **flags)


def aws_settings(c, region, **flags):
    """settings() for a task that calls AWS: --region, AWS_REGION and ECR_REGISTRY checked."""
    from ops.settings import validate

    region = region and validate.region(region, "--region")
    return validate.aws(settings(c, **flags).with_region(region))


def engine(s):
    """docker-py's client, connected and pinged (ops/engine/connection.py)."""
    from ops.engine.connection import client

    return client(timeout=s.docker_timeout)


def link(s):
    """The engine without docker-py (ops/engine/socket_api.py): a no-change build takes less
    than importing it."""
    from ops.engine import socket_api

    return socket_api.connect(timeout=s.docker_timeout)


def git_info(s):
    """What git says of the app's repository (the build context's, not this project's)."""
    from ops.image import gitinfo

    return gitinfo.read(s.context_path)
