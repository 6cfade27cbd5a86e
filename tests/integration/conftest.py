"""Integration tests: the real engine, real git, the real `inv` command line.

The image is built once per session under a name of its own and shared; at the end
the session removes exactly the containers and images it created.
"""
import json
import sys

import pytest

from tests.integration.helpers import IMAGE, ROOT, Inv, docker_required


@pytest.fixture(scope="session")
def engine():
    sys.path.insert(0, str(ROOT))
    from ops.core.errors import OpsError
    from ops.engine.connection import client

    try:
        return client()
    except OpsError as error:
        if docker_required():
            pytest.fail(f"Docker is required here (CI) but unavailable: {error}")
        pytest.skip(f"no Docker engine: {error}")


@pytest.fixture(scope="session")
def inv():
    return Inv()


@pytest.fixture(scope="session")
def session_records(tmp_path_factory):
    """What this session made, as ops/engine/ownership.py's records say (helpers.py)."""
    from tests.integration.helpers import SessionRecords

    return SessionRecords(tmp_path_factory.mktemp("session-records"))


@pytest.fixture(scope="session", autouse=True)
def session_cleanup(request):
    """Remove exactly what this session created: the containers, images and build caches the
    ownership records name as made by it (inv's, and the tests' own, recorded as they make
    them). Never by label: another user's image built FROM our stand-in base carries
    org.tasky-ops.role=base, inherited, and is not ours."""
    if not any("integration" in str(item.fspath) for item in request.session.items):
        yield
        return
    engine = request.getfixturevalue("engine")
    records = request.getfixturevalue("session_records")
    before = records.snapshot(engine)
    with records.recording():
        yield
    records.clean(engine, before)


@pytest.fixture(scope="session")
def built(engine, inv):
    """The session's one offline build, shared by every test that needs an image."""
    proc = inv("build", "--offline", "--json")
    assert proc.returncode == 0, proc.output
    return json.loads(proc.stdout)


@pytest.fixture
def container_cleanup(engine):
    """Names of containers a test starts; removed after the test whatever happened."""
    names = []
    yield names
    for name in names:
        try:
            engine.containers.get(name).remove(force=True)
        except Exception:
            pass


@pytest.fixture(scope="module")
def moto():
    """moto's ECR and STS over a real socket, one per test module."""
    from tests.integration.stand_ins import Moto

    server = Moto().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def good_registry(tmp_path_factory):
    """A real docker-registry whose htpasswd accepts exactly moto's ECR token."""
    from tests.integration.stand_ins import TOKEN_PASSWORD, Registry

    served = Registry(tmp_path_factory.mktemp("registry"), TOKEN_PASSWORD).start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def plain_registry(tmp_path_factory):
    """A real docker-registry with no credentials on a free loopback port, one per module:
    its address."""
    from ops.registry import local_registry
    from tests.support import free_port

    addr = f"127.0.0.1:{free_port()}"
    process = local_registry.serve(tmp_path_factory.mktemp("registry"), addr)
    yield addr
    process.kill()
    process.wait()


@pytest.fixture(scope="session")
def proxy():
    """A Go module proxy (GOPROXY=file://...) built from Debian's golang-*-dev sources."""
    import shutil
    import tempfile
    from pathlib import Path

    from tests.integration import goproxy

    absent = goproxy.missing_packages()
    if absent:
        message = ("python3 -m invoke setup --dev (it installs " + " ".join(absent)
                   + " with apt-get)")
        if docker_required():
            pytest.fail(f"Debian's Go module sources are required here: {message}")
        pytest.skip(f"no Debian Go module sources: {message}")
    # Outside pytest's own 0700 folders: vendor() runs Go as the context's owner, who must
    # be able to read the proxy, as with any shared mirror.
    folder = Path(tempfile.mkdtemp(prefix=f"{IMAGE}-goproxy-"))
    folder.chmod(0o755)
    yield goproxy.build_proxy(folder)
    shutil.rmtree(folder)
