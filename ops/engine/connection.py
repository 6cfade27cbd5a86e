"""The one place the Docker engine is reached, so every task and doctor fail the same way.

A connection failure is classified by the errno of the OS error underneath docker-py's
wrappers (never by message text): no socket, nothing listening, permission denied, an
engine that accepts the connection but never answers the API, or anything else.
"""
import errno
import functools
import os
import socket

from ops.core.errors import OpsError

DEFAULT_SOCKET = "/var/run/docker.sock"
PING_TIMEOUT = 5     # seconds for the first answer: a silent engine is named fast
MISSING, REFUSED, DENIED, SILENT, OTHER = "missing", "refused", "denied", "silent", "other"
INVALID = "invalid"   # DOCKER_HOST is not an address at all
KINDS = {errno.ENOENT: MISSING, errno.ECONNREFUSED: REFUSED, errno.EACCES: DENIED,
         errno.EPERM: DENIED, errno.ETIMEDOUT: SILENT}


class EngineUnavailable(OpsError):
    """The engine cannot be used; kind says why (doctor explains each kind its own way)."""

    def __init__(self, message, fix, anchor, kind, path=None):
        super().__init__(message, fix=fix, anchor=anchor)
        self.kind, self.path = kind, path


def docker_host():
    """What the SDK talks to: DOCKER_HOST, else the default socket."""
    return os.environ.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"


def socket_path(host):
    return host[len("unix://"):] if host.startswith("unix://") else None


def is_default_socket(path):
    return os.path.realpath(path) == os.path.realpath(DEFAULT_SOCKET)


