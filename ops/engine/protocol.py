"""What the build path asks of a Docker engine, and the errors every answer is turned into.

Two implementations: ops.engine.socket_api.SocketApi (the standard library over a unix
socket or plain tcp://, so `inv build` never imports docker-py) and ops.engine.sdk_api.SdkApi
(docker-py's transport, for TLS and ssh:// engines and callers that hold a docker-py client).
"""
from __future__ import annotations

import codecs
import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from ops.core import answers
from ops.core.answers import MapOf, Maybe
from ops.core.errors import OpsError

if TYPE_CHECKING:
    import docker


class EngineApi(Protocol):
    """The few Engine API calls a build makes; sdk() is docker-py's client for the rest."""

    @property
    def api_version(self) -> str | None:
        """The API version the paths are sent with (None: the engine's own)."""

    def ping(self) -> dict[str, str]:
        """GET /_ping's headers, lower-case names."""

    def image(self, ref: str) -> dict[str, Any] | None:
        """The engine's inspect of image `ref`, or None when it has no such image."""

    def stream(self, method: str, path: str, params: Mapping[str, Any] | None = None,
               body: BinaryIO | None = None,
               headers: Mapping[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """The JSON records of a streamed answer (build, pull), as they arrive."""

    def sdk(self) -> docker.DockerClient:
        """docker-py's client for the same engine."""


class ApiError(OpsError):
    """The engine answered with an HTTP error; explanation is its own message. Callers
    that expect a refusal word it themselves; any other is still one line."""

    def __init__(self, status, explanation):
        super().__init__(f"the Docker engine refused the request (HTTP {status}): "
                         f"{' '.join(explanation.split())[:300]}",
                         fix="read the engine's reason; `inv doctor` checks the engine",
                         anchor="docker-daemon-not-running")
        self.status, self.explanation = status, explanation


def refusal(status, body):
    """The ApiError for an HTTP error answer: the engine's message when its body has one."""
    try:
        explanation = json.loads(body).get("message") or body.decode()
    except (ValueError, AttributeError):
        explanation = body.decode("utf-8", "replace")
    return ApiError(status, explanation.strip() or f"HTTP {status}")


def ended(where):
    """The engine stopped mid-answer (a daemon restarted during a build): never a whole one."""
    return OpsError(f"the Docker engine's answer ended {where}",
                    fix="the engine stopped mid-answer: check it (inv doctor), run again",
                    anchor="docker-daemon-not-running")


# What callers read of an image inspect (the size, the recipe label of a stand-in).
IMAGE = {"Id": str, "Size": Maybe(int), "Config": Maybe({"Labels": Maybe(MapOf(str)),
                                                          "Env": Maybe([str])})}


def inspected(value, ref):
    """An image inspect held to IMAGE before use: anything else is one line."""
    return answers.check(value, IMAGE, f"the Docker engine's inspect of image {ref}",
                         "docker-daemon-not-running",
                         fix="check what DOCKER_HOST points at (inv doctor)")


def records(chunks):
    """JSON objects from a byte stream that may split or join them anywhere; a record that
    is not an object is one line."""
    decoder, text = json.JSONDecoder(), codecs.getincrementaldecoder("utf-8")("replace")
    pending = ""
    for chunk in chunks:
        pending += text.decode(chunk)
        while pending := pending.lstrip():
            try:
                item, end = decoder.raw_decode(pending)
            except ValueError:
                break   # the rest of this record is in the next chunk
            yield answers.check(item, dict, "a record of the Docker engine's stream",
                                "docker-daemon-not-running")
            pending = pending[end:]
    if pending.strip():
        raise ended(f"inside a record: {pending[:80]!r}")
