"""One task at a time per container name: `run`, `dev` and `demo` hold a lock on the name
they make a container under, for as long as the task lives (dev: until it exits), so a
second task on that name stops at once with one line naming the holder, touching nothing.

The lock is an flock(2) on a file under the user's runtime directory ($XDG_RUNTIME_DIR/
tasky-ops, else /tmp/tasky-ops-<uid>), one file per engine and name; the holder writes its
pid and task into it. The kernel lets go when the holder exits however it exits (kill -9
included), so a lock is never stale. Files are emptied, never removed: removing one while
another task opens it would let two tasks lock two different files of one name.
"""
import contextlib
import fcntl
import hashlib
import json
import os
import stat
import threading
import time

from ops.core.errors import OpsError
from ops.core.waiting import wait_until
from ops.engine import connection

_held = {}                   # lock file -> [descriptor, depth] held by this process
_guard = threading.Lock()


def runtime_dir():
    """The directory the lock files live in, created private to this user."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    folder = (os.path.join(base, "tasky-ops") if base and os.path.isdir(base)
              else f"/tmp/tasky-ops-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    found = os.lstat(folder)
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() or \
            found.st_mode & 0o022:
        raise OpsError(f"{folder} is not a directory private to this user: tasky-ops will not "
                       "keep its container-name locks there", fix=f"remove it (rm -rf {folder}) "
                       "or set XDG_RUNTIME_DIR to a directory of your own", anchor="name-in-use")
    return folder


def engine_key():
    """The engine a name belongs to: DOCKER_HOST, a unix socket by its real path."""
    host = connection.docker_host()
    path = connection.socket_path(host)
    return f"unix://{os.path.realpath(path)}" if path else host


def lock_file(name):
    digest = hashlib.sha256(f"{engine_key()}\0{name}".encode()).hexdigest()[:16]
    return os.path.join(runtime_dir(), f"{name}.{digest}.lock")


@contextlib.contextmanager
def holding(name, task):
    """Hold container name `name` for `task` ("run", "dev", "demo") until the block ends.

    Held already by this process (demo runs the app; each dev cycle runs it): entered again.
    Held by another process: an OpsError naming that holder's pid and task, at once.
    """
    path = lock_file(name)
    with _guard:
        entry = _held.get(path)
        if entry is not None:
            entry[1] += 1
    if entry is not None:
        try:
            yield
        finally:
            with _guard:
                entry[1] -= 1
        return
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    holder = _lock_or_holder(descriptor)
    if holder is not True:
        os.close(descriptor)
        raise in_use(name, holder)
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, json.dumps({"pid": os.getpid(), "task": f"inv {task}", "name": name,
                                      "engine": engine_key(), "since": time.time()}).encode(), 0)
    with _guard:
        _held[path] = entry = [descriptor, 1]
    try:
        yield
    finally:
        with _guard:
            entry[1] -= 1
            last = entry[1] == 0
            if last:
                del _held[path]
        if last:
            os.ftruncate(descriptor, 0)   # emptied before the kernel lets go (close)
            os.close(descriptor)


def in_use(name, holder):
    if holder:
        who = f"pid {holder['pid']} ({holder['task']})"
        stop = f"Ctrl-C in its terminal, or kill {holder['pid']}"
    else:
        who, stop = "another tasky-ops task (it has not said which yet)", "Ctrl-C there"
    return OpsError(f"container name {name} is in use by {who}", fix=f"wait for it to end, or "
                    f"end it ({stop}); or pick another name with --name", anchor="name-in-use")


def _lock_or_holder(descriptor):
    """True once the lock is ours; else what the holder wrote ({"pid", "task", ...}), or None.

    Tried for a moment: a holder that has just locked may not have written yet (what an
    earlier holder left names a dead pid), and one that is just letting go leaves the lock
    to us."""
    def attempt():
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        try:
            found = json.loads(os.pread(descriptor, 4096, 0) or b"null")
        except ValueError:
            return None
        return found if isinstance(found, dict) and _alive(found.get("pid")) else None

    return wait_until(attempt, timeout=1.0, what="reading who holds the name",
                      heartbeat=False).value


def _alive(pid):
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
