"""Debian's package tools as root: apt-get run non-interactively (through `sudo -n` when not
root, never a password prompt), and what dpkg knows as installed. For `inv setup`
(ops/engine/install.py) and emulation's packages (ops/engine/emulation.py)."""
import os
import shutil
import subprocess

from ops.core.errors import OpsError

def as_root(args):
    """args run as root: directly, or through `sudo -n` (never a password prompt)."""
    if os.geteuid() == 0:
        return args
    if shutil.which("sudo") is None:
        raise OpsError(f"`{' '.join(args)}` needs root, and sudo is not installed",
                       fix="run it as root: python3 -m invoke setup --dev",
                       anchor="test-packages")
    return ["sudo", "-n", *args]


def apt_get(*args, anchor="test-packages"):
    """apt-get ARGS as root, non-interactive; a failure is one line with apt's last words."""
    command = as_root(["apt-get", *args])
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        said = (proc.stderr.strip() or proc.stdout.strip())[-300:]
        raise OpsError(f"`{' '.join(command)}` failed: {said}",
                       fix="fix apt (network, lock, or run as root: sudo python3 -m invoke "
                           "setup --dev) and run it again",
                       anchor=anchor)


def installed_packages(names):
    """The subset of names dpkg knows as installed."""
    if shutil.which("dpkg-query") is None:
        return set()
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\\n", *names],
                          capture_output=True, text=True)
    found = set()
    for line in proc.stdout.splitlines():
        package, _, status = line.partition(" ")
        if status.startswith("ii"):
            found.add(package.split(":")[0])   # package:arch for multi-arch packages
    return found
