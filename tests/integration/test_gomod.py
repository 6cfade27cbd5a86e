"""Go modules with no network: the Debian-built proxy, `ops.image.gomod.vendor` and
`ops.image.gomod.module_access`, on a copy of the third-party fixture, in the real builder image."""
import os
import shutil
import subprocess

import pytest

from ops.core.errors import OpsError
from ops.image import vendor
from ops.settings.config import Settings
from tests.integration import goproxy
from tests.integration.helpers import IMAGE, ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "thirdparty-app"
BUILDER = Settings().bases.offline_go
RUNTIME = Settings().bases.offline_runtime
# Not root and not this user: proves vendor/ ends up the context owner's.
OWNER = (4321, 4321)
CANARY = "pw-gomod-" + IMAGE[-8:]


@pytest.fixture(scope="module")
def builder(engine):
    from ops.image import standins as bases

    bases.ensure(engine, Settings().bases, only_missing=True, progress=lambda line: None)
    return BUILDER


@pytest.fixture
def app(tmp_path):
    """A copy of the fixture inside a git repository whose .gitignore excludes vendor/."""
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE, repo / "app")
    (repo / ".gitignore").write_text("vendor/\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for folder, dirs, files in os.walk(repo / "app"):
        for name in dirs + files + ["."]:
            os.chown(os.path.join(folder, name), *OWNER)
    return repo / "app"


def go(engine, image, script, app, proxy=None, env=None):
    """Run a script in the builder with the network off: (exit code, output)."""
    volumes = {str(app): {"bind": "/src", "mode": "rw"}}
    if proxy:
        volumes[str(proxy)] = {"bind": str(proxy), "mode": "ro"}
    container = engine.containers.run(image, ["/bin/sh", "-c", script], detach=True,
                                      network_mode="none", working_dir="/src",
                                      volumes=volumes, environment=env or {},
                                      name=f"{IMAGE}-go-{os.urandom(3).hex()}")
    try:
        code = container.wait()["StatusCode"]
        return code, container.logs().decode()
    finally:
        container.remove(force=True)


def test_fixture_go_sum_is_what_the_proxy_serves(proxy, tmp_path):
    assert (FIXTURE / "go.sum").read_text() == goproxy.go_sum()
    again = goproxy.build_proxy(tmp_path / "again")
    for zipped in proxy.rglob("*.zip"):
        assert (again / zipped.relative_to(proxy)).read_bytes() == zipped.read_bytes()


def test_go_mod_download_and_vendor_from_the_proxy_with_the_network_off(engine, builder,
                                                                         proxy, app):
    # go.sum lists every module, so the checksum database is never asked: Go's default
    # GOSUMDB stays on, and neither GOSUMDB=off nor GONOSUMDB is needed.
    env = {"GOPROXY": f"file://{proxy}"}
    code, output = go(engine, builder, "go mod download && go mod vendor && "
                      "cat vendor/modules.txt", app, proxy, env)
    assert code == 0, output
    assert "# github.com/felixge/httpsnoop v1.0.1" in output      # a transitive dependency
    assert "# github.com/gorilla/securecookie v1.1.1" in output

    code, output = go(engine, builder, "go mod download", app, proxy, {"GOPROXY": "off"})
    assert code == 1 and "module lookup disabled by GOPROXY=off" in output


def test_vendor_then_the_vendored_tree_builds_with_no_network(engine, builder, proxy, app):
    done = vendor.vendor(engine, Settings(context=str(app)), goproxy=f"file://{proxy}",
                        progress=lambda line: None)
    assert done["modules"] == 6
    assert done["image"] == builder
    assert done["warning"].startswith("git ignores vendor/ (")
    modules_txt = app / "vendor" / "modules.txt"
    stat = modules_txt.stat()
    assert (stat.st_uid, stat.st_gid) == OWNER

    code, output = go(engine, builder, "CGO_ENABLED=0 go build -mod=vendor -o /tmp/app . "
                      "&& echo built", app, env={"GOPROXY": "off"})
    assert code == 0 and "built" in output, output


def test_vendor_failure_carries_gos_own_words(engine, builder, app):
    with pytest.raises(OpsError) as raised:
        vendor.vendor(engine, Settings(context=str(app)), goproxy="off",
                     progress=lambda line: None)
    error = raised.value
    assert error.anchor == "go-modules-offline"
    assert "GOPROXY=off" in error.message
    assert any("module lookup disabled by GOPROXY=off" in line for line in error.details)
    assert not (app / "vendor").exists()


def test_module_access_false_offline_then_true_once_vendored(engine, builder, proxy, app):
    settings = Settings(context=str(app))
    # As the build would run: the builder image's own GOPROXY (unset, so Go's default
    # proxy), on a machine whose only network is the package registries.
    result = vendor.module_access(engine, settings)
    assert result["ok"] is False, "this test needs a machine where Go's proxy is unreachable"
    assert result["source"] == "GOPROXY=Go's default proxy (GOPROXY unset)"
    assert "cannot be reached" in result["reason"]
    assert "github.com/gorilla/handlers@v1.5.1: Get " in result["reason"]

    off = vendor.module_access(engine, settings, build_env={"GOPROXY": "off"})
    assert off["ok"] is False and "module lookup disabled by GOPROXY=off" in off["reason"]

    mirrored = vendor.module_access(engine, settings, build_env={"GOPROXY": f"file://{proxy}"})
    assert mirrored["ok"] is True and "fetched github.com/gorilla/handlers" in mirrored["reason"]

    vendor.vendor(engine, settings, goproxy=f"file://{proxy}", progress=lambda line: None)
    assert vendor.module_access(engine, settings) == {
        "ok": True, "source": "vendor",
        "reason": "6 modules vendored (vendor/modules.txt matches go.mod)"}


def test_fixture_builds_with_our_dockerfile_and_runs_as_upstream_does(engine, builder, proxy,
                                                                      tmp_path):
    """Our Dockerfile, unchanged, over the fixture, with the network off: the modules come
    from a builder base that carries the proxy (the Dockerfile declares no GOPROXY arg)."""
    base_context = tmp_path / "base"
    shutil.copytree(proxy, base_context / "goproxy")
    # Both images would inherit the stand-ins' role "base", which any concurrent test
    # session's clean-up removes as its own; a role of their own keeps them out of that.
    role = {"org.tasky-ops.role": "gomod-test"}
    (base_context / "Dockerfile").write_text(
        f"FROM {builder}\nCOPY goproxy /goproxy\nENV GOPROXY=file:///goproxy\n")
    base = f"{IMAGE}-gomod-go:proxy"
    engine.images.build(path=str(base_context), tag=base, rm=True, network_mode="none",
                        labels=role)
    context = tmp_path / "app"
    shutil.copytree(FIXTURE, context)
    tag = f"{IMAGE}-gomod-app:test"
    from ops.image.dockerfile import classic_dockerfile

    classic = tmp_path / "Dockerfile.classic"   # docker-py speaks to the classic builder only
    classic.write_text(classic_dockerfile((ROOT / "Dockerfile").read_text()))
    engine.images.build(path=str(context), dockerfile=str(classic), tag=tag,
                        rm=True, network_mode="none", labels=role,
                        buildargs={"GO_IMAGE": base, "RUNTIME_IMAGE": RUNTIME})

    uri = f"mongodb://tasky:{CANARY}@db.example:27017/tasky"
    name = f"{IMAGE}-gomod-app"
    container = engine.containers.run(tag, detach=True, name=name,
                                      environment={"MONGODB_URI": uri, "SECRET_KEY": "k"})
    try:
        health = ["/bin/sh", "-c", engine.images.get(tag).attrs["Config"]["Healthcheck"]
                  ["Test"][1]]
        for _ in range(50):
            probe = container.exec_run(health)
            if probe.exit_code == 0:
                break
        assert probe.exit_code == 0, probe.output
        assert container.exec_run(["wget", "-q", "-O", "-", "http://localhost:8080/todos"]) \
            .output.startswith(b'[{"id":1')
        missing = container.exec_run(["wget", "-q", "-O", "-", "http://localhost:8080/healthz"])
        assert missing.exit_code != 0 and b"404" in missing.output
        # The upstream trait log masking must catch: the whole URI, password included.
        assert f"Connecting to MongoDB at {uri}" in container.logs().decode()
    finally:
        container.remove(force=True)

    failed = engine.containers.run(tag, detach=True, name=f"{name}-nouri")
    try:
        assert failed.wait(timeout=30)["StatusCode"] == 1
        assert "MONGODB_URI must be set" in failed.logs().decode()
    finally:
        failed.remove(force=True)


def variants(go_mod, modules_txt):
    """{name: (go.mod, modules.txt)}: the vendored fixture, and ways it drifts from go.mod."""
    import re

    def swap(text, old, new):
        assert old in text, old
        return text.replace(old, new, 1)

    unmarked = re.sub(r"## explicit.*\n", "", modules_txt)
    return {
        "as vendored": (go_mod, modules_txt),
        "require bumped, not re-vendored": (swap(go_mod, "godotenv v1.5.1\n)",
                                                 "godotenv v1.5.2\n)"), modules_txt),
        "replace dropped": (re.sub(r"\tgithub.com/gorilla/sessions v1.2.1 => .*\n", "",
                                   go_mod), modules_txt),
        "wildcard replace dropped": (re.sub(r"\tgithub.com/gorilla/mux => .*\n", "", go_mod),
                                     modules_txt),
        "replace retargeted": (swap(go_mod, "=> github.com/gorilla/handlers v1.5.1",
                                    "=> github.com/gorilla/handlers v1.5.0"), modules_txt),
        "marker dropped": (go_mod, swap(modules_txt, "sessions v1.2.1\n## explicit\n",
                                        "sessions v1.2.1\n")),
        "indirect require dropped": (re.sub(r"\tgithub.com/gorilla/securecookie v1.1.1 "
                                            r"// indirect\n", "", go_mod), modules_txt),
        "replacement record dropped": (go_mod, re.sub(r"# github.com/joho/godotenv => .*\n",
                                                      "", modules_txt)),
        "stray replacement record": (go_mod, modules_txt + "# example.com/x => example.com/x "
                                     "v1.0.0\n"),
        "go 1.13, no markers": (swap(go_mod, "go 1.19", "go 1.13"), unmarked),
        "go 1.13, version drift": (swap(swap(go_mod, "go 1.19", "go 1.13"), "godotenv v1.5.1\n)",
                                        "godotenv v1.5.2\n)"), unmarked),
        "no go line, no markers": (swap(go_mod, "go 1.19\n", ""), unmarked),
    }


def test_doctors_vendor_verdict_is_gos_on_every_variant(engine, builder, proxy, app, tmp_path):
    """The fixture replaces every module (both `=>` forms); vendored, then changed in the
    ways a tree drifts: for each, `go build -mod=vendor` in the builder image with the
    network off, and doctor's reading (gomod.vendor_state), must say the same."""
    from ops.image import gomod

    done = vendor.vendor(engine, Settings(context=str(app)), goproxy=f"file://{proxy}",
                         progress=lambda line: None)
    listed = (app / "vendor" / "modules.txt").read_text()
    heads = [line for line in listed.splitlines() if line.startswith("# ")]
    assert "# github.com/gorilla/mux v1.8.0 => github.com/gorilla/mux v1.8.0" in heads
    assert "# github.com/gorilla/mux => github.com/gorilla/mux v1.8.0" in heads
    assert len(heads) == 10 and done["modules"] == 6     # modules, not `# ` lines

    cases = tmp_path / "cases"
    expected = {}
    for number, (name, (go_mod, modules_txt)) in enumerate(
            variants((app / "go.mod").read_text(), listed).items()):
        tree = cases / str(number)
        shutil.copytree(app, tree, ignore=shutil.ignore_patterns(".env"))
        (tree / "go.mod").write_text(go_mod)
        (tree / "vendor" / "modules.txt").write_text(modules_txt)
        expected[str(number)] = (name, gomod.vendor_state(tree))
    script = ("for d in /cases/*; do cd $d; if go build -mod=vendor -o /tmp/app . "
              ">/tmp/log 2>&1; then echo \"$(basename $d) built\"; else echo \"$(basename $d) "
              "$(grep -c 'inconsistent vendoring' /tmp/log)\"; fi; done")
    container = engine.containers.run(builder, ["/bin/sh", "-c", script], detach=True,
                                      network_mode="none",
                                      environment={"HOME": "/tmp", "GOCACHE": "/tmp/gocache",
                                                   "GOPROXY": "off"},
                                      volumes={str(cases): {"bind": "/cases", "mode": "ro"}},
                                      name=f"{IMAGE}-go-{os.urandom(3).hex()}")
    try:
        assert container.wait(timeout=300)["StatusCode"] == 0
        said = dict(line.split(" ", 1) for line in container.logs().decode().splitlines())
    finally:
        container.remove(force=True)
    assert sorted(said) == sorted(expected)
    for number, (name, (consistent, detail)) in expected.items():
        go_built = said[number] == "built"
        assert go_built or said[number] == "1", (name, said[number])  # built, or Go's words
        assert consistent is go_built, (name, detail)
    # As vendored, and the two pre-1.14 trees whose versions agree (no markers needed).
    assert sum(said[n] == "built" for n in said) == 3
