"""The EngineApi interface: both implementations have its methods, and engine_api() takes
exactly those two kinds, or a docker-py client it wraps; anything else is a mistake."""
import inspect

import docker
import pytest

from ops.engine.protocol import EngineApi
from ops.engine.sdk_api import SdkApi
from ops.engine.socket_api import SocketApi, engine_api


@pytest.mark.parametrize("implementation", [SocketApi, SdkApi])
@pytest.mark.parametrize("method", ["ping", "image", "stream", "sdk"])
def test_each_implementation_takes_what_the_interface_passes(implementation, method):
    wanted = inspect.signature(getattr(EngineApi, method)).parameters
    given = inspect.signature(getattr(implementation, method)).parameters
    assert list(given)[:len(wanted)] == list(wanted)   # the same names, in the same order
    assert [given[name].default for name in wanted] == [p.default for p in wanted.values()]
    extra = list(given)[len(wanted):]   # SocketApi.ping's timeout: connect() passes it itself
    assert all(given[name].default is not inspect.Parameter.empty for name in extra)


def test_both_implementations_say_their_api_version():
    assert SocketApi("unix:///nonexistent.sock").api_version is None
    client = docker.DockerClient(base_url="unix:///nonexistent.sock", version="1.41")
    assert SdkApi(client).api_version == "1.41"


def test_engine_api_takes_its_own_kinds_as_they_are_and_wraps_a_docker_py_client():
    link = SocketApi("unix:///nonexistent.sock")
    assert engine_api(link) is link
    client = docker.DockerClient(base_url="unix:///nonexistent.sock", version="1.41")
    wrapped = engine_api(client)
    assert isinstance(wrapped, SdkApi) and wrapped.sdk() is client
    assert engine_api(wrapped) is wrapped


def test_engine_api_refuses_what_only_looks_like_an_engine():
    class LooksLikeOne:
        def stream(self, *args):
            return iter(())

        def image(self, ref):
            return None

    with pytest.raises(TypeError, match="LooksLikeOne"):
        engine_api(LooksLikeOne())
