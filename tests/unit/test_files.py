"""ops/core/files.py: the one writer, as properties (any content, any mode, a failure at any
step), and the reads that refuse what is not a regular file."""
import errno
import os
import socket
import stat
import tempfile
import threading
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ops.core import files
from ops.core.errors import OpsError

MODES = st.integers(min_value=0, max_value=0o777)
CONTENT = st.binary(max_size=70_000)
STEPS = ("write", "mode", "fsync", "rename")


def leftovers(folder):
    return [name for name in os.listdir(folder) if name.endswith(files.TEMP_SUFFIX)]


@settings(max_examples=80, deadline=None)
@given(old=CONTENT, new=CONTENT | st.text(max_size=2000), mode=MODES)
def test_after_success_the_file_holds_exactly_the_content_with_the_old_mode(old, new, mode):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.json"
        path.write_bytes(old)
        path.chmod(mode)
        files.write_atomically(path, new, mode=0o600)
        assert path.read_bytes() == (new.encode() if isinstance(new, str) else new)
        assert stat.S_IMODE(path.stat().st_mode) == mode
        assert leftovers(folder) == []


class Injected:
    """A failure at one step of the writer: a short write then ENOSPC, or an errno at
    fchmod, fsync or rename."""

    def __init__(self, step, code):
        self.step, self.code = step, code

    def __enter__(self):
        error = OSError(self.code, os.strerror(self.code))

        def short_write(fd, data):
            os.write(fd, bytes(data[:len(data) // 2]))
            raise error

        def fail(*args):
            raise error

        target = {"write": ("_write_all", short_write), "mode": ("_keep_mode", fail),
                  "fsync": ("_sync", fail), "rename": ("_rename", fail)}[self.step]
        self.patch = mock.patch.object(files, target[0], target[1])
        self.patch.__enter__()

    def __exit__(self, *exc):
        self.patch.__exit__(*exc)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(old=CONTENT, new=CONTENT, mode=MODES, step=st.sampled_from(STEPS),
       code=st.sampled_from(sorted(files.DISK)))
def test_a_failure_at_any_step_leaves_the_old_file_byte_for_byte_and_no_temporary(
        old, new, mode, step, code):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.json"
        path.write_bytes(old)
        path.chmod(mode)
        with Injected(step, code), pytest.raises(OpsError) as caught:
            files.write_atomically(path, new)
        assert path.read_bytes() == old
        assert stat.S_IMODE(path.stat().st_mode) == mode
        assert leftovers(folder) == []
        line = caught.value.line()
        assert "\n" not in line and str(path) in line and files.DISK[code] in line
        assert "free of" in line and "RUNBOOK.md#file-not-written" in line


def test_a_new_file_gets_the_mode_asked_for_and_an_existing_one_keeps_its_owner(tmp_path):
    fresh = files.write_atomically(tmp_path / "new.json", "{}", mode=0o600)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    kept = tmp_path / "kept"
    kept.write_text("x")
    if os.geteuid() == 0:
        os.chown(kept, 4321, 4322)
    files.write_atomically(kept, "y")
    if os.geteuid() == 0:
        assert (kept.stat().st_uid, kept.stat().st_gid) == (4321, 4322)


def test_a_symbolic_link_is_followed_and_stays_a_link(tmp_path):
    real = tmp_path / "dotfiles" / "config.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "config.json"
    link.symlink_to(real)
    files.write_atomically(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_an_interrupt_mid_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "pid"
    path.write_text("123")

    def interrupted(fd, data):
        raise KeyboardInterrupt

    with mock.patch.object(files, "_write_all", interrupted), pytest.raises(KeyboardInterrupt):
        files.write_atomically(path, "456")
    assert path.read_text() == "123" and leftovers(tmp_path) == []


def test_the_line_names_the_mount_point_and_what_is_free():
    error = files.not_written(Path("/proc/nonexistent/x"), OSError(errno.ENOSPC, "full"))
    assert error.line().startswith("cannot write /proc/nonexistent/x (no space left): "
                                   "filesystem /proc, ")
    assert files.mount_point("/") == Path("/")


def test_settle_renames_a_finished_file_into_place(tmp_path):
    temp = tmp_path / ".download"
    temp.write_bytes(b"deb")
    files.settle(temp, tmp_path / "a.deb")
    assert (tmp_path / "a.deb").read_bytes() == b"deb" and not temp.exists()


def test_swap_folder_puts_the_new_one_in_place_and_keeps_the_old_on_failure(tmp_path):
    old, new = tmp_path / "vendor", tmp_path / ".vendor-new"
    old.mkdir()
    (old / "modules.txt").write_text("old")
    new.mkdir()
    (new / "modules.txt").write_text("new")
    files.swap_folder(new, old)
    assert (old / "modules.txt").read_text() == "new" and not new.exists()
    assert sorted(os.listdir(tmp_path)) == ["vendor"]

    new.mkdir()
    with mock.patch.object(files, "_exchange", return_value=False), \
            mock.patch.object(files.os, "rename", side_effect=[None, OSError(errno.EROFS, "ro"),
                                                               None]), \
            pytest.raises(OpsError) as caught:
        files.swap_folder(new, old)
    assert "read-only" in caught.value.line()
    assert (old / "modules.txt").read_text() == "new" and not new.exists()


def test_swap_folder_without_a_new_folder_removes_the_old_one(tmp_path):
    (tmp_path / "vendor").mkdir()
    files.swap_folder(tmp_path / ".absent", tmp_path / "vendor")
    assert os.listdir(tmp_path) == []


# ---- reading -----------------------------------------------------------------------------

def not_regular_things(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    return {"a FIFO": fifo, "a socket": sock_path, "a character device": Path("/dev/null"),
            "a folder": tmp_path}, server


def test_what_is_not_a_regular_file_is_refused_before_it_is_opened(tmp_path):
    things, server = not_regular_things(tmp_path)
    try:
        for kind, path in things.items():
            done = []
            thread = threading.Thread(target=lambda p=path, d=done: d.append(_refusal(p)),
                                      daemon=True)
            thread.start()
            thread.join(5)
            assert done, f"{kind}: the read blocked"
            assert f"is {kind}" in done[0] and "\n" not in done[0]
    finally:
        server.close()


def _refusal(path):
    try:
        files.read_regular(path, "env file", "bad-env")
    except OpsError as error:
        return error.line()
    return "read"


def test_read_json_names_the_file_when_it_is_not_json_or_not_an_object(tmp_path):
    path = tmp_path / "config.json"
    for text, said in (("{\"auths\": {", "is not valid JSON"), ("[1]", "not an object")):
        path.write_text(text)
        with pytest.raises(OpsError) as caught:
            files.read_json(path, "docker config", "docker-config")
        assert str(path) in caught.value.line() and said in caught.value.line()
    path.write_text("")
    assert files.read_json(path, "docker config", "docker-config") == {}
