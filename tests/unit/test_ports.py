"""Who holds a host port, seen through a real socket and /proc."""
import os
import socket
from pathlib import Path

import pytest

from ops.run import ports
from tests.support import listening


def test_listening_port_is_in_use(listener):
    assert ports.port_in_use(listener, "127.0.0.1") is True


def test_listener_on_loopback_blocks_the_wildcard_address(listener):
    """`inv run --host-ip 0.0.0.0` publishes everywhere: a loopback-only holder conflicts."""
    assert ports.port_in_use(listener) is True


@pytest.mark.parametrize("addresses, said", [
    (["127.0.0.1"], "loopback only (127.0.0.1): this machine alone"),
    (["::1"], "loopback only (::1)"),
    (["0.0.0.0", "::"], "every interface (0.0.0.0, ::): other machines"),
    (["127.0.0.1", "0.0.0.0"], "every interface"),
    (["192.0.2.7"], "192.0.2.7 only"),
])
def test_exposure_says_who_reaches_a_published_port(addresses, said):
    assert ports.exposure(*addresses).startswith(said)


def test_published_on_reads_the_containers_bindings():
    class Container:
        attrs = {"NetworkSettings": {"Ports": {"8080/tcp": [
            {"HostIp": "0.0.0.0", "HostPort": "9000"}, {"HostIp": "::", "HostPort": "9000"}],
            "9/udp": None}}}
    assert ports.published_on(Container, 9000) == ["0.0.0.0", "::"]
    assert ports.published_on(Container, 9001) == []


def test_closed_port_is_free(free_port):
    assert ports.port_in_use(free_port, "127.0.0.1") is False


def test_port_freed_after_the_listener_closes():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        assert ports.port_in_use(port, "127.0.0.1") is True
    assert ports.port_in_use(port, "127.0.0.1") is False


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 support")
def test_ipv6_listener_is_seen_on_ipv6_loopback():
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.bind(("::1", 0))
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    with sock:
        sock.listen(1)
        assert ports.port_in_use(sock.getsockname()[1], "::1") is True


def this_process():
    return f"PID {os.getpid()} ({Path(f'/proc/{os.getpid()}/comm').read_text().strip()})"


def test_process_holding_names_this_process():
    expected = this_process()
    with listening() as port:
        assert ports.process_holding(port) == expected


def test_process_holding_survives_a_descriptor_closing_during_the_scan():
    expected = this_process()
    hole = os.open(os.devnull, os.O_RDONLY)  # a low descriptor number ...
    try:
        with listening() as port:
            os.close(hole)  # ... freed, so the scan's own directory handle takes it
            hole = None
            assert ports.process_holding(port) == expected
    finally:
        if hole is not None:
            os.close(hole)


def test_process_holding_a_free_port_is_none(free_port):
    assert ports.process_holding(free_port) is None


class FakeContainer:
    def __init__(self, name, host_port, labels=None):
        self.name, self.short_id, self.labels = name, "0123456789ab", labels or {}
        self.id = self.short_id + name.encode().hex().ljust(52, "0")[:52]
        self.attrs = {"NetworkSettings": {"Ports": {
            "8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(host_port)}],
            "9000/tcp": None}}}


class FakeEngine:
    """Only what ports.py uses: containers.list()."""

    def __init__(self, containers):
        self.containers = self
        self._containers = containers

    def list(self):
        return self._containers


def test_describe_holder_names_a_container_publishing_the_port(free_port, tmp_path):
    from ops.engine import ownership

    ours = FakeContainer("tasky-dev", free_port, ownership.for_container("app"))
    ledger = ownership.Ledger(tmp_path, tmp_path)   # this checkout's record names it
    ledger.record("container", [ours.id], role="app")
    engine = FakeEngine([FakeContainer("other", free_port + 1), ours])
    who = ports.describe_holder(engine, free_port, "127.0.0.1", ledger)
    assert who.startswith("container tasky-dev (0123456789ab")
    assert "started by tasky-ops" in who


def test_describe_holder_does_not_claim_a_container_by_its_labels(free_port, tmp_path):
    """Our labels, inherited from a committed image or copied, without a record: not ours."""
    from ops.engine import ownership

    engine = FakeEngine([FakeContainer("derived", free_port, ownership.for_container("app"))])
    who = ports.describe_holder(engine, free_port, "127.0.0.1",
                                ownership.Ledger(tmp_path, tmp_path))
    assert who.startswith("container derived (") and "tasky-ops" not in who


def test_describe_holder_does_not_claim_a_foreign_container(free_port):
    engine = FakeEngine([FakeContainer("nginx", free_port, {"maintainer": "x"})])
    who = ports.describe_holder(engine, free_port, "127.0.0.1")
    assert "nginx" in who
    assert "tasky-ops" not in who


def test_describe_holder_names_a_process():
    expected = "process " + this_process()
    with listening() as port:
        assert ports.describe_holder(FakeEngine([]), port, "127.0.0.1") == expected


def test_describe_holder_of_a_free_port_is_none(free_port):
    assert ports.describe_holder(FakeEngine([]), free_port, "127.0.0.1") is None
