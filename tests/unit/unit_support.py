"""Helpers the unit tests import (a unique module name, so it never clashes with
another test directory's conftest or helpers)."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `import ops` / `import tasks` whatever the cwd
    sys.path.insert(0, str(ROOT))

# A socket path that cannot exist: any Docker call fails at once, never reaches a daemon.
NO_ENGINE = "unix:///nonexistent/tasky-ops-unit/docker.sock"


def invoke_config(lazy=True):
    """An Invoke Config built as `inv` builds it for this project: invoke.yaml, then env."""
    from invoke import Config

    cfg = Config(project_location=str(ROOT), lazy=lazy)
    cfg.load_project()
    cfg.load_shell_env()
    return cfg


def _cli_env(extra=None):
    env = dict(os.environ, DOCKER_HOST=NO_ENGINE)
    env = {k: v for k, v in env.items() if not k.startswith(("INVOKE_TASKY_", "AWS_"))
           and k not in ("CI", "ECR_REGISTRY")}
    env.update(extra or {})
    return env


def cli_many(commands, timeout=60, env=None, cwd=ROOT, envs=None):
    """Run several `python3 -m invoke` command lines at once: {key: args} -> {key: result}.
    envs: {key: variables} for one command's own environment."""
    envs = envs or {}
    started = {key: subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=cwd,
                                     env=_cli_env({**(env or {}), **envs.get(key, {})}),
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
               for key, args in commands.items()}
    results = {}
    for key, proc in started.items():
        out, err = proc.communicate(timeout=timeout)
        results[key] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return results


def git(root, *args):
    """Run git in root and return its stdout, failing the test when git fails."""
    proc = subprocess.run(["git", "-C", str(root), "-c", "init.defaultBranch=main",
                           "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", *args],
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"git {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout.strip()


def project_sources():
    """tasks.py and ops/*.py as committed to git (work in progress in new, untracked
    modules is not judged yet); every .py file when this is not a git checkout."""
    proc = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--", "tasks.py", "ops/*.py"],
                          capture_output=True, text=True)
    if proc.returncode == 0 and proc.stdout.strip():
        paths = [ROOT / line for line in proc.stdout.splitlines()]
    else:
        paths = [ROOT / "tasks.py", *sorted((ROOT / "ops").glob("*.py"))]
    return [path for path in paths if path.is_file()]

