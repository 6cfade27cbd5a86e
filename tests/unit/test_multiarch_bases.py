"""Other platforms without an engine: emulation's status read from a fake binfmt_misc folder,
registering into one, `exec format error` named from the engine's real words, the runtime
stand-in's tag and recipe per architecture, apt's `:arch` packages and their cache folders,
doctor's platform row."""
import os
from types import SimpleNamespace

import pytest

from ops.core.errors import OpsError
from ops.core.platforms import Platform
from ops.doctor import engine as doctor_engine
from ops.engine import emulation
from ops.image import standin_rootfs, standins
from ops.run import containers
from ops.settings.config import Settings

ARM64, AMD64 = Platform("linux/arm64"), Platform("linux/amd64")
# What the 20.10 engine (runc) logged for an arm64 image with the qemu-aarch64 entry disabled
# (`echo 0 > /proc/sys/fs/binfmt_misc/qemu-aarch64`): State.Error empty, exit code 1.
ENGINE_SAID = "exec /bin/uname: exec format error"
OLDER_RUNC_SAID = "standard_init_linux.go:228: exec user process caused: exec format error"
# /proc/sys/fs/binfmt_misc/qemu-aarch64 as the kernel shows it after Debian's entry.
ENTRY = ("enabled\ninterpreter {interpreter}\nflags: {flags}\noffset 0\n"
         "magic 7f454c460201010000000000000000000200b700\n"
         "mask ffffffffffffff00fffffffffffffffffeffffff\n")


@pytest.fixture
def kernel(tmp_path):
    """A binfmt_misc folder as mounted, with a qemu-aarch64 entry whose interpreter exists;
    kernel.entry(text) rewrites the entry, kernel.unmount() empties the folder."""
    folder = tmp_path / "binfmt_misc"
    folder.mkdir()
    interpreter = tmp_path / "qemu-aarch64-static"
    interpreter.write_text("")
    (folder / "register").write_text("")
    (folder / "status").write_text("enabled\n")

    def entry(text=None, flags="POF"):
        path = folder / "qemu-aarch64"
        if text is False:
            path.unlink(missing_ok=True)
        else:
            path.write_text(text or ENTRY.format(interpreter=interpreter, flags=flags))

    def unmount():
        for path in folder.iterdir():
            path.unlink()

    entry()
    return SimpleNamespace(folder=folder, entry=entry, unmount=unmount, interpreter=interpreter)


# --- status ---------------------------------------------------------------------------------

def test_an_entry_file_is_read_as_the_kernel_writes_it():
    parsed = emulation.parse_entry(ENTRY.format(interpreter="/usr/libexec/x", flags="POF"))
    assert parsed == {"enabled": True, "interpreter": "/usr/libexec/x", "flags": "POF"}
    assert emulation.parse_entry("disabled\ninterpreter /x\nflags: \n")["enabled"] is False
    assert emulation.parse_entry("") == {"enabled": False, "interpreter": "", "flags": ""}


def test_the_native_platform_needs_no_emulation(tmp_path):
    assert emulation.status(AMD64, AMD64, proc=tmp_path / "nothing") == (
        True, "linux/amd64 is the engine's own platform: no emulation needed", None)


def test_a_registered_entry_with_the_f_flag_is_ok(kernel):
    ok, why, fix = emulation.status(ARM64, AMD64, proc=kernel.folder, host="unix://")
    assert ok is True and fix is None
    assert why == f"qemu-aarch64 registered (flags POF, {kernel.interpreter})"


