"""The build path's Engine API calls over docker-py's transport: for TLS and ssh:// engines,
and for callers that hold a docker-py client.

Only docker-py's public surface: its APIClient is a requests.Session, so Session.request,
base_url, api_version and timeout are enough; inspect_image for the one call it has.
"""
from urllib.parse import quote

import docker
import requests
from docker.utils.config import load_general_config

from ops.core.heartbeat import Heartbeat
from ops.engine import connection as engines
from ops.engine.protocol import ApiError, ended, inspected, records, refusal


class SdkApi:
    """An EngineApi over `client` (a docker.DockerClient); failures as SocketApi's."""

    def __init__(self, client):
        self.client = client
        # docker-py adds ~/.docker/config.json's HttpHeaders to every request it sends itself
        self.config_headers = load_general_config().get("HttpHeaders") or {}

    @property
    def api_version(self):
        return self.client.api.api_version

    def ping(self):
        response = self._send("GET", "/_ping")
        return {name.lower(): value for name, value in response.headers.items()}

    def image(self, ref):
        try:
            return inspected(_translated(lambda: self.client.api.inspect_image(ref)), ref)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def stream(self, method, path, params=None, body=None, headers=None):
        response = self._send(method, path, params=params, body=body, headers=headers,
                              stream=True)
        return records(self._chunks(response))

    def sdk(self):
        return self.client

    def _send(self, method, path, params=None, body=None, headers=None, stream=False):
        api = self.client.api
        url = f"{api.base_url}/v{api.api_version}{quote(path, safe='/:@')}"
        with Heartbeat(f"the Docker engine: {method} {path}"):   # a slow engine speaks
            response = _translated(lambda: api.request(
                method, url, params=params, data=body, stream=stream, timeout=api.timeout,
                headers={**(headers or {}), **self.config_headers}))
        if response.status_code >= 400:
            raise refusal(response.status_code, _translated(lambda: response.content))
        return response

    @staticmethod
    def _chunks(response):
        """The body as each chunk arrives (chunk_size=None: as the engine sent it)."""
        pieces, end = response.iter_content(chunk_size=None), object()
        try:
            while (piece := _translated(lambda: next(pieces, end))) is not end:
                yield piece
        finally:
            response.close()


def _translated(action):
    """action(), its failure one OpsError as SocketApi would raise it."""
    try:
        return action()
    except docker.errors.APIError as exc:
        raise ApiError(exc.status_code or 0, (exc.explanation or str(exc)).strip()) from exc
    except docker.errors.DockerException as exc:
        raise engines.classify(exc) from exc
    except requests.exceptions.ChunkedEncodingError as exc:
        if engines.os_error(exc) is not None:   # the connection itself broke
            raise engines.classify(exc) from exc
        raise ended(f"early ({_last_words(exc)})") from exc
    except Exception as exc:   # requests' own errors, which docker-py lets through
        if engines.os_error(exc) is None and not engines.is_requests_error(exc):
            raise
        raise engines.classify(exc) from exc


def _last_words(exc):
    """What the innermost of requests' and urllib3's wrapped errors says."""
    for _ in range(8):
        inner = [arg for arg in exc.args if isinstance(arg, BaseException)]
        if not inner:
            break
        exc = inner[-1]
    return " ".join(str(exc).split())[:160] or type(exc).__name__
