"""The arm64 runtime stand-in on the real engine under real qemu: built offline from Debian's
busybox-static:arm64, recorded as arm64, running aarch64 binaries, carrying the Dockerfile's
release stage (adduser, chown, wget) in a BuildKit build for linux/arm64; doctor's platform
row; a real `exec format error` named. Emulation is registered by `inv setup --dev`."""
import io
import json
import subprocess
import tarfile
from types import SimpleNamespace

import pytest

from tests.integration.helpers import IMAGE, RUN_ID

ARM64 = "linux/arm64"


def quiet(line):
    pass


@pytest.fixture(scope="module")
def settings():
    from ops.settings.config import Settings

    return Settings()


@pytest.fixture(scope="module")
def arm64_base(engine, settings):
    """The arm64 runtime stand-in, built (or found current) as `inv bases --platform` does;
    the rows and the seconds the call took."""
    import time

    from ops.image import standins

    started = time.monotonic()
    rows = standins.ensure(engine, settings.bases, platforms=(ARM64,), progress=quiet)
    return SimpleNamespace(rows=rows, seconds=time.monotonic() - started,
                           ref=standins.runtime_ref(settings.bases, ARM64, "linux/amd64"))


def run_in(engine, ref, script):
    """The output of `sh -c script` in a container of ref (removed after), and its exit code."""
    container = engine.containers.create(ref, ["sh", "-c", script])
    try:
        container.start()
        code = container.wait(timeout=120)["StatusCode"]
        return container.logs().decode(), code
    finally:
        container.remove(force=True)


def test_the_arm64_runtime_stand_in_is_built_offline_and_recorded_as_arm64(engine, arm64_base):
    row = next(r for r in arm64_base.rows if r["platform"] == ARM64)
    assert row["base"] == arm64_base.ref == "tasky-ops/alpine:3.17.0-busybox-linux-arm64"
    assert row["status"] in ("built", "present") and row["size_mb"] < 5
    assert [r["platform"] for r in arm64_base.rows] == ["native", "native", ARM64]
    image = engine.api.inspect_image(arm64_base.ref)
    assert (image["Os"], image["Architecture"]) == ("linux", "arm64")
    assert image["Config"]["Labels"]["org.tasky-ops.role"] == "base"
    assert image["Config"]["Cmd"] == ["/bin/sh"]


def test_its_binaries_are_aarch64_and_the_release_stage_commands_work(engine, arm64_base):
    out, code = run_in(engine, arm64_base.ref, (
        "uname -m && addgroup -S -g 10001 appgroup && "
        "adduser -S -D -H -u 10001 -G appgroup appuser && id appuser && "
        "echo tasky > /tmp/f && chown appuser:appgroup /tmp/f && stat -c %u:%g /tmp/f && "
        "wget --help 2>&1 | grep -c -- --spider"))
    assert code == 0, out
    lines = out.split()
    assert lines[0] == "aarch64"
    assert "uid=10001(appuser)" in out and "10001:10001" in lines
    assert int(lines[-1]) >= 1   # wget with --spider, as the HEALTHCHECK runs it


def test_a_buildkit_build_for_arm64_runs_the_release_stage_on_it(engine, arm64_base,
                                                                 tmp_path):
    """The Dockerfile's release-stage RUN lines, built FROM the local arm64 stand-in for
    linux/arm64 (no registry asked: the stand-in is that platform's)."""
    from ops.image import buildkit, context_tar

    dockerfile = (f"FROM {arm64_base.ref}\n"
                  "RUN addgroup -S -g 10001 appgroup && "
                  "adduser -S -D -H -u 10001 -G appgroup appuser\n"
                  f"RUN mkdir /app && echo 'tasky {RUN_ID}' > /app/wizexercise.txt && "
                  "chown -R appuser:appgroup /app\n"
                  "HEALTHCHECK CMD wget --spider -q http://127.0.0.1:8080/ || exit 1\n"
                  "USER 10001:10001\n")
    with context_tar.tar(tmp_path, dockerfile) as tar:   # the Dockerfile copies nothing
        built = buildkit.build(engine, tar, tags=[f"{IMAGE}:arm64-release"], buildargs={},
                               labels={}, verbose=False, progress=quiet, platform=ARM64)
    image = engine.api.inspect_image(built["image_id"])
    assert image["Architecture"] == "arm64" and image["Config"]["User"] == "10001:10001"
    out, code = run_in(engine, built["image_id"], "uname -m; id -u; cat /app/wizexercise.txt")
    assert code == 0 and out.split()[:2] == ["aarch64", "10001"], out


def test_qemu_runs_the_arm64_busybox_and_the_native_one_lists_the_same_applets(
        settings, tmp_path, arm64_base):
    """Without emulation the applets are listed by this machine's busybox-static of the same
    version: the list is the arm64 busybox's own (run here by qemu-aarch64-static)."""
    from ops.image import standin_rootfs

    arm64 = standin_rootfs.package_records(["busybox-static"], "arm64")["busybox-static"]
    native = standin_rootfs.package_records(["busybox-static"])["busybox-static"]
    assert standin_rootfs.same_source(arm64["Version"], native["Version"])
    lists = []
    for record, arch in ((arm64, "arm64"), (native, None)):
        deb = standin_rootfs.fetch("busybox-static", record, settings.bases.cache_path, quiet,
                                   arch)
        unpacked = tmp_path / (arch or "native")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
        busybox = str(unpacked / "bin" / "busybox")
        command = ["qemu-aarch64-static", busybox] if arch else [busybox]
        lists.append(subprocess.run([*command, "--list"], capture_output=True, text=True,
                                    check=True).stdout.split())
        if arch:
            machine = subprocess.run(["qemu-aarch64-static", busybox, "uname", "-m"],
                                     capture_output=True, text=True, check=True).stdout
            assert machine.strip() == "aarch64"
    assert lists[0] == lists[1] and {"wget", "chown", "sh"} <= set(lists[0])


