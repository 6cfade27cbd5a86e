"""One validator per kind of value, for the one boundary every input crosses before any engine
or AWS call: (value, source) -> the value in its canonical form (a port as an int, a host
lowercased), or the one-line refusal naming where the value came from (--flag, VARIABLE or
invoke.yaml line N), the value and the form accepted. Each setting names its validator where
it is declared (config.py); the task flags that are no setting call theirs in tasks.py; the
image reference grammar is ops/core/reference.py. Also the variables tasky-ops reads itself
(DOCKER_HOST, ECR_REGISTRY, AWS_REGION).
"""
import ipaddress
import math
import os
import re

from ops.core import reference
from ops.core.errors import OpsError, refuse

VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
CONTAINER = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}")
HOSTNAME = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
                      r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def fail(source, value, accepted, good, anchor=None):
    raise refuse(source, value, accepted, good, anchor)


# --- one validator per kind of value: (value, source) -> canonical value -----------------

def number(value, source, minimum=0.0, whole=False, above=False):
    try:
        found = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        found = None
    kind = "a whole number" if whole else "a number"
    bound = f"above {minimum:g}" if above else f"at least {minimum:g}"
    ok = (found is not None and math.isfinite(found) and (found > minimum if above
                                                           else found >= minimum)
          and (not whole or found == int(found)))
    if not ok:
        fail(source, value, f"{kind} {bound}", int(minimum) + 1 if above else 20)
    return int(found) if whole else found


def port(value, source, allow_zero=True):
    try:
        found = int(str(value).strip()) if not isinstance(value, bool) else -1
    except ValueError:
        found = -1
    if not (0 if allow_zero else 1) <= found <= 65535:
        fail(source, value, "a port 1-65535" + (", or 0 for one Docker picks" if allow_zero
                                                else ""), 8081)
    return found


def ip(value, source):
    try:
        return str(ipaddress.ip_address(str(value).strip("[]")))
    except ValueError:
        fail(source, value, "an IP address such as 0.0.0.0 or 127.0.0.1", "127.0.0.1")


# --- free text that becomes a variable, a build arg or a linker flag ------------------------

# Refused in such text: every C0 control but tab, DEL, every C1 control (NEL U+0085 among
# them) and the Unicode line and paragraph separators U+2028 and U+2029. That is every
# boundary str.splitlines() knows (\n \r \v \f \x1c-\x1e \x85 \u2028 \u2029) and more: a
# value holding one is split into two lines somewhere downstream (Docker's env files, a
# build's history, a log), or shows in a terminal as something it is not.
CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
CONTROL_NAMES = {"\n": "a line feed", "\r": "a carriage return", "\x0b": "a vertical tab",
                 "\x0c": "a form feed", "\x00": "a NUL", "\x1b": "an escape",
                 "\x85": "a next-line (NEL)", "\u2028": "a line separator",
                 "\u2029": "a paragraph separator"}


def plain_text(value, where, anchor="bad-flag", hint=""):
    """`value` when it holds no control character (CONTROL; tab is allowed), else the
    one-line refusal naming `where` it came from, the first one's position (character N,
    counted from 1) and which character it is: never any of the value's content.

    The one place this is decided: -e values and env-file lines (envvars.py), --build-arg and
    the shell's Go variables a build passes on (build_arg below), --version (version)."""
    found = CONTROL.search(value) if isinstance(value, str) else None
    if found:
        char = found.group()
        more = len(CONTROL.findall(value)) - 1
        raise OpsError(f"{where} has a control character ({CONTROL_NAMES.get(char, 'one')}, "
                       f"U+{ord(char):04X}) at character {found.start() + 1}"
                       + (f", and {more} more" if more else ""),
                       fix="make it one line of printable text (tabs are allowed)" + hint,
                       anchor=anchor)
    return value