@pytest.mark.parametrize("broken, said", [
    (lambda k: k.unmount(), "binfmt_misc is not mounted at"),
    (lambda k: (k.folder / "status").write_text("disabled\n"), "binfmt_misc is disabled"),
    (lambda k: k.entry(False), "no qemu-aarch64 entry in"),
    (lambda k: k.entry(ENTRY.replace("enabled", "disabled", 1).format(
        interpreter=k.interpreter, flags="POF")), "qemu-aarch64 is disabled"),
    (lambda k: k.entry(flags="OC"), "lacks the F flag (flags: OC): its interpreter cannot be "
                                    "found inside containers"),
    (lambda k: k.interpreter.unlink(), "'s interpreter "),
], ids=["unmounted", "disabled-globally", "no-entry", "entry-disabled", "no-F", "no-interpreter"])
def test_each_missing_piece_is_named_with_the_setup_command(kernel, broken, said):
    broken(kernel)
    ok, why, fix = emulation.status(ARM64, AMD64, proc=kernel.folder, host="unix://")
    assert ok is False and said in why, why
    assert "inv setup --platform linux/arm64" in fix


def test_an_engine_on_another_machine_cannot_be_checked_from_here(kernel):
    for host in ("ssh://builder@arm-box", "tcp://10.0.0.5:2376"):
        ok, why, fix = emulation.status(ARM64, AMD64, proc=kernel.folder, host=host)
        assert ok is None and "cannot be checked from here" in why and "will tell" in why
        assert fix.startswith("on the engine's host: inv setup --platform linux/arm64")
    assert emulation.is_local("unix:///var/run/docker.sock")
    assert emulation.is_local("tcp://127.0.0.1:2375") and not emulation.is_local("tcp://x:1")


# --- registering (into a fake kernel folder) -------------------------------------------------

