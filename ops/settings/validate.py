"""The one boundary every input crosses before any engine or AWS call.

Flags, INVOKE_TASKY_* variables, invoke.yaml values and the variables tasky-ops reads itself
(DOCKER_HOST, ECR_REGISTRY, AWS_REGION) are checked here, each failure one line naming where
the value came from (--flag, VARIABLE or invoke.yaml line N), the value and the form accepted.
Validators return the value in its canonical form (a port as an int, a host lowercased).
"""
import difflib
import ipaddress
import math
import os
import re

from ops.core import reference
from ops.core.errors import OpsError

ENV_PREFIX = "INVOKE_TASKY_"
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
CONTAINER = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}")
HOSTNAME = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
                      r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def fail(source, value, accepted, good, anchor="bad-flag"):
    """Raise the one-line refusal: where the value came from, the value, what is accepted."""
    raise OpsError(f"{source} is {value!r}: expected {accepted}",
                   fix=f"e.g. {example(source, good)}", anchor=anchor)


def example(source, good):
    if source.startswith("--"):
        return f"{source} {good}"
    if re.fullmatch(r"[A-Z][A-Z0-9_]*", source):
        return f"{source}={good}"
    return f"{source.split(' (')[0]}: {good}"


def anchor_for(source):
    return "bad-flag" if source.startswith("--") else "bad-config"


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
        fail(source, value, f"{kind} {bound}", int(minimum) + 1 if above else 20,
             anchor_for(source))
    return int(found) if whole else found


def port(value, source, allow_zero=True):
    try:
        found = int(str(value).strip()) if not isinstance(value, bool) else -1
    except ValueError:
        found = -1
    if not (0 if allow_zero else 1) <= found <= 65535:
        fail(source, value, "a port 1-65535" + (", or 0 for one Docker picks" if allow_zero
                                                else ""), 8081, anchor_for(source))
    return found


def ip(value, source):
    try:
        return str(ipaddress.ip_address(str(value).strip("[]")))
    except ValueError:
        fail(source, value, "an IP address such as 0.0.0.0 or 127.0.0.1", "127.0.0.1",
             anchor_for(source))


def tag(value, source):
    if not isinstance(value, str) or not reference.TAG.fullmatch(value):
        raise OpsError(f"invalid tag {value!r} ({source}): a tag is 1-128 letters, digits, '_', "
                       "'.' or '-', not starting with '.' or '-'",
                       fix=f"e.g. {example(source, 'v1.2.3')}", anchor="bad-tag")
    return value


def tag_or_digest(value, source):
    if isinstance(value, str) and value.startswith("sha256:"):
        if not DIGEST.fullmatch(value):
            fail(source, value, "sha256: and 64 lowercase hex digits, or a tag",
                 "v1.2.3", "bad-tag")
        return value
    return tag(value, source)


def repository(value, source, host_allowed=True):
    ok = isinstance(value, str) and reference.REPOSITORY.fullmatch(value) and len(value) <= 255
    if ok and not host_allowed and "/" in value and ("." in value.split("/")[0]
                                                     or ":" in value.split("/")[0]):
        ok = False
    if not ok:
        fail(source, value, "an image name: lowercase letters, digits and separators (. _ - /)"
             + (", optionally after a registry host" if host_allowed else ""),
             "tasky or team/tasky", "bad-tag" if source.startswith("--") else "bad-config")
    return value


def image_ref(value, source):
    """An image reference NAME[:TAG] (the bases)."""
    name, tagged = reference.split(value) if isinstance(value, str) else ("", "")
    if not (reference.REPOSITORY.fullmatch(name) and reference.TAG.fullmatch(tagged)):
        fail(source, value, "an image reference NAME[:TAG] (lowercase name, optionally after a "
             "registry host)", "golang:1.19", anchor_for(source))
    return value


def container_name(value, source):
    if not isinstance(value, str) or not CONTAINER.fullmatch(value) or len(value) > 128:
        fail(source, value, "a container name: 2 or more letters, digits, '_', '.' or '-', "
             "starting with a letter or digit", "tasky-dev", anchor_for(source))
    return value


def version(value, source):
    if not isinstance(value, str) or not VERSION.fullmatch(value):
        fail(source, value, "1-128 letters, digits, '.', '_', '+' or '-' (no spaces or "
             "quotes), starting with a letter or digit", "v1.2.3", anchor_for(source))
    return value


def region(value, source):
    if not isinstance(value, str) or not REGION.fullmatch(value):
        fail(source, value, "an AWS region such as us-east-1 or eu-west-2",
             "us-east-1", anchor_for(source))
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
        fail(source, value, "one of " + ", ".join(choices), choices[0],
             anchor_for(source))
    return value


def env_names(value, source):
    for name in value or ():
        if not ENV_NAME.fullmatch(name):
            fail(source, name, "variable names (letters, digits, '_')", "[MONGODB_URI]",
                 "bad-config")
    return value


def tags(value, source):
    for item in value or ():
        tag(item, source)
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


# --- the settings: path in the tasky section -> validator --------------------------------

