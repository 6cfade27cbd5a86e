"""ops/engine/ownership.Owned on an engine in memory: what a task made is removed, and a
clean-up that fails is said, never swallowed."""
import pytest

from ops.engine import ownership
from tests.unit.fake_engine import Engine, api_error


def test_a_container_that_cannot_be_removed_is_named_with_the_reason_and_the_command():
    engine = Engine()
    said = []
    with ownership.Owned(engine, "verify", progress=said.append) as ours:
        container = ours.keep(engine.containers.create("tasky", labels=ours.labels))
        engine.refuse_removal[container.short_id] = api_error(
            500, "driver overlay2 failed to remove root filesystem: device or resource busy")
    assert container.id in engine.existing
    assert said == [f"could not remove container {container.short_id} (driver overlay2 failed "
                    "to remove root filesystem: device or resource busy); remove it by hand: "
                    f"docker rm -f {container.short_id}"]


@pytest.mark.parametrize("status, explanation", [
    (404, "No such container"),
    (409, "removal of container abc is already in progress")])
def test_a_container_already_gone_or_going_is_not_reported(status, explanation):
    engine = Engine()
    said = []
    with ownership.Owned(engine, "verify", progress=said.append) as ours:
        container = ours.keep(engine.containers.create("tasky", labels=ours.labels))
        engine.refuse_removal[container.short_id] = api_error(status, explanation)
    assert said == []


def test_a_connection_dropped_during_the_clean_up_is_reported_not_raised():
    import requests

    engine = Engine()
    said = []
    with ownership.Owned(engine, "go-modules", progress=said.append) as ours:
        container = ours.keep(engine.containers.create("builder", labels=ours.labels))
        engine.refuse_removal[container.short_id] = requests.exceptions.ConnectionError(
            "Connection aborted")
    assert len(said) == 1 and f"docker rm -f {container.short_id}" in said[0]
    assert "Connection aborted" in said[0]


def test_an_engine_that_cannot_list_is_reported_and_the_known_ids_are_still_removed():
    import docker

    engine = Engine(failures={"list": docker.errors.DockerException("connection reset")})
    said = []
    with ownership.Owned(engine, "verify", progress=said.append) as ours:
        ours.keep(engine.containers.create("tasky", labels=ours.labels))
    assert engine.existing == {}
    assert len(said) == 1 and "connection reset" in said[0]
    assert f"docker ps -a --filter label={ownership.INVOCATION}={ours.invocation}" in said[0]


def test_a_released_container_is_kept():
    engine = Engine()
    with ownership.Owned(engine, "app", progress=[].append) as ours:
        ours.keep(engine.containers.create("tasky", labels=ours.labels))
        ours.release()
    assert len(engine.existing) == 1
