"""The pieces under the input boundary: canonical values, env files, signals, heartbeats."""
import os
import signal
import time

import pytest

from ops.core import signals
from ops.core.errors import OpsError
from ops.core.heartbeat import Heartbeat
from ops.registry import http_api
from ops.settings import envvars, validate


@pytest.mark.parametrize("given, canonical", [("LOCALHOST:5000", "localhost:5000"),
                                              ("Registry.Example:443", "registry.example:443"),
                                              ("[::1]:5000", "[::1]:5000"),
                                              ("127.0.0.1", "127.0.0.1")])
def test_registry_hosts_are_lowercased_as_dns_compares_them(given, canonical):
    assert validate.registry_host(given, "ECR_REGISTRY") == canonical


@pytest.mark.parametrize("host, scheme", [("LOCALHOST:5000", "http://"),
                                          ("127.0.0.2:5000", "http://"),
                                          ("[::1]:5000", "http://"),
                                          ("localhost.example.com", "https://"),
                                          ("123456789012.dkr.ecr.us-east-1.amazonaws.com",
                                           "https://")])
def test_only_loopback_registries_are_plain_http(host, scheme):
    assert http_api.base_url(host).startswith(scheme)


def test_a_refused_registry_uri_never_shows_its_password():
    with pytest.raises(OpsError) as caught:
        validate.registry_host("https://user:hunter2@host/", "ECR_REGISTRY")
    assert "hunter2" not in caught.value.line()


def test_port_zero_is_docker_picks_and_the_container_port_is_not():
    assert validate.port("0", "--port") == 0
    with pytest.raises(OpsError):
        validate.port(0, "tasky.app.container_port", allow_zero=False)


def test_an_env_file_with_a_byte_order_mark_reads_its_first_key(tmp_path):
    path = tmp_path / "bom.env"
    path.write_bytes(b"\xef\xbb\xbfJWT_SECRET=abc\nPORT=1\n")
    assert envvars.read_env_file(path) == {"JWT_SECRET": "abc", "PORT": "1"}


def test_sigterm_becomes_an_interrupt_whose_exit_code_is_143():
    signals.install()
    try:
        with pytest.raises(KeyboardInterrupt) as caught:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)   # the handler raises long before this ends
        assert signals.received(caught.value) == ("SIGTERM", 143)
    finally:
        for signum in signals.HANDLED:
            signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT
                          else signal.SIG_DFL)


def test_plain_ctrl_c_is_130(monkeypatch):
    monkeypatch.setattr(signals._State, "received", [])   # no handler ran: Python's own
    assert signals.received(KeyboardInterrupt()) == ("SIGINT", 130)


def test_a_blocked_call_is_never_silent_and_a_beat_quiets_it():
    said = []
    with Heartbeat("ECR DescribeRepositories", said.append, every=0.1):
        time.sleep(0.5)
    assert said and all(line.startswith("ECR DescribeRepositories: still waiting") for line in said)
    quiet = []
    with Heartbeat("push", quiet.append, every=10) as heartbeat:
        heartbeat.beat()
    assert quiet == []
