"""What integration tests share: the session's names and a way to run `inv`."""
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.support import free_port  # noqa: F401  (re-exported for the tests)

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = uuid.uuid4().hex[:8]
IMAGE = f"tasky-it-{RUN_ID}"
SECRET_MARKERS = ("jwt-" + RUN_ID, "pw-" + RUN_ID)


def docker_required():
    flag = os.environ.get("TASKY_REQUIRE_DOCKER") or os.environ.get("CI") or ""
    return flag.lower() not in ("", "0", "false", "no")


class Inv:
    """Runs `inv` as a user would, with this session's image, container and port."""

    def __init__(self):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_TASKY_")}
        self.env.pop("CI", None)  # tests read progress-free output either way
        self.env.update(INVOKE_TASKY_IMAGE=IMAGE, INVOKE_TASKY_CONTAINER=f"{IMAGE}-app",
                        INVOKE_TASKY_PORT=str(free_port()))

    cwd = ROOT

    @staticmethod
    def command(*args):
        return [sys.executable, "-m", "invoke", *args]

    def __call__(self, *args, env=None, cwd=ROOT, timeout=600):
        proc = subprocess.run(self.command(*args), cwd=cwd,
                              env={**self.env, **(env or {})}, capture_output=True,
                              text=True, timeout=timeout)
        proc.output = proc.stdout + proc.stderr
        return proc

    def json(self, *args, **kw):
        proc = self(*args, "--json", **kw)
        assert proc.returncode == 0, proc.output
        return json.loads(proc.stdout)

    @property
    def port(self):
        return int(self.env["INVOKE_TASKY_PORT"])

    @property
    def container(self):
        return self.env["INVOKE_TASKY_CONTAINER"]


