"""Every file tasky-ops keeps is written here, whole or not at all; every file a person names
is read here, and only when it is a regular file.

write_atomically: a temporary in the same folder, every byte written and fsynced, then
renamed over the file (the folder fsynced after), keeping the old file's mode and owner. A
full disk, a quota, a read-only filesystem or a refused permission leaves the old file byte
for byte as it was and no temporary behind, and is one line naming the filesystem and its
free space. settle() is the same last step for a file something else wrote (apt's .deb);
swap_folder() the same for a whole folder (vendor/).

read_regular: a FIFO, a socket, a device or a folder where a file is expected would block
a read forever or mean something else; it is refused before it is opened, and opened
non-blocking in case it was swapped in between.
"""
import contextlib
import errno
import json
import os
import stat
from pathlib import Path

from ops.core.errors import OpsError

ANCHOR = "file-not-written"
TEMP_SUFFIX = ".tasky-tmp"
# The failures a person fixes on the filesystem, not in tasky-ops: what each one means.
DISK = {errno.ENOSPC: "no space left", errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only", errno.EACCES: "permission denied",
        errno.EPERM: "not permitted", errno.EFBIG: "file too large"}
KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
         (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
         (stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link"))


# ---- writing ---------------------------------------------------------------------------

def write_atomically(path, data, mode=None):
    """Replace path's content with data (bytes, or str as UTF-8), whole or not at all.

    An existing file keeps its mode and, where this user may set it, its owner; a new file
    gets `mode` (default: 0o666 less the umask). A symbolic link is followed: the file it
    names is replaced, the link stays. Returns the path written."""
    import tempfile  # here: the build path imports this module and rarely writes

    target = Path(os.path.realpath(path))
    data = data.encode() if isinstance(data, str) else bytes(data)
    make_folder(target.parent)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX,
                                    dir=target.parent)
    except OSError as exc:
        raise not_written(target, exc) from None
    with _becoming(temp, target):
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
    return settle(temp, target, mode)   # its mode, fsync, rename, the folder fsynced


def settle(temp, path, mode=None):
    """Rename `temp` (a finished file in path's folder, written by another program) over
    path: fsynced first, the folder after. The temporary is removed however this ends."""
    target = Path(path)
    with _becoming(temp, target):
        fd = os.open(temp, os.O_RDONLY)
        try:
            _keep_mode(fd, target, mode)
            _sync(fd)
        finally:
            os.close(fd)
        _rename(temp, target)
    _sync_folder(target.parent)
    return target


@contextlib.contextmanager
def _becoming(temp, target):
    """A temporary on its way to be target: removed however that fails, and an OS error
    turned into the one line naming target's filesystem."""
    try:
        yield
    except OSError as exc:
        _discard(temp)
        raise not_written(target, exc) from None
    except BaseException:
        _discard(temp)
        raise


def make_folder(folder, mode=0o777):
    """mkdir -p, a full or read-only disk being one line as for a file."""
    try:
        Path(folder).mkdir(mode=mode, parents=True, exist_ok=True)
    except OSError as exc:
        raise not_written(Path(folder), exc) from None


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _keep_mode(fd, target, mode):
    try:
        before = os.stat(target)
    except FileNotFoundError:
        os.fchmod(fd, _new_mode() if mode is None else mode)
        return
    os.fchmod(fd, stat.S_IMODE(before.st_mode))
    if (before.st_uid, before.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.fchown(fd, before.st_uid, before.st_gid)
        except PermissionError:
            pass   # only root gives a file away: it then belongs to whoever wrote it


def _new_mode():
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _sync(fd):
    os.fsync(fd)


def _rename(temp, target):
    os.replace(temp, target)


def _sync_folder(folder):
    """The rename itself made durable; best effort (some filesystems refuse a folder fsync),
    as the file is already whole under its name."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _discard(temp):
    try:
        os.unlink(temp)
    except OSError:
        pass


def not_written(path, exc):
    """The one line for a file that could not be written: why, on which filesystem, how much
    is free there. A failure that is no filesystem's (a bug) stays what it was."""
    if exc.errno not in DISK:
        return OpsError(f"cannot write {path}: {exc.strerror or exc}",
                        fix="check the path and its folder; the old file is unchanged",
                        anchor=ANCHOR)
    mount = mount_point(path)
    return OpsError(f"cannot write {path} ({DISK[exc.errno]}): filesystem {mount}, "
                    f"{free_space(mount)}",
                    fix=f"free space or fix the permissions on {mount} (df -h {mount}), then "
                        "run again; the old file is unchanged", anchor=ANCHOR)


def mount_point(path):
    """The mount point holding path (or its nearest existing folder)."""
    here = Path(os.path.abspath(path))
    while not here.exists() and here != here.parent:
        here = here.parent
    here = Path(os.path.realpath(here))
    while not os.path.ismount(here):
        here = here.parent
    return here


def free_space(mount):
    try:
        found = os.statvfs(mount)
    except OSError:
        return "free space unknown"
    unit = found.f_frsize
    return f"{size(found.f_bavail * unit)} free of {size(found.f_blocks * unit)}"


def size(count):
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TB"


# ---- a whole folder ----------------------------------------------------------------------

RENAME_EXCHANGE = 2   # linux/fs.h


def swap_folder(new, target):
    """Put the finished folder `new` (target's sibling) in target's place: one atomic
    exchange where Linux offers it, else two renames with the old folder kept aside until
    the new one is in place. The old folder is removed after; `new` never survives."""
    import shutil

    new, target = Path(new), Path(target)
    aside = target.with_name(f".{target.name}.old{TEMP_SUFFIX}")
    shutil.rmtree(aside, ignore_errors=True)
    try:
        if not new.exists():   # the tool made nothing: nothing stays (`go mod vendor`)
            if target.exists():
                os.rename(target, aside)
        elif not target.exists():
            os.rename(new, target)
        elif _exchange(new, target):
            os.rename(new, aside)
        else:
            os.rename(target, aside)
            try:
                os.rename(new, target)
            except OSError:
                os.rename(aside, target)
                raise
    except OSError as exc:
        shutil.rmtree(new, ignore_errors=True)
        raise not_written(target, exc) from None
    _sync_folder(target.parent)
    shutil.rmtree(aside, ignore_errors=True)
    return target


def _exchange(one, other):
    """renameat2(RENAME_EXCHANGE): both names swap in one step, or False when unsupported."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_cwd = -100
    done = call(at_cwd, os.fsencode(one), at_cwd, os.fsencode(other), RENAME_EXCHANGE)
    if done == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(other))


# ---- reading -----------------------------------------------------------------------------

def kind(mode):
    return next((name for test, name in KINDS if test(mode)), "not a regular file")


def regular(path, what, anchor, fix=None):
    """path's stat when it is a regular file (links followed), else one line saying what it
    is. FileNotFoundError and other OSErrors reach the caller, who words them."""
    found = os.stat(path)
    if not stat.S_ISREG(found.st_mode):
        raise not_regular(path, what, found.st_mode, anchor, fix)
    return found


def read_regular(path, what, anchor, fix=None):
    """The bytes of path, refused in one line when it is not a regular file (checked before
    it is opened, and again on the open descriptor). FileNotFoundError and other OSErrors
    reach the caller, who words them."""
    regular(path, what, anchor, fix)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):   # swapped after the stat
            raise not_regular(path, what, opened.st_mode, anchor, fix)
        chunks = []
        while block := os.read(fd, 1 << 20):
            chunks.append(block)
        return b"".join(chunks)
    finally:
        os.close(fd)


def not_regular(path, what, mode, anchor, fix=None):
    return OpsError(f"{what} {path} is {kind(mode)}, not a regular file: it is not read "
                    "(a read could block forever)",
                    fix=fix or f"point it at a regular file, or remove {path}", anchor=anchor)


def read_json(path, what, anchor, fix=None):
    """A JSON object from a file a person or another tool keeps (docker's config.json): one
    line naming the file when it is not a regular file, not JSON, or not an object."""
    data = read_regular(path, what, anchor, fix)
    if not data.strip():
        return {}
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise OpsError(f"{what} {path} is not valid JSON ({exc})",
                       fix=fix or f"repair or move {path} aside", anchor=anchor) from None
    if not isinstance(value, dict):
        raise OpsError(f"{what} {path} holds a JSON {type(value).__name__}, not an object",
                       fix=fix or f"repair or move {path} aside", anchor=anchor)
    return value
