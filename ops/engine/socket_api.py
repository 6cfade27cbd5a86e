"""The Engine API over a bare socket: what `inv build` needs, without importing docker-py.

Importing docker-py (requests, urllib3, its models) takes about 90 ms, and a no-change
BuildKit build takes the engine about 60 ms, so the build path (ping, image inspect,
`POST /build?version=2`) speaks HTTP/1.1 itself to a unix socket or a plain tcp:// engine,
one connection per request. Engines behind TLS or ssh:// go through docker-py's transport
behind the same interface (ops.engine.sdk_api). What the build needs rarely (pulling a
base, importing a stand-in, the classic builder) asks sdk() for the docker-py client.
"""
import json
import os
import re
import socket
from urllib.parse import quote, urlencode

from ops.core.errors import OpsError
from ops.engine import connection as engines
from ops.engine.protocol import ApiError, records, refusal

CHUNK = 64 * 1024
LINE_LIMIT = 65536   # a status or header line longer than this is not an engine talking
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


class Reply:
    """An HTTP answer whose body has not been read yet."""

    def __init__(self, status, headers, chunks):
        self.status, self.headers, self.chunks = status, headers, chunks

    def read(self):
        return b"".join(self.chunks)

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


class SocketApi:
    """HTTP/1.1 to a unix:// or tcp:// engine; every failure to reach it is an
    EngineUnavailable, every HTTP error an ApiError."""

    def __init__(self, host, timeout=900):
        self.host, self.timeout, self.api_version = host, timeout, None

    def _socket(self, timeout):
        if self.host.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(engines.socket_path(self.host))
            except OSError:
                sock.close()
                raise
            return sock
        address = self.host[len("tcp://"):].rstrip("/")
        name, _, port = address.rpartition(":") if ":" in address else (address, "", "2375")
        return socket.create_connection((name.strip("[]"), int(port or 2375)), timeout=timeout)

    def request(self, method, path, params=None, body=None, headers=None, timeout=None):
        """Send one request; the Reply's body streams in as it is read."""
        versioned = f"/v{self.api_version}{path}" if self.api_version else path
        target = quote(versioned, safe="/:@")
        if params:
            target += "?" + urlencode(params, doseq=True)
        try:
            sock = self._socket(self.timeout if timeout is None else timeout)
        except OSError as exc:
            raise engines.classify(exc, self.host) from exc
        try:
            self._send(sock, method, target, body, headers or {})
            stream = sock.makefile("rb")
            status, answer = self._head(stream)
        except OSError as exc:
            sock.close()
            raise engines.classify(exc, self.host) from exc
        except BaseException:
            sock.close()
            raise
        return Reply(status, answer, self._body(sock, stream, answer))

    def _send(self, sock, method, target, body, headers):
        size = 0
        if body is not None:
            body.seek(0, os.SEEK_END)
            size = body.tell()
            body.seek(0)
        lines = [f"{method} {target} HTTP/1.1", "Host: docker", "User-Agent: tasky-ops",
                 "Connection: close", f"Content-Length: {size}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        try:
            while body is not None and (block := body.read(CHUNK)):
                sock.sendall(block)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the engine refused before reading it all: its answer says why

    def _head(self, stream):
        status_line = stream.readline(LINE_LIMIT)
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise self._garbage(status_line)
        headers = {}
        while (line := stream.readline(LINE_LIMIT)) not in (b"\r\n", b"\n", b""):
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon:
                raise self._garbage(line)
            headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers

    def _garbage(self, line):
        shown = line[:40].decode("latin-1").strip() or "nothing"
        return engines.not_an_engine(self.host, f"it answered {shown!r}, not HTTP")

    def _body(self, sock, stream, headers):
        try:
            if headers.get("transfer-encoding", "").lower() == "chunked":
                while (size := int(stream.readline(LINE_LIMIT).split(b";")[0] or b"0", 16)):
                    yield stream.read(size)
                    stream.readline(LINE_LIMIT)
            elif "content-length" in headers:
                yield stream.read(int(headers["content-length"]))
            else:
                while block := stream.read1(CHUNK):
                    yield block
        except ValueError as exc:   # a chunk size that is not hex
            raise self._garbage(str(exc).encode()) from None
        except OSError as exc:
            raise engines.classify(exc, self.host) from exc
        finally:
            stream.close()
            sock.close()

    def ping(self, timeout=None):
        """GET /_ping's headers (lower-case names); learns the API version to speak."""
        reply = self.request("GET", "/_ping", timeout=timeout)
        reply.raise_for_status().read()
        said = reply.headers.get("api-version", "")
        if self.api_version is None and API_VERSION.match(said):
            self.api_version = said   # else unversioned paths: the engine's own version
        return reply.headers

    def image(self, ref):
        """The engine's inspect of image `ref`, or None when it has no such image."""
        reply = self.request("GET", f"/images/{ref}/json")
        if reply.status == 404:
            reply.read()
            return None
        return reply.raise_for_status().json()

    def stream(self, method, path, params=None, body=None, headers=None):
        """The JSON records of a streamed answer (build, pull), as they arrive."""
        reply = self.request(method, path, params=params, body=body, headers=headers)
        reply.raise_for_status()
        return records(reply.chunks)

    def sdk(self):
        """docker-py's client for the same engine, for what this module does not speak."""
        return engines.client(timeout=self.timeout)