# scheme://userinfo@: a user or token (https://TOKEN@host), or user:password, where the
# password may hold '/' (the same reading as ops/core/redact.py's URL_PASSWORD). A GOPROXY
# list's ',' and '|' end an entry.
URL_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?:[^\s/?#@,|]*@|[^\s/:@,|]*:[^\s,|]*@)")


def build_arg(value, where):
    """A value a build passes to the Dockerfile (--build-arg, or a Go variable from this
    shell): plain text, and no credentials inside a URL. Build args are kept in the history
    of the image and, with the classic builder, of the build stages it keeps, for anyone who
    can read the image; the build's credentials take another route."""
    plain_text(value, where, "bad-flag")
    if URL_USERINFO.search(value):
        raise OpsError(f"{where} holds credentials in a URL (user:password@ or token@): "
                       "build args are stored in the image history (and in the build stages "
                       "the classic builder keeps), readable by anyone with the image",
                       fix="remove the user:password@ from the URL and give the build its "
                           "credentials as a BuildKit secret (RUN --mount=type=secret,"
                           "id=netrc,target=/root/.netrc), or set the proxy in the engine's "
                           "own environment (dockerd's HTTPS_PROXY)",
                       anchor="build-arg-credentials")
    return value


def container_name(value, source):
    if not isinstance(value, str) or not CONTAINER.fullmatch(value) or len(value) > 128:
        fail(source, value, "a container name: 2 or more letters, digits, '_', '.' or '-', "
             "starting with a letter or digit", "tasky-dev")
    return value


def version(value, source):
    plain_text(value, source)   # it reaches the linker's -X flag and the image's labels
    if not isinstance(value, str) or not VERSION.fullmatch(value):
        fail(source, value, "1-128 letters, digits, '.', '_', '+' or '-' (no spaces or "
             "quotes), starting with a letter or digit", "v1.2.3")
    return value


def region(value, source):
    if not isinstance(value, str) or not REGION.fullmatch(value):
        fail(source, value, "an AWS region such as us-east-1 or eu-west-2",
             "us-east-1")
    return value


def registry_host(value, source):
    """HOST[:PORT] with no scheme or path; returned lowercased, as DNS compares names."""
    text = value if isinstance(value, str) else ""
    host, _, port_text = text.rpartition(":") if not text.endswith("]") else (text, "", "")
    if not host:
        host, port_text = text, ""
    lowered = host.lower()
    ok = bool(lowered) and (HOSTNAME.fullmatch(lowered) or _bracketed_ipv6(lowered))
    if ok and ":" in text and not text.endswith("]"):
        ok = port_text.isdigit() and 1 <= int(port_text) <= 65535
    if not ok:
        from ops.core.redact import redact_text, redact_uri

        fail(source, redact_text(redact_uri(text)) if text else value,
             "a registry host HOST or HOST:PORT (no scheme, path or spaces)",
             "123456789012.dkr.ecr.us-east-1.amazonaws.com or 127.0.0.1:5000",
             "bad-registry" if not source.startswith("--") else "bad-flag")
    return lowered + (f":{port_text}" if ":" in text and not text.endswith("]") else "")


def _bracketed_ipv6(host):
    if not (host.startswith("[") and host.endswith("]")):
        return False
    try:
        return ipaddress.ip_address(host[1:-1]).version == 6
    except ValueError:
        return False


def choice(value, source, choices):
    if value not in choices:
        fail(source, value, "one of " + ", ".join(choices), choices[0])
    return value


def env_names(value, source):
    for name in value or ():
        if not ENV_NAME.fullmatch(name):
            fail(source, name, "variable names (letters, digits, '_')", "[MONGODB_URI]",
                 "bad-config")
    return value


def tags(value, source):
    for item in value or ():
        reference.tag(item, source)
    return value


def probe_path(value, source):
    """A URL path to GET, or empty: then the image's own HEALTHCHECK alone says it is up."""
    if value == "":
        return value
    if not isinstance(value, str) or not value.startswith("/") or any(c.isspace() for c in value):
        fail(source, value, "a URL path starting with '/', or empty (the HEALTHCHECK only)",
             "/healthz", "bad-config")
    return value


def optional(check):
    """The same check, with '' meaning 'not set' (the ecr section's empty defaults)."""
    return lambda value, source: value if value == "" else check(value, source)


def one_of(*choices):
    return lambda value, source: choice(value, source, choices)


def at_least(minimum=0.0, whole=False, above=False):
    return lambda value, source: number(value, source, minimum, whole=whole, above=above)


# --- variables tasky-ops reads itself ------------------------------------------------------

# What the build path reaches itself (ops/engine/socket_api.py), checked without docker-py.
PLAIN_HOST = re.compile(r"^(?:unix:///\S*[^/\s]|tcp://(?:[A-Za-z0-9.-]+|\[[0-9a-fA-F:.]+\])"
                        r":(\d{1,5}))$")


def docker_host(environ=None):
    """DOCKER_HOST, when set, in a form docker-py can use (else it is blamed on the engine)."""
    environ = os.environ if environ is None else environ
    value = environ.get("DOCKER_HOST")
    if not value:
        return None
    from ops.core.redact import redact_uri

    shown = redact_uri(value)
    accepted = "unix:///path, tcp://HOST:PORT or ssh://USER@HOST"
    scheme = value.split("://", 1)[0] if "://" in value else "tcp"
    if scheme not in ("unix", "tcp", "http", "https", "ssh", "npipe", "http+unix"):
        fail("DOCKER_HOST", shown, accepted, "unix:///var/run/docker.sock",
             "bad-docker-host")
    plain = PLAIN_HOST.match(value)
    if plain and (plain.group(1) is None or 0 < int(plain.group(1)) < 65536):
        return value
    import docker

    try:
        docker.utils.parse_host(value)
    except (docker.errors.DockerException, ValueError):   # ValueError: a port out of range
        fail("DOCKER_HOST", shown, accepted, "unix:///var/run/docker.sock",
             "bad-docker-host")
    return value


def aws(settings, environ=None):
    """The region (flag, AWS_REGION, AWS_DEFAULT_REGION or tasky.ecr.region) and ECR_REGISTRY,
    before any AWS call."""
    environ = os.environ if environ is None else environ
    value, source = settings.ecr.region_and_source
    if source.startswith("--") or source.startswith("AWS_"):
        region(value, source)
    if environ.get("ECR_REGISTRY"):
        registry_host(environ["ECR_REGISTRY"], "ECR_REGISTRY")
    return settings
