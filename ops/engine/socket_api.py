"""The Engine API over the standard library: what `inv build` needs, without docker-py.

Importing docker-py (requests, urllib3, its models) takes about 90 ms, and a no-change
BuildKit build takes the engine about 60 ms, so the build path (ping, image inspect,
`POST /build?version=2`) speaks HTTP/1.1 through http.client to a unix socket or a plain
tcp:// engine, one connection per request. Engines behind TLS or ssh:// go through
docker-py's transport behind the same interface (ops.engine.sdk_api). What the build needs
rarely (pulling a base, importing a stand-in, the classic builder) asks sdk() for docker-py.
"""
import http.client
import json
import os
import re
import socket
from urllib.parse import quote, urlencode

from ops.core.errors import OpsError
from ops.core.heartbeat import Heartbeat
from ops.engine import connection as engines
from ops.engine.protocol import ApiError, ended, inspected, records, refusal

CHUNK = 64 * 1024
API_VERSION = re.compile(r"^\d{1,3}\.\d{1,3}$")


def direct(host, environ=None):
    """True when this module can speak to `host` itself: unix or plain tcp, no TLS."""
    environ = os.environ if environ is None else environ
    if environ.get("DOCKER_TLS_VERIFY") or environ.get("DOCKER_CERT_PATH"):
        return False   # docker-py turns TLS on when either is set; so does the CLI
    return host.startswith(("unix://", "tcp://"))


def connect(timeout=900, ping_timeout=engines.PING_TIMEOUT):
    """The engine the SDK would use, as an EngineApi, which answered a ping in ping_timeout s.

    Fails exactly as engine.connect() does (one EngineUnavailable naming cause and fix)."""
    host = engines.docker_host()
    engines.precheck(host)
    if not direct(host):
        from ops.engine.sdk_api import SdkApi

        return SdkApi(engines.connect(timeout=timeout, ping_timeout=ping_timeout))
    link = SocketApi(host, timeout)
    try:
        link.ping(timeout=ping_timeout)
    except ApiError as exc:   # an HTTP server, but not a Docker engine (or a broken one)
        raise engines.not_an_engine(host, f"its /_ping answered HTTP {exc.status}") \
            from None
    return link


class UnixConnection(http.client.HTTPConnection):
    """http.client's HTTP/1.1 over the engine's unix socket instead of a tcp port."""

    def __init__(self, path, timeout):
        super().__init__("docker", timeout=timeout)   # the Host header names no real host
        self.socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class SocketApi:
    """HTTP/1.1 to a unix:// or tcp:// engine: a failure to reach it or an answer that is
    not HTTP is an EngineUnavailable, an HTTP error an ApiError, a cut answer an OpsError."""

    def __init__(self, host, timeout=900):
        self.host, self.timeout, self.api_version = host, timeout, None
        self.pinged = None   # the headers of the last ping: connect()'s, for buildkit.available

    def _connection(self, timeout):
        if self.host.startswith("unix://"):
            return UnixConnection(engines.socket_path(self.host), timeout)
        address = self.host[len("tcp://"):].rstrip("/")
        name, _, port = address.rpartition(":") if ":" in address else (address, "", "2375")
        return http.client.HTTPConnection(name.strip("[]"), int(port or 2375), timeout=timeout)

    def request(self, method, path, params=None, body=None, headers=None, timeout=None):
        """Send one request; the Answer's body streams in as it is read."""
        versioned = f"/v{self.api_version}{path}" if self.api_version else path
        target = quote(versioned, safe="/:@")
        if params:
            target += "?" + urlencode(params, doseq=True)
        connection = self._connection(self.timeout if timeout is None else timeout)
        try:
            with Heartbeat(f"the Docker engine: {method} {path}"):   # a slow engine speaks
                self._send(connection, method, target, body, headers or {})
                response = connection.getresponse()
            if response.msg.defects:   # http.client skips a header line it cannot read
                raise self._not_http(_first_line(response.msg.get_payload()))
        except http.client.HTTPException as exc:   # first: RemoteDisconnected is an OSError
            connection.close()
            raise self._not_http(_said(exc)) from None
        except OSError as exc:
            connection.close()
            raise engines.classify(exc, self.host) from exc
        except BaseException:
            connection.close()
            raise
        return Answer(self.host, connection, response)

    @staticmethod
    def _send(connection, method, target, body, headers):
        size = 0
        if body is not None:
            body.seek(0, os.SEEK_END)
            size = body.tell()
            body.seek(0)
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in {"User-Agent": "tasky-ops", "Connection": "close",
                            "Content-Length": str(size), **headers}.items():
            connection.putheader(name, value)
        connection.endheaders()
        try:
            while body is not None and (block := body.read(CHUNK)):
                connection.send(block)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the engine refused before reading it all: its answer says why

    def _not_http(self, said):
        return engines.not_an_engine(self.host, f"it answered {said}, not HTTP")

    def ping(self, timeout=None):
        """GET /_ping's headers (lower-case names); learns the API version to speak."""
        answer = self.request("GET", "/_ping", timeout=timeout)
        answer.raise_for_status().read()
        said = answer.headers.get("api-version", "")
        if self.api_version is None and API_VERSION.match(said):
            self.api_version = said   # else unversioned paths: the engine's own version
        self.pinged = answer.headers
        return answer.headers

    def image(self, ref):
        """The engine's inspect of image `ref`, or None when it has no such image."""
        answer = self.request("GET", f"/images/{ref}/json")
        if answer.status == 404:
            answer.read()
            return None
        return inspected(answer.raise_for_status().json(), ref)

    def stream(self, method, path, params=None, body=None, headers=None):
        """The JSON records of a streamed answer (build, pull), as they arrive."""
        answer = self.request(method, path, params=params, body=body, headers=headers)
        answer.raise_for_status()
        return records(answer.chunks())

    def sdk(self):
        """docker-py's client for the same engine, for what this module does not speak."""
        return engines.client(timeout=self.timeout)