def test_an_absent_entry_is_registered_from_the_package_line_with_f(kernel, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setattr(emulation.os, "geteuid", lambda: 0)
    conf = tmp_path / "binfmt.d"
    conf.mkdir()
    line = ":qemu-aarch64:M::\\x7f\\x45:\\xff\\xff:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OP"
    (conf / "qemu-aarch64.conf").write_text("# from qemu-user-static\n" + line + "\n")
    kernel.entry(False)
    assert emulation._register_entry(ARM64, kernel.folder, conf) == \
        f"registered from {conf / 'qemu-aarch64.conf'}"
    assert (kernel.folder / "register").read_text() == line + "F"


def test_an_entry_without_f_is_removed_and_registered_again(kernel, tmp_path, monkeypatch):
    monkeypatch.setattr(emulation.os, "geteuid", lambda: 0)
    conf = tmp_path / "binfmt.d"
    conf.mkdir()
    (conf / "qemu-aarch64.conf").write_text(":qemu-aarch64:M::a:b:/i:OPF\n")
    kernel.entry(flags="OC")
    emulation._register_entry(ARM64, kernel.folder, conf)
    assert (kernel.folder / "qemu-aarch64").read_text() == "-1"   # the kernel's "remove"
    assert (kernel.folder / "register").read_text() == ":qemu-aarch64:M::a:b:/i:OPF"


def test_a_registered_entry_is_left_alone(kernel, tmp_path):
    assert emulation._register_entry(ARM64, kernel.folder, tmp_path) == \
        "already registered (flags POF)"
    assert (kernel.folder / "register").read_text() == ""


# --- exec format error ------------------------------------------------------------------------

@pytest.mark.parametrize("said", [ENGINE_SAID, OLDER_RUNC_SAID])
def test_exec_format_error_names_both_platforms_and_both_fixes(said):
    cause, fix = emulation.exec_format("starting\n" + said, "linux/arm64", "linux/amd64")
    assert cause == ("exec format error: the image is linux/arm64 and the engine runs "
                     "linux/amd64, without emulation of aarch64")
    assert "inv setup --platform linux/arm64" in fix
    assert "inv build --platform linux/amd64" in fix


def test_exec_format_error_on_a_same_platform_image_points_at_the_binary():
    cause, fix = emulation.exec_format(ENGINE_SAID, "linux/amd64", "linux/amd64")
    assert cause == ("exec format error (the image is linux/amd64): its entrypoint is a binary "
                     "of another architecture than the image's, or a script without a #! line")
    assert "GOARCH" in fix
    cause, _ = emulation.exec_format(ENGINE_SAID, "linux/arm64", "linux/amd64", emulated=True)
    assert cause.startswith("exec format error (the image is linux/arm64, emulated on this "
                            "linux/amd64 engine): its entrypoint is a binary")
    assert emulation.exec_format("panic: MONGODB_URI is invalid", "linux/arm64", "x") is None


def test_an_image_inspect_gives_its_platform():
    assert emulation.image_platform({"Os": "linux", "Architecture": "arm64"}) == "linux/arm64"
    assert emulation.image_platform({"Architecture": "arm64", "Variant": "v8"}) == "linux/arm64"
    assert emulation.image_platform({"Architecture": "arm", "Variant": "v7"}) == "linux/arm/v7"
    assert emulation.image_platform({}) is None


class DeadContainer:
    """What containers.stopped reads of a container that exited at start."""
    name = "tasky-app"

    def __init__(self, log, architecture="arm64"):
        self.log = log
        self.attrs = {"State": {"Status": "exited", "ExitCode": 1, "Error": ""},
                      "Config": {"Env": []}}
        self.image = SimpleNamespace(attrs={"Os": "linux", "Architecture": architecture,
                                            "Config": {"Env": []}})
        self.client = SimpleNamespace()   # the engine: emulation.engine_platform, faked

    def logs(self, tail=None):
        return self.log.encode()


def test_a_dead_container_says_exec_format_error_with_its_cause_and_fix(monkeypatch):
    monkeypatch.setattr(emulation, "status", lambda *a, **k: (False, "no entry", "inv setup"))
    monkeypatch.setattr(emulation, "engine_platform",
                        lambda engine: Platform("linux/amd64"))
    error = containers.stopped(DeadContainer(ENGINE_SAID + "\n"), Settings(),
                               "container tasky-app exited at start with code 1", fix="read it")
    assert error.message == ("container tasky-app exited at start with code 1: exec format "
                             "error: the image is linux/arm64 and the engine runs linux/amd64, "
                             "without emulation of aarch64")
    assert error.anchor == "multi-arch" and "inv setup --platform linux/arm64" in error.fix
    assert error.details == [ENGINE_SAID]


def test_any_other_death_keeps_its_own_message():
    error = containers.stopped(DeadContainer("MONGODB_URI is invalid\n", "amd64"), Settings(),
                               "container tasky-app exited at start with code 1", fix="read it")
    assert (error.message, error.fix, error.anchor) == (
        "container tasky-app exited at start with code 1", "read it", "container-wont-start")


# --- the runtime stand-in per platform ---------------------------------------------------------

def test_the_runtime_stand_in_is_tagged_per_platform():
    bases = Settings().bases
    assert standins.runtime_ref(bases, AMD64, AMD64) == bases.offline_runtime
    assert standins.runtime_ref(bases, None, AMD64) == bases.offline_runtime
    assert standins.runtime_ref(bases, "linux/arm64", AMD64) == \
        "tasky-ops/alpine:3.17.0-busybox-linux-arm64"
    assert standins.runtime_ref(bases, AMD64, ARM64) == \
        "tasky-ops/alpine:3.17.0-busybox-linux-amd64"


def test_the_recipe_hash_names_the_architecture_and_leaves_the_native_one_as_it_was():
    versions = {"busybox-static": "1:1.35.0-4+deb12u1+b1"}
    native = standins.recipe_hash("runtime", versions)
    arm64 = standins.recipe_hash("runtime", versions, "arm64")
    assert len({native, arm64, standins.recipe_hash("runtime", versions, "armhf")}) == 3
    assert arm64 == standins.recipe_hash("runtime", versions, "arm64")
    assert native == standins.recipe_hash("runtime", versions, None)


def test_binnmus_of_one_source_count_as_the_same_busybox():
    assert standin_rootfs.same_source("1:1.35.0-4+deb12u1+b1", "1:1.35.0-4+deb12u1")
    assert not standin_rootfs.same_source("1:1.35.0-4+deb12u1", "1:1.36.1-1")


@pytest.fixture
def apt_here(tmp_path, monkeypatch):
    """apt-cache and dpkg on PATH as on an amd64 machine; `foreign` lists dpkg's added
    architectures, `known` the `package:arch` names apt has lists for."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    state = SimpleNamespace(foreign=tmp_path / "foreign", known=tmp_path / "known")
    state.foreign.write_text("")
    state.known.write_text("")
    scripts = {
        "apt-cache": f"""#!/bin/sh
shift 2
for name in "$@"; do
  if grep -qx "$name" {state.known}; then
    printf 'Package: %s\\nVersion: 1.0\\nArchitecture: %s\\nSize: 3\\n\\n' "${{name%%:*}}" \
      "${{name##*:}}"
  else echo "E: No packages found" >&2; exit 100; fi
done
""",
        "dpkg": f"""#!/bin/sh
case "$1" in --print-architecture) echo amd64 ;; *) cat {state.foreign} ;; esac
""",
        "grep": "#!/bin/sh\nexec /bin/grep \"$@\"\n"}
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + "/bin")
    return state


def test_an_architecture_dpkg_has_not_added_is_one_line_with_both_fixes(apt_here):
    with pytest.raises(OpsError) as caught:
        standin_rootfs.package_records(["busybox-static"], "arm64")
    assert caught.value.message == ("apt knows no arm64 packages (busybox-static): dpkg has not "
                                    "added the arm64 architecture")
    assert caught.value.fix == ("dpkg --add-architecture arm64 && apt-get update, or inv setup "
                                "--platform linux/arm64")
    assert caught.value.anchor == "multi-arch"


def test_an_added_architecture_without_lists_asks_for_apt_get_update(apt_here):
    apt_here.foreign.write_text("arm64\n")
    with pytest.raises(OpsError) as caught:
        standin_rootfs.package_records(["busybox-static"], "arm64")
    assert "apt-get update" in caught.value.fix and "are not fetched" in caught.value.fix


def test_packages_of_another_architecture_are_asked_with_the_qualifier(apt_here):
    apt_here.foreign.write_text("arm64\n")
    apt_here.known.write_text("busybox-static:arm64\n")
    records = standin_rootfs.package_records(["busybox-static"], "arm64")
    assert records == {"busybox-static": {"Version": "1.0", "Architecture": "arm64",
                                          "Size": "3"}}


def test_the_deb_cache_keeps_architectures_apart(tmp_path, monkeypatch):
    asked = []

    def download(package, version, folder):
        asked.append(package)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "x.deb").write_bytes(b"abc")
        return folder / "x.deb"

    monkeypatch.setattr(standin_rootfs, "_download", download)
    record = {"Version": "1:1.0", "Size": "3"}
    native = standin_rootfs.fetch("busybox-static", record, tmp_path, lambda line: None)
    arm64 = standin_rootfs.fetch("busybox-static", record, tmp_path, lambda line: None, "arm64")
    assert native.parent == tmp_path / "debs" / "busybox-static" / "1%3a1.0"
    assert arm64.parent == tmp_path / "debs" / "busybox-static:arm64" / "1%3a1.0"
    assert asked == ["busybox-static", "busybox-static:arm64"]


# --- doctor ----------------------------------------------------------------------------------

def test_doctor_has_a_row_per_configured_platform_with_the_fix(kernel, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(emulation, "host_platform", lambda: AMD64)
    settings = SimpleNamespace(platforms=(AMD64, ARM64, Platform("linux/arm/v7")))
    rows = doctor_engine.platforms(None, settings, proc=kernel.folder)
    assert [(r["check"], r["status"]) for r in rows] == [
        ("platform linux/amd64", "ok"), ("platform linux/arm64", "ok"),
        ("platform linux/arm/v7", "fail")]
    assert rows[2]["fix"].startswith("inv setup --platform linux/arm/v7")
    assert rows[2]["anchor"] == "multi-arch"
    assert doctor_engine.platforms(None, SimpleNamespace(platforms=()),
                                   proc=kernel.folder) == []