def connect_error(path, timeout=2):
    """None when something accepts connections on the unix socket, else the OSError."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout)
        try:
            probe.connect(path)
        except OSError as exc:
            return exc
    return None


def os_error(exc, depth=0):
    """The OSError under docker-py's and requests' wrappers (cause, context, args, reason)."""
    if isinstance(exc, OSError) and (exc.errno or isinstance(exc, socket.timeout)):
        return exc
    if exc is None or depth > 8:
        return None
    inner = [exc.__cause__, exc.__context__, getattr(exc, "reason", None),
             *[a for a in getattr(exc, "args", ()) if isinstance(a, BaseException)]]
    for candidate in inner:
        if isinstance(candidate, BaseException):
            found = os_error(candidate, depth + 1)
            if found is not None:
                return found
    return None


def kind_of(error):
    if error is None:
        return OTHER
    if isinstance(error, (socket.timeout, TimeoutError)):
        return SILENT
    return KINDS.get(error.errno, OTHER)


def unavailable(kind, host, reason=""):
    """The EngineUnavailable for a failure of that kind at host."""
    path = socket_path(host)
    named = " (DOCKER_HOST names it)" if os.environ.get("DOCKER_HOST") else ""
    if kind == DENIED:
        return EngineUnavailable(
            f"permission denied on the Docker socket ({host}){named}",
            "add yourself to the docker group: sudo usermod -aG docker $USER, then log out "
            "and back in (the group is root-equivalent), or run as root",
            "permission-denied", kind, path)
    if kind == MISSING:
        return EngineUnavailable(
            f"no Docker engine: the socket {host} does not exist{named}",
            "run `inv setup` (installs and starts the engine), or set DOCKER_HOST",
            "docker-daemon-not-running", kind, path)
    if kind == SILENT:
        return EngineUnavailable(
            f"the Docker engine at {host} accepts the connection but does not answer the API "
            f"within {PING_TIMEOUT}s{named}",
            "the daemon is hung or something else listens there: restart it (sudo systemctl "
            "restart docker) or check what DOCKER_HOST points at", "docker-daemon-not-running",
            kind, path)
    said = f" ({reason})" if reason else ""
    return EngineUnavailable(
        f"the Docker engine at {host} does not answer{said}{named}",
        "start it: `inv setup`, or `sudo systemctl start docker`", "docker-daemon-not-running",
        kind, path)


def not_an_engine(host, answer):
    """Something answers at host, but not as a Docker engine: it is the address at fault."""
    named = " (DOCKER_HOST names it)" if os.environ.get("DOCKER_HOST") else ""
    return EngineUnavailable(
        f"{host} is not a Docker engine{named}: {answer}",
        "point DOCKER_HOST at the engine (unset, it is unix:///var/run/docker.sock), or check "
        "what listens there", "docker-daemon-not-running", OTHER, socket_path(host))


def tls_unusable(host):
    """DOCKER_TLS_VERIFY or DOCKER_CERT_PATH asks for TLS, without the files it needs."""
    folder = os.environ.get("DOCKER_CERT_PATH") or os.path.expanduser("~/.docker")
    return EngineUnavailable(
        f"TLS to {host} is asked for (DOCKER_TLS_VERIFY or DOCKER_CERT_PATH) but {folder} "
        "does not hold ca.pem, cert.pem and key.pem",
        "set DOCKER_CERT_PATH to the folder with the engine's client certificates, or unset "
        "DOCKER_TLS_VERIFY and DOCKER_CERT_PATH for an engine without TLS",
        "docker-daemon-not-running", INVALID, None)


def classify(exc, host=None):
    """Turn a docker-py connection failure into an EngineUnavailable naming cause and fix."""
    host = host or docker_host()
    error = os_error(exc)
    kind = kind_of(error)
    if error is None and _timed_out(exc):
        kind = SILENT
    reason = (error.strerror or str(error)) if error is not None else _last_line(exc)
    return unavailable(kind, host, reason)


def _timed_out(exc, depth=0):
    """requests' and urllib3's timeouts do not always keep the socket.timeout they wrap."""
    if exc is None or depth > 8:
        return False
    if "Timeout" in type(exc).__name__:
        return True
    return any(_timed_out(inner, depth + 1) for inner in (exc.__cause__, exc.__context__)
               if isinstance(inner, BaseException))


def _last_line(exc):
    text = str(exc).strip()
    return text.splitlines()[-1][-160:] if text else type(exc).__name__


def precheck(host):
    """Fail fast, before any client exists: DOCKER_HOST is an address, and a unix socket
    exists and accepts connections (its errno names the cause)."""
    from ops.settings import validate

    try:
        validate.docker_host()   # a garbage scheme is the variable's fault, not the engine's
    except OpsError as error:
        raise EngineUnavailable(error.message, error.fix, error.anchor, INVALID) from None
    path = socket_path(host)
    if path:
        error = connect_error(path)
        if error is not None:
            raise unavailable(kind_of(error), host, error.strerror or str(error))


def connect(timeout=900, ping_timeout=PING_TIMEOUT):
    """A docker-py client whose engine answered a ping within ping_timeout seconds.

    Later calls (builds, pushes) get the long `timeout`; only the first answer is short,
    so a dead or silent engine is named in seconds, not after the build timeout.
    """
    import docker

    host = docker_host()
    precheck(host)
    try:
        engine = docker.from_env(timeout=ping_timeout)
        engine.ping()
    except docker.errors.TLSParameterError as exc:
        raise tls_unusable(host) from exc
    except docker.errors.DockerException as exc:
        raise classify(exc, host) from exc
    except Exception as exc:   # requests' own errors when the socket answers garbage
        if os_error(exc) is None and not is_requests_error(exc):
            raise
        raise classify(exc, host) from exc
    engine.api.timeout = timeout
    _beating(engine.api)
    return engine


def _beating(api):
    """Every request docker-py sends (requests.Session.send) waits for the engine's answer
    under a heartbeat: a slow engine says so every few seconds, whichever task asked."""
    from urllib.parse import urlsplit

    from ops.core.heartbeat import Heartbeat

    send = api.send

    def beating(request, **kwargs):
        with Heartbeat(f"the Docker engine: {request.method} {urlsplit(request.url).path}"):
            return send(request, **kwargs)

    api.send = beating


def is_requests_error(exc):
    return type(exc).__module__.split(".")[0] in ("requests", "urllib3")


@functools.cache
def client(timeout=900):
    """The process's one engine connection (see connect)."""
    return connect(timeout=timeout)


def answers(ping_timeout=PING_TIMEOUT):
    """True when the engine the SDK would use answers a ping."""
    try:
        connect(ping_timeout=ping_timeout)
        return True
    except OpsError:
        return False


def image_or_fail(engine, ref):
    """The local image ``ref``, or an OpsError saying how to get it."""
    import docker

    try:
        return engine.images.get(ref)
    except docker.errors.ImageNotFound as exc:
        raise OpsError(f"image {ref} not found in the local engine",
                       fix="build it with `inv build` (or `inv build --offline`), or name "
                           "another with --tag", anchor="image-not-found") from exc