def _said(exc):
    if isinstance(exc, http.client.RemoteDisconnected):
        return "nothing"
    if isinstance(exc, http.client.BadStatusLine):   # its text is the line received
        return _first_line(str(exc))
    return f"what http.client cannot read ({type(exc).__name__}: {str(exc)[:80]})"


def _first_line(text):
    lines = text.strip().splitlines() if isinstance(text, str) else []
    return repr(lines[0][:40]) if lines else "nothing"


class Answer:
    """An HTTP answer whose body has not been read yet: its connection closes at its end."""

    def __init__(self, host, connection, response):
        self.host, self.connection, self.response = host, connection, response
        self.status = response.status
        self.headers = {name.lower(): value for name, value in response.getheaders()}

    def chunks(self):
        """The body as it arrives; one cut short is an error, never a shorter answer."""
        chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        declared = None if chunked else self.headers.get("content-length", "")
        received = 0
        try:
            while block := self.response.read1(CHUNK):
                received += len(block)
                yield block
        except http.client.HTTPException as exc:   # IncompleteRead: cut, or a bad chunk size
            raise ended(f"early ({exc!r})") from None
        except OSError as exc:
            raise engines.classify(exc, self.host) from exc
        finally:
            self.response.close()
            self.connection.close()
        if declared and declared.isdigit() and received < int(declared):
            raise ended(f"early ({received} of its {declared} bytes)")

    def read(self):
        return b"".join(self.chunks())

    def json(self):
        body = self.read()
        try:
            return json.loads(body) if body.strip() else None
        except ValueError:
            raise OpsError(f"the Docker engine answered {body[:60]!r}, not the JSON its API "
                           "gives", fix="check what DOCKER_HOST points at (inv doctor)",
                           anchor="docker-daemon-not-running") from None

    def raise_for_status(self):
        if self.status >= 400:
            raise refusal(self.status, self.read())
        return self


def engine_api(engine):
    """`engine` as an EngineApi: itself when it is one, a docker-py client wrapped in SdkApi.

    Many callers hold docker-py's client (dev, demo, doctor); inv build holds a SocketApi."""
    if isinstance(engine, SocketApi):
        return engine
    import docker  # not the bare socket: the engine is docker-py's, already imported

    from ops.engine.sdk_api import SdkApi

    if isinstance(engine, SdkApi):
        return engine
    if isinstance(engine, docker.DockerClient):
        return SdkApi(engine)
    raise TypeError(f"not a Docker engine client: {type(engine).__name__}")
