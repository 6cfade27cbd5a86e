"""Environment variables for the container: parsed strictly, shown only masked."""
import os
import re

from ops.errors import OpsError

URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)(.*)$", re.DOTALL)
KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SECRET_WORDS = ("SECRET", "PASSWORD", "PASSWD", "PASS", "TOKEN", "KEY", "CREDENTIAL", "AUTH",
                "PRIVATE", "SESSION", "COOKIE", "SALT")
MASK = "****"


def parse_assignment(text, source="-e"):
    """'KEY=VAL' -> (KEY, VAL). A bare 'KEY' takes the value from this shell, like docker -e."""
    key, sep, value = text.partition("=")
    if not KEY.fullmatch(key):
        # Echo only the part that could be a name: "DB_PASSWORD:hunter2" must not print hunter2.
        if sep:
            shown = key + "=..."
        else:
            prefix = re.match(r"[A-Za-z0-9_-]*", key).group()
            shown = key if prefix == key else prefix + "..."
        raise OpsError(f"malformed {source} value {shown!r}: expected KEY=VALUE with KEY made "
                       "of letters, digits and '_' (not starting with a digit)",
                       fix="write it as -e NAME=value", anchor="bad-env")
    if not sep:
        if key not in os.environ:
            raise OpsError(f"{source} {key} has no value and {key} is not set in this shell",
                           fix=f"write -e {key}=value, or export {key} first", anchor="bad-env")
        value = os.environ[key]
    return key, value


def read_env_file(path):
    """Docker's --env-file format: KEY=VAL lines, '#' comments, blank lines, bare KEY."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise OpsError(f"cannot read env file {path}: {reason}",
                       fix="check the path and its permissions", anchor="bad-env") from exc
    env = {}
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, value = parse_assignment(stripped, source=f"{path} line {number}")
        env[key] = value
    return env


def collect(assignments=(), env_file=None):
    """Env for the container: the file first, then -e values, which win."""
    env = read_env_file(env_file) if env_file else {}
    for text in assignments or ():
        key, value = parse_assignment(text)
        env[key] = value
    return env


def looks_secret(key):
    upper = key.upper()
    return any(word in upper for word in SECRET_WORDS)


def redact_uri(value):
    """Hide the password inside a URI's userinfo: mongodb://u:****@host/db.

    Splits by hand at the last '@' because passwords may hold '/', '?' or '@', which
    make urlsplit see no userinfo at all and so return the password untouched.
    """
    match = URI.match(value)
    if not match:
        return value
    scheme, rest = match.groups()
    userinfo, at, hostinfo = rest.rpartition("@")
    if not at:
        return value
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}{user}{':' + MASK if colon else ''}@{hostinfo}"


def mask(key, value):
    """What may be printed for key=value."""
    if looks_secret(key):
        return MASK
    if "://" in value:
        return redact_uri(value)
    return value


def masked(env):
    return {key: mask(key, value) for key, value in env.items()}