SCHEMA = {
    ("image",): repository,
    ("container",): container_name,
    ("port",): port,
    ("host_ip",): ip,
    ("size_budget_mb",): lambda v, s: number(v, s, above=True),
    ("health_timeout",): lambda v, s: number(v, s),
    ("start_grace",): lambda v, s: number(v, s),
    ("builder",): lambda v, s: choice(v, s, ("classic", "buildkit", "auto")),
    ("docker_timeout",): lambda v, s: number(v, s, whole=True, above=True),
    ("app", "container_port"): lambda v, s: port(v, s, allow_zero=False),
    ("app", "probe_path"): probe_path,
    ("app", "required_env"): env_names,
    ("app", "secret_env"): env_names,
    ("app", "public_env"): env_names,
    ("bases", "go"): image_ref,
    ("bases", "runtime"): image_ref,
    ("bases", "offline_go"): image_ref,
    ("bases", "offline_runtime"): image_ref,
    ("ecr", "repository"): lambda v, s: repository(v, s, host_allowed=False),
    ("ecr", "region"): optional(region),
    ("ecr", "registry"): optional(registry_host),
    ("ecr", "tag_mutability"): lambda v, s: choice(v, s, ("IMMUTABLE", "MUTABLE")),
    ("ecr", "local_registry"): registry_host,
    ("ecr", "push_retries"): lambda v, s: number(v, s, whole=True),
    ("ecr", "push_backoff"): lambda v, s: number(v, s),
    ("ecr", "release_tags"): tags,
}


def variable(path):
    return ENV_PREFIX + "_".join(path).upper()


def _value(settings, path):
    value = settings
    for key in path:
        value = getattr(value, key)
    return value


def source_of(path, flags):
    """Where the value of a setting came from: the flag, the INVOKE_TASKY_ variable, a file."""
    if path[-1] in flags:
        return flags[path[-1]]
    if variable(path) in os.environ:
        return variable(path)
    return None


def check_settings(settings, flags=None):
    """Every setting checked against SCHEMA; flags maps a setting's name to the flag that gave
    it ({"port": "--port"}). Returns the settings with canonical values."""
    import dataclasses

    from ops.settings import config

    flags = flags or {}
    changed = {}
    for path, check in SCHEMA.items():
        value = _value(settings, path)
        source = source_of(path, flags)
        try:
            canonical = check(value, source or "tasky." + ".".join(path))
        except OpsError:
            if source is not None:
                raise
            # Finding the file and line parses YAML (about 5 ms a file): only for a refusal.
            where = config.where_written(path, value)
            check(value, "tasky." + ".".join(path) + f" ({where})")
            raise
        if canonical != value and not isinstance(value, (int, float)):
            changed[path] = canonical
    for path, canonical in changed.items():
        if len(path) == 1:
            settings = dataclasses.replace(settings, **{path[0]: canonical})
        else:
            section = dataclasses.replace(getattr(settings, path[0]), **{path[1]: canonical})
            settings = dataclasses.replace(settings, **{path[0]: section})
    return settings


# --- INVOKE_TASKY_* before Invoke casts them (it raises its own ValueError otherwise) ----

def known_variables():
    """{INVOKE_TASKY_NAME: (path, default)} for every configurable setting."""
    import dataclasses

    from ops.settings import config

    found = {}
    for field in config._fields(config.Settings).values():
        cls = config.SECTIONS.get(field.name)
        if cls is None:
            found[variable((field.name,))] = ((field.name,), config.FILE.get(field.name))
            continue
        for sub in dataclasses.fields(cls):
            if sub.name in config.NOT_CONFIGURABLE:
                continue
            path = (field.name, sub.name)
            found[variable(path)] = (path, config.FILE.get(field.name, {}).get(sub.name))
    return found


def check_environment(environ=None):
    """Refuse, by name, an INVOKE_TASKY_* variable that is unknown, unsettable or malformed."""
    environ = os.environ if environ is None else environ
    known = known_variables()
    for name in sorted(k for k in environ if k.startswith(ENV_PREFIX)):
        text = environ[name]
        if name not in known:
            near = difflib.get_close_matches(name, list(known), n=1)
            raise OpsError(f"unknown variable {name}" + (f" (did you mean {near[0]})" if near
                                                          else ""),
                           fix="unset it or correct the name (INVOKE_TASKY_ + the invoke.yaml "
                               "key in capitals, e.g. INVOKE_TASKY_PORT)", anchor="bad-config")
        path, default = known[name]
        if isinstance(default, (list, tuple)):
            raise OpsError(f"{name} is {text!r}, but a list cannot be set from the "
                           "environment (Invoke reads only text there)",
                           fix=f"unset {name}; write tasky.{'.'.join(path)} in invoke.yaml",
                           anchor="bad-config")
        if isinstance(default, bool) or default is None:
            continue
        value = text
        if isinstance(default, (int, float)):
            try:
                value = type(default)(text)   # what Invoke itself will do with it
            except ValueError:
                fail(name, text, "a whole number" if isinstance(default, int) else "a number",
                     default, "bad-config")
        check = SCHEMA.get(path)
        if check is not None:
            check(value, name)


# --- variables tasky-ops reads itself ------------------------------------------------------

# What the build path reaches itself (ops/wire.py), checked without importing docker-py.
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