def test_inv_bases_platform_finds_it_current(inv, arm64_base):
    rows = inv.json("bases", "--platform", ARM64)
    assert [(r["platform"], r["status"]) for r in rows] == [
        ("native", "present"), ("native", "present"), (ARM64, "present")]


def test_an_architecture_dpkg_does_not_have_is_one_line_with_the_fixes(engine, settings):
    from ops.core.errors import OpsError
    from ops.engine import emulation
    from ops.image import standins

    if "s390x" in emulation.debian_architectures():
        pytest.skip("this machine has s390x packages: the refusal cannot be seen here")
    with pytest.raises(OpsError) as caught:
        standins.ensure(engine, settings.bases, platforms=("linux/s390x",),
                        only_missing=True, progress=quiet)
    assert caught.value.message.startswith("apt knows no s390x packages (busybox-static)")
    assert caught.value.fix == ("dpkg --add-architecture s390x && apt-get update, or inv setup "
                                "--platform linux/s390x")


def test_doctor_says_arm64_emulation_is_there_and_names_the_fix_when_it_is_not(engine,
                                                                               tmp_path):
    from ops.doctor import engine as doctor_engine

    asked = SimpleNamespace(platforms=(ARM64,))
    here = doctor_engine.platforms(engine, asked)
    assert [(r["check"], r["status"]) for r in here] == [("platform linux/arm64", "ok")]
    assert here[0]["detail"].startswith("qemu-aarch64 registered (flags ")
    kernel = tmp_path / "binfmt_misc"   # mounted, with no qemu-aarch64 entry
    kernel.mkdir()
    (kernel / "register").write_text("")
    (kernel / "status").write_text("enabled\n")
    (missing,) = doctor_engine.platforms(engine, asked, proc=kernel)
    assert missing["status"] == "fail"
    assert missing["detail"] == (f"no qemu-aarch64 entry in {kernel}: linux/arm64 binaries "
                                 "cannot run here")
    assert missing["fix"].startswith("inv setup --platform linux/arm64")


def put_file(container, path, data, mode=0o755):
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo(path.lstrip("/"))
        info.size, info.mode = len(data), mode
        tar.addfile(info, io.BytesIO(data))
    container.put_archive("/", archive.getvalue())


@pytest.mark.parametrize("platform", ["native", ARM64])
def test_a_container_that_dies_with_exec_format_error_is_named(engine, settings, arm64_base,
                                                               platform):
    """An entrypoint the kernel cannot execute (bytes without an ELF header or #!): the
    engine's own `exec format error`, read from the dead container as `inv run` reads it."""
    from ops.run import containers

    ref = settings.bases.offline_runtime if platform == "native" else arm64_base.ref
    container = engine.containers.create(ref, ["/not-a-program"], name=f"{IMAGE}-enoexec")
    try:
        put_file(container, "/not-a-program", b"\x00\x01 not a program\n")
        container.start()
        container.wait(timeout=60)
        container.reload()
        error = containers.stopped(container, settings, "container exited at start",
                                   fix="read the log")
    finally:
        container.remove(force=True)
    assert any("exec format error" in line for line in error.details), error.details
    assert error.anchor == "multi-arch"
    if platform == "native":
        assert error.message.startswith("container exited at start: exec format error (the "
                                        "image is linux/amd64): its entrypoint is a binary")
    else:   # emulated here (setup --dev): the program is at fault, not the platform
        assert error.message.startswith("container exited at start: exec format error (the "
                                        "image is linux/arm64, emulated on this linux/amd64 "
                                        "engine): its entrypoint is a binary")
    json.dumps(error.details)   # what --json carries


def test_without_emulation_here_the_stand_in_is_assembled_with_the_native_busybox(
        engine, settings, monkeypatch):
    """As on a machine where qemu is not registered: the applets come from this machine's
    busybox-static of the same version, and the image built from them works (run under the
    emulation the engine does have)."""
    from ops.engine import emulation
    from ops.image import standins

    monkeypatch.setattr(emulation, "status", lambda *a, **k: (False, "no qemu-aarch64 entry",
                                                              "inv setup --platform linux/arm64"))
    said = []
    records = standins.package_records(["busybox-static"], "arm64")
    versions = {"busybox-static": records["busybox-static"]["Version"]}
    lister = standins._lister(emulation.Platform(ARM64), versions, settings.bases, said.append)
    assert lister is not None and lister.name.endswith("_amd64.deb")
    assert any("listing applets with this machine's busybox" in line for line in said)
    deb = standins.fetch("busybox-static", records["busybox-static"],
                         settings.bases.cache_path, quiet, "arm64")
    ref = f"{IMAGE}:standin-arm64-native-list"
    standins._build(engine, "runtime", ref, "alpine:3.17.0", "test", [deb],
                    standins.RECIPES["runtime"][1], emulation.Platform(ARM64), lister, quiet)
    assert engine.api.inspect_image(ref)["Architecture"] == "arm64"
    out, code = run_in(engine, ref, "uname -m && wget --help 2>&1 | head -1")
    assert code == 0 and out.splitlines()[0] == "aarch64", out
