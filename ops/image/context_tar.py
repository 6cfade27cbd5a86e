"""The build context as the Docker CLI selects it (ops/image/dockerignore.py), packed as a
tar with the standard library only: `inv build` must not pay for importing docker-py
(about 90 ms) on its path.
"""
import errno
import io
import os
import stat
from pathlib import Path

from ops.core import files
from ops.core.errors import OpsError
from ops.image.dockerignore import ANCHOR, IGNORE_FILE, LITERAL, Matcher, read_lines

SPOOL_BYTES = 16 * 1024 * 1024   # contexts above this are spooled to a temporary file
FULL = (errno.ENOSPC, errno.EDQUOT)   # the spooled tar's own filesystem, not the context
# What a context carries. The 20.10 CLI's BuildKit sync drops FIFOs, sends sockets and
# devices as empty files and the classic one skips sockets: none belongs in an image.
KINDS = (stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK)


# --- the walk and the tar -----------------------------------------------------------------

def _entries(root, matcher, skip=()):
    """(relative path, absolute path, lstat) of every entry Docker sends, in its walk order:
    a directory before its contents, names in byte order, symlinks not followed, only
    directories, files and symlinks. `skip` names paths (and their contents) left out
    whatever the patterns say."""
    stack = [iter(_listing(root, "", matcher, skip))]
    while stack:
        for rel, path, info in stack[-1]:
            yield rel, path, info
            if stat.S_ISDIR(info.st_mode):
                stack.append(iter(_listing(path, rel + "/", matcher, skip)))
                break
        else:
            stack.pop()


def _listing(directory, prefix, matcher, skip):
    try:
        with os.scandir(directory) as found:
            children = sorted(found, key=lambda entry: os.fsencode(entry.name))
    except FileNotFoundError:
        return []   # removed since its parent was read: what Docker's own walk skips too
    except OSError as exc:
        raise _unreadable(prefix.rstrip("/") or ".", exc) from exc
    kept = []
    for child in children:
        rel = prefix + child.name
        try:
            info = child.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue   # gone since the directory was read
        except OSError as exc:
            raise _unreadable(rel, exc) from exc
        if rel in skip or stat.S_IFMT(info.st_mode) not in KINDS:
            continue
        if matcher.excludes(rel) and not (stat.S_ISDIR(info.st_mode) and matcher.reopens(rel)):
            continue
        kept.append((rel, child.path, info))
    return kept


def _unreadable(rel, exc):
    return OpsError(f"cannot read {rel} in the build context ({exc.strerror or exc})",
                    fix=f"add {rel} to .dockerignore if the image does not need it, or make "
                        f"it readable (chmod a+r {rel})", anchor=ANCHOR)


def context_paths(context_dir, patterns=None):
    """What Docker sends of `context_dir`: relative paths in walk order, directories
    ending in `/`. `patterns` defaults to the context's own .dockerignore."""
    root = os.fspath(context_dir)
    if patterns is None:
        lines = read_lines(os.path.join(root, IGNORE_FILE))
        matcher = Matcher([p for _, p in lines], lines=[n for n, _ in lines])
    else:
        matcher = Matcher(patterns)
    return [rel + "/" if stat.S_ISDIR(info.st_mode) else rel
            for rel, _, info in _entries(root, matcher)]


def _ignore_text(patterns, matcher, dockerfile_name):
    """The tar's own .dockerignore: the context's patterns, then the Dockerfile and itself
    unless already excluded, so the classic builder copies neither with `COPY . .`."""
    lines = [" " + p if p.startswith(("#", "\ufeff")) else p for p in patterns]  # not comments
    lines += [LITERAL.sub(r"\\\1", name) for name in (dockerfile_name, IGNORE_FILE)
              if not matcher.excludes(name)]
    return "".join(line + "\n" for line in lines)


def tar(context_dir, dockerfile_text, dockerfile_name="Dockerfile", leave_out=()):
    """The build context as a seekable tar at position 0, as the Docker CLI would send it.

    First `dockerfile_name` (the given text) and a .dockerignore of the context's patterns
    plus those two names: short names first keep the opening header a plain tar header, as
    BuildKit's sniff of the first bytes needs. Then every path the patterns keep, in walk
    order, owned by 0:0 with no user or group names and whole-second mtimes, GNU format;
    context files of those two names are replaced. `leave_out` names paths (relative to the
    context) never sent, whatever .dockerignore says: the app's env file, .git.
    """
    import tarfile
    import tempfile

    root = os.fspath(context_dir)
    lines = read_lines(os.path.join(root, IGNORE_FILE))
    patterns = [p for _, p in lines]
    matcher = Matcher(patterns, lines=[n for n, _ in lines])
    extras = ((dockerfile_name, dockerfile_text),
              (IGNORE_FILE, _ignore_text(patterns, matcher, dockerfile_name)))
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as archive:
            for name, text in extras:
                data = text.encode() if isinstance(text, str) else bytes(text)
                info = _member(name, mode=0o644, mtime=0)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
            links = {}
            skip = {name for name, _ in extras} | set(leave_out)
            for rel, path, info in _entries(root, matcher, skip=skip):
                _add(archive, rel, path, info, links)
    except OSError as exc:
        out.close()
        if exc.errno not in FULL:
            raise
        # The context passed 16 MB and spilled to a temporary file: TMPDIR's filesystem.
        raise files.not_written(Path(tempfile.gettempdir()) / "build context", exc) from None
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


def _member(name, mode, mtime):
    import tarfile  # here, not at the top: with tempfile it costs about 4 ms to import

    info = tarfile.TarInfo(name)
    info.mode, info.mtime = mode, mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add(archive, rel, path, st, links):
    """Append one context entry as the Docker CLI writes it; hard links stay links."""
    import tarfile

    info = _member(rel, stat.S_IMODE(st.st_mode), int(st.st_mtime))
    kind = stat.S_IFMT(st.st_mode)
    if kind == stat.S_IFREG:
        if st.st_nlink > 1 and (st.st_dev, st.st_ino) in links:
            info.type, info.linkname = tarfile.LNKTYPE, links[(st.st_dev, st.st_ino)]
            archive.addfile(info)
            return
        info.size = st.st_size
        try:
            handle = open(path, "rb")
        except FileNotFoundError:
            return   # gone since its folder was read (an editor's temporary file): not sent
        except OSError as exc:
            raise _unreadable(rel, exc) from exc
        with handle:
            try:
                archive.addfile(info, handle)
            except OSError as exc:
                if exc.errno in FULL:
                    raise   # our temporary file, not the context file
                raise _unreadable(rel, exc) from exc
        if st.st_nlink > 1:
            links[(st.st_dev, st.st_ino)] = rel
        return
    if kind == stat.S_IFDIR:
        info.type = tarfile.DIRTYPE
    else:
        try:
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
        except FileNotFoundError:
            return
    archive.addfile(info)


def left_out(settings):
    """What the context never carries to the engine, .dockerignore or not: the app's env file
    (its database password: the profile's file, the one of that name in the app's own folder,
    and the app's conventional .env whatever the profile names) and .git. Relative paths
    inside the context that exist."""
    context = settings.context_path.resolve()
    candidates = [context / ".git", context / ".env"]
    if settings.app.env_file:
        candidates += [context / settings.app.env_file, settings.env_file_path.resolve()]
    found = []
    for path in candidates:
        try:
            relative = path.relative_to(context).as_posix()
        except ValueError:
            continue   # outside the context: never sent anyway
        if relative not in found and (path.exists() or path.is_symlink()):
            found.append(relative)
    return found
