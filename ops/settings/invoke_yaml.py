"""invoke.yaml, read once: the project's settings and their defaults.

Apart from ops/settings/config.py (the settings declared on it) so that `inv --list` can check the
file, and say a malformed one in one line, without building the settings.
"""
import functools
from pathlib import Path

from ops.core.errors import OpsError

ROOT = Path(__file__).resolve().parents[2]
CONFIG_FILE = ROOT / "invoke.yaml"


@functools.cache
def tasky_section():
    """invoke.yaml's tasky section; a file that cannot be read is one OpsError naming the line
    (this runs when tasks.py is imported, so even `inv --list` says it in one line)."""
    from invoke.util import yaml

    try:
        with open(CONFIG_FILE, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (OSError, UnicodeDecodeError) as exc:
        raise OpsError(f"cannot read {CONFIG_FILE.name}: {getattr(exc, 'strerror', None) or exc}",
                       fix="restore it: git checkout invoke.yaml", anchor="bad-config") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise OpsError(f"{CONFIG_FILE.name}{where} is not valid YAML ({problem})",
                       fix="correct that line (git diff invoke.yaml shows what changed)",
                       anchor="bad-config") from None
    if not isinstance(data, dict) or not isinstance(data.get("tasky"), dict):
        raise OpsError(f"{CONFIG_FILE.name} has no tasky: section of settings",
                       fix="restore it: git checkout invoke.yaml", anchor="bad-config")
    return data["tasky"]


