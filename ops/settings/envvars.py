"""Environment variables for the container: parsed strictly, shown only masked."""
import os
import re
from pathlib import Path

from ops.core import files, redact
from ops.core.errors import OpsError
from ops.settings.validate import plain_text

KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MULTI_LINE = "; a multi-line value such as a PEM key: base64-encode it, or mount it as a file"


def parse_assignment(text, source="-e"):
    """'KEY=VAL' -> (KEY, VAL). A bare 'KEY' takes the value from this shell, like docker -e.
    A control character (validate.plain_text) is refused by its position, in the name or in
    the value, wherever the value came from."""
    key, sep, value = text.partition("=")
    anchor = "bad-flag" if source == "--build-arg" else "bad-env"
    plain_text(key, f"{source} (its name)", anchor)
    if not KEY.fullmatch(key):
        # Echo only the part that could be a name: "DB_PASSWORD:hunter2" must not print hunter2.
        if sep:
            shown = repr(key + "=...")
        else:   # no '=': it may be a bare value, so only a conventional NAME's start is shown
            prefix = re.match(r"[A-Za-z0-9_]*", key).group()
            shown = repr(prefix + "...") if looks_like_a_name(prefix) else "(not shown)"
        raise OpsError(f"malformed {source} value {shown}: expected KEY=VALUE with KEY made "
                       "of letters, digits and '_' (not starting with a digit)",
                       fix=(f"write it as {source} NAME=value" if source.startswith("-")
                            else "write the line as NAME=value"), anchor="bad-env")
    if not sep:
        if key not in os.environ:
            if not looks_like_a_name(key):   # perhaps a value given without its NAME=
                raise OpsError(f"{source} has a value without '=' that names no variable set "
                               "in this shell (not shown: it may be a secret)",
                               fix=f"write it as {source} NAME=value", anchor="bad-env")
            raise OpsError(f"{source} {key} has no value and {key} is not set in this shell",
                           fix=f"write -e {key}=value, or export {key} first", anchor="bad-env")
        value = os.environ[key]
        return key, plain_text(value, f"{source} {key} (its value, from this shell)", anchor,
                               MULTI_LINE)
    return key, plain_text(value, f"{source} {key} (its value)", anchor, MULTI_LINE)


def looks_like_a_name(text):
    """An environment variable's conventional name (DB_PASSWORD): safe to echo. Anything else
    given without '=' may be the value itself, typed without its name."""
    return bool(re.fullmatch(r"[A-Z_][A-Z0-9_]*", text)) and any(c.isalpha() for c in text)


def read_env_file(path):
    """Docker's --env-file format: KEY=VAL lines, '#' comments, blank lines, bare KEY."""
    try:   # a FIFO or a device is refused before it is opened: a read would block
        data = files.read_regular(path, "env file", "bad-env",
                                  fix="pass a regular file of KEY=VALUE lines")
    except OSError as exc:
        raise OpsError(f"cannot read env file {path}: {exc.strerror or type(exc).__name__}",
                       fix="check the path and its permissions", anchor="bad-env") from exc
    lines = _text_lines(path, data)
    env = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.strip().startswith("#"):
            continue
        # Spaces and tabs around the assignment go; a control character stays, to be refused.
        key, value = parse_assignment(line.strip(" \t"), source=f"{path} line {number}")
        env[key] = value
    return env


def _text_lines(path, data):
    """The file's lines, as Docker reads an env file: split at '\\n' alone, a '\\r' before
    it dropped (Windows line ends), so a form feed or any other character str.splitlines()
    breaks at stays inside its line and is refused there (parse_assignment). A UTF-8
    byte-order mark (Windows editors write one) is dropped, and binary content is named as
    such, never quoted (it may be a key file)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\0" in data:
        at = data.index(0)
        start = data.rfind(b"\n", 0, at) + 1
        line, column = data[:at].count(b"\n") + 1, len(data[start:at].decode("utf-8",
                                                                             "replace")) + 1
        raise OpsError(f"env file {path} is binary (a NUL byte on line {line}, character "
                       f"{column}), not KEY=VALUE text", fix="pass the text file of KEY=VALUE "
                       "lines", anchor="bad-env")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise OpsError(f"env file {path} line {line} is not UTF-8 text (byte {exc.start})",
                       fix="save the file as UTF-8 (iconv -t UTF-8), one KEY=VALUE a line",
                       anchor="bad-env") from None
    lines = text.split("\n")
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def collect(assignments=(), env_file=None, profile_file=None):
    """Env for the container: the profile's env file (tasky.app.env_file, when it exists),
    then --env-file, then -e values; later ones win."""
    env = read_env_file(profile_file) if profile_file and Path(profile_file).exists() else {}
    if env_file:
        env.update(read_env_file(env_file))
    for text in assignments or ():
        key, value = parse_assignment(text)
        env[key] = value
    return env


def for_container(assignments, env_file, settings):
    """The container's variables (collect), each value the redactor must hide made known to
    it: every one whose name is not public (a name in secret_env never is). A value too
    short to mask in text without hiding ordinary words is refused, by name only."""
    env = collect(assignments, env_file, settings.env_file_path)
    for key, value in env.items():
        if public(key, settings.app):
            continue
        if 0 < len(value) < redact.MIN_MASKED:
            raise OpsError(f"{key}'s value is {len(value)} characters: too short to hide in "
                           "output (masking it would mask every such word in a log)",
                           fix=f"use a value of {redact.MIN_MASKED} or more characters, or, if it "
                               f"is no secret, add {key} to tasky.app.public_env",
                           anchor="bad-env")
        redact.SECRETS.add(value)
    return env


def public(name, app):
    """A variable whose value may be printed: named in public_env and not in secret_env."""
    upper = name.upper()
    return (upper in {n.upper() for n in app.public_env}
            and upper not in {n.upper() for n in app.secret_env})


def require(env, names, task="run"):
    """Refuse to start a container without the variables the app needs (tasky.app)."""
    missing = [name for name in names if not env.get(name)]
    if missing:
        listed = ", ".join(missing)
        raise OpsError(f"the app needs {listed}, which {'is' if len(missing) == 1 else 'are'} "
                       "not set (tasky.app.required_env)",
                       fix=f"pass it: inv {task} -e {missing[0]}=..., or --env-file FILE, or "
                           "write it in the profile's env file (tasky.app.env_file, .env)",
                       anchor="bad-env")
