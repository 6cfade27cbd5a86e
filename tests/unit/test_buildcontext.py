"""ops/image/context_tar: .dockerignore read and matched as the Docker 20.10 CLI does, and the
context tar it sends. The expected sets below were first read off the real CLI
(tests/integration/test_buildcontext.py keeps checking the same semantics there)."""
import os
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ops.core.errors import OpsError
from ops.image import context_tar, dockerignore

ROOT = Path(__file__).resolve().parents[2]
FILES = ("README.md", "a.md", "top.go", "aab", "a+b", "bcd", "cde", "st*r", "# x", "x y",
         "docs/x.txt", "docs/sub/keep.md", "docs/sub/deep/n.md", "src/main.go",
         "src/pkg/util.go", "Src/F.go", "a/b/sub/x", "a/b/sub/keep", "a/b/y.go", "d/sub/f")


def make_tree(root, dockerignore=None):
    for name in FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"{name}\n")
    (root / "empty").mkdir()
    (root / "link.md").symlink_to("a.md")
    if dockerignore is not None:
        (root / ".dockerignore").write_bytes(dockerignore.encode())
    return root


def everything(root):
    """Every path of the tree, as context_paths names them (directories end in /)."""
    found = set()
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        found.add(rel + "/" if path.is_dir() and not path.is_symlink() else rel)
    return found


DOCS = {"docs/", "docs/x.txt", "docs/sub/", "docs/sub/keep.md", "docs/sub/deep/",
        "docs/sub/deep/n.md"}
# (.dockerignore, what it leaves out of the tree); .dockerignore itself is in the tree.
CASES = {
    "*.md": ("*.md\n", {"README.md", "a.md", "link.md"}),
    "**/*.go": ("**/*.go\n", {"top.go", "src/main.go", "src/pkg/util.go", "Src/F.go",
                             "a/b/y.go"}),
    "docs/** keeps docs itself": ("docs/**\n", DOCS - {"docs/"}),
    "! re-includes inside an excluded dir": (
        "docs\n!docs/sub/keep.md\n", {"docs/x.txt", "docs/sub/deep/", "docs/sub/deep/n.md"}),
    "/abs is relative to the context": ("/docs\n", DOCS),
    "../x matches nothing": ("../docs\n", set()),
    ". matches nothing": (".\n", set()),
    "case-sensitive": ("Src\n", {"Src/", "Src/F.go"}),
    "[a-c]*": ("[a-c]*\n", {"a.md", "aab", "a+b", "bcd", "cde", "a/", "a/b/", "a/b/sub/",
                            "a/b/sub/x", "a/b/sub/keep", "a/b/y.go"}),
    "\\* is a literal star": ("st\\*r\n", {"st*r"}),
    "a dir pattern takes its contents": ("docs/sub/\n", DOCS - {"docs/", "docs/x.txt"}),
    "the later pattern wins (re-include)": ("*.md\n!a.md\n", {"README.md", "link.md"}),
    "the later pattern wins (exclude again)": ("*.md\n!a.md\na.md\n",
                                              {"README.md", "a.md", "link.md"}),
    "# at column 1 is a comment": ("# x\n", set()),
    "  # after spaces is a pattern": ("  # x\n", {"# x"}),
    "a UTF-8 BOM is not part of line 1": ("\ufeffa.md\n", {"a.md"}),
    "CRLF lines": ("a.md\r\nbcd\r\n", {"a.md", "bcd"}),
    "! then spaces": ("*.md\n!  a.md\n", {"README.md", "link.md"}),
    "inner spaces belong to the name": ("x y\n", {"x y"}),
    "everything": ("**\n", None),
    # Docker's own quirks, read off the 20.10 CLI:
    "+ keeps its regexp meaning": ("a+b\n", {"aab"}),
    "[^x] also matches /": ("d[^x]sub\n", {"d/sub/", "d/sub/f"}),
    "**/sub misses a/b/sub/x once a/b/sub is walked": (
        "**/sub\n!a/b/sub/keep\n", {"docs/sub/", "docs/sub/keep.md", "docs/sub/deep/",
                                    "docs/sub/deep/n.md", "d/sub/", "d/sub/f"}),
    "!**/keep.md does not reopen docs": ("docs\n!**/keep.md\n", DOCS),
    "a reopened dir is sent even if empty": (
        "docs\n!docs/none\n", DOCS - {"docs/"}),
    "a pattern longer than the parent is not tried on it": (
        "docs/**/sub\n!docs/sub/keep.md\n", set()),
    "? never matches /": ("d?sub\n", set()),
    "| keeps its regexp meaning, unanchored": ("zz|.go\n", {
        "top.go", "src/main.go", "src/pkg/util.go", "Src/F.go", "a/b/y.go"}),
    "{n} keeps its regexp meaning": ("a{2}b\n", {"aab"}),
    "[[:alpha:]] is a Go regexp class": (
        "[[:alpha:]]*\n", None, {".dockerignore", "# x"}),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_dockerignore_selects_what_the_docker_cli_sends(tmp_path, case):
    dockerignore, dropped, *kept = case   # dropped None: only `kept` is sent
    root = make_tree(tmp_path, dockerignore)
    expected = set(*kept) if dropped is None else everything(root) - dropped
    assert set(context_tar.context_paths(root)) == expected


def test_only_one_directory_comes_back_with_a_star_then_a_bang(tmp_path):
    root = make_tree(tmp_path, "*\n!src\n")
    assert context_tar.context_paths(root) == ["src/", "src/main.go", "src/pkg/",
                                                "src/pkg/util.go"]


def test_paths_come_in_walk_order_parents_first(tmp_path):
    root = make_tree(tmp_path)
    paths = context_tar.context_paths(root)
    for index, path in enumerate(paths):
        parent = path.rstrip("/").rpartition("/")[0]
        assert not parent or paths.index(parent + "/") < index


@pytest.mark.parametrize("text, patterns", [
    ("# comment\n\n  docs/  \n!  a.md\n/abs\n./x/../y\n", ["docs", "!a.md", "abs", "y"]),
    ("\ufeff# still a comment\n  # not one\n", ["# not one"]),
    ("a\r\nb", ["a", "b"]),
    ("!\n/\n", ["!", "/"]),
])
def test_read_dockerignore_follows_dockers_reader(tmp_path, text, patterns):
    (tmp_path / ".dockerignore").write_bytes(text.encode())
    assert dockerignore.read_dockerignore(tmp_path / ".dockerignore") == patterns


def test_a_missing_dockerignore_reads_as_no_patterns(tmp_path):
    assert dockerignore.read_dockerignore(tmp_path / ".dockerignore") == []


@pytest.mark.parametrize("text, line, words", [
    ("ok\n[a-\n", 2, "character class"),
    ("ok\n\n!\n", 3, "lone `!`"),
    ("a(b\n", 1, "regular expression"),
    ("x\\\n", 1, "trailing \\"),
    ("*+\n", 1, "nested repetition"),
])
def test_a_malformed_pattern_names_its_line(tmp_path, text, line, words):
    make_tree(tmp_path, text)
    with pytest.raises(OpsError) as caught:
        context_tar.tar(tmp_path, "FROM scratch\n")
    assert f".dockerignore line {line}" in caught.value.message
    assert words in caught.value.message
    assert caught.value.anchor == "build-fails" and caught.value.fix
    assert "\n" not in caught.value.line()


# --- the tar ------------------------------------------------------------------------------

def read(fileobj, name):
    fileobj.seek(0)
    with tarfile.open(fileobj=fileobj) as archive:
        return archive.extractfile(name).read().decode()


def test_the_tar_carries_the_dockerfile_and_an_extended_dockerignore(tmp_path):
    root = make_tree(tmp_path, "*.md\n  # x\n")
    (root / "Dockerfile").write_text("FROM stale-copy-in-the-context\n")
    packed = context_tar.tar(root, "FROM scratch\nCOPY . /ctx/\n")
    assert packed.tell() == 0
    with tarfile.open(fileobj=packed) as archive:
        names = archive.getnames()
    assert names[:2] == ["Dockerfile", ".dockerignore"]   # first: BuildKit sniffs a header
    assert names.count("Dockerfile") == 1 and names.count(".dockerignore") == 1
    assert read(packed, "Dockerfile") == "FROM scratch\nCOPY . /ctx/\n"
    ignore = read(packed, ".dockerignore")
    assert ignore == "*.md\n # x\nDockerfile\n.dockerignore\n"
    assert set(names) - {"Dockerfile", ".dockerignore"} == {
        p.rstrip("/") for p in context_tar.context_paths(root)} - {"Dockerfile",
                                                                     ".dockerignore"}
    # Docker reads it back to the same patterns: `# x` stays a pattern, not a comment.
    (root / ".dockerignore").write_text(ignore)
    assert dockerignore.read_dockerignore(root / ".dockerignore") == [
        "*.md", "# x", "Dockerfile", ".dockerignore"]


@pytest.mark.parametrize("text, lines", [
    (None, ["Dockerfile", ".dockerignore"]),
    ("secret.txt\nDockerfile\n", ["secret.txt", "Dockerfile", ".dockerignore"]),
    ("*\n!src\n", ["*", "!src"]),   # both already excluded by `*`
    ("Dockerfile\n!Dockerfile\n", ["Dockerfile", "!Dockerfile", "Dockerfile", ".dockerignore"]),
])
def test_the_dockerfile_and_dockerignore_are_always_excluded_for_copy(tmp_path, text, lines):
    root = make_tree(tmp_path, text)
    packed = context_tar.tar(root, "FROM scratch\n")
    ignore = read(packed, ".dockerignore")
    assert ignore.splitlines() == lines
    matcher = dockerignore.Matcher(lines)
    assert matcher.excludes("Dockerfile") and matcher.excludes(".dockerignore")


def test_a_custom_dockerfile_name_is_escaped_in_the_dockerignore(tmp_path):
    root = make_tree(tmp_path)
    packed = context_tar.tar(root, "FROM scratch\n", dockerfile_name="build[1].Dockerfile")
    lines = read(packed, ".dockerignore").splitlines()
    assert lines == ["build\\[1\\].Dockerfile", ".dockerignore"]
    assert dockerignore.Matcher(lines).excludes("build[1].Dockerfile")
    assert read(packed, "build[1].Dockerfile") == "FROM scratch\n"


def test_members_look_like_the_docker_clis(tmp_path):
    root = make_tree(tmp_path)
    os.utime(root / "a.md", (1_700_000_000.75, 1_700_000_000.75))
    (root / "docs" / "hard").hardlink_to(root / "a.md")
    (root / "out").symlink_to("/etc")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o750)
    (root / "a.md").chmod(0o644)
    packed = context_tar.tar(root, "FROM scratch\n")
    head = packed.read(512)
    assert head[257:265] == b"ustar  \x00"   # GNU format, no PAX header in front
    packed.seek(0)
    with tarfile.open(fileobj=packed) as archive:
        found = {m.name: m for m in archive.getmembers()}
    assert all(m.uid == 0 and m.gid == 0 and m.uname == "" and m.gname == ""
               for m in found.values())
    assert found["a.md"].mtime == 1_700_000_000
    assert found["run.sh"].mode == 0o750 and found["a.md"].mode == 0o644
    assert found["link.md"].issym() and found["link.md"].linkname == "a.md"
    assert found["out"].issym() and found["out"].linkname == "/etc"   # not followed
    assert not any(name.startswith("out/") for name in found)
    assert found["docs/hard"].islnk() and found["docs/hard"].linkname == "a.md"
    assert found["docs"].isdir() and found["empty"].isdir()


def test_sockets_are_left_out(tmp_path, monkeypatch):
    root = make_tree(tmp_path)
    monkeypatch.chdir(root)   # a short socket path
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind("dev.sock")
        assert "dev.sock" not in context_tar.context_paths(root)
        with tarfile.open(fileobj=context_tar.tar(root, "FROM scratch\n")) as archive:
            assert "dev.sock" not in archive.getnames()


# Running as root, chmod does not stop a read: the failing read is faked at the open()
# buildcontext calls, the boundary where the OS would refuse it.
def refuse(name):
    real = open

    def fake_open(path, *args, **kw):
        if os.fspath(path).endswith(name):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path, *args, **kw)
    return fake_open


def test_an_unreadable_file_names_the_path_and_the_way_out(tmp_path, monkeypatch):
    root = make_tree(tmp_path)
    (root / "docs" / "secret.key").write_text("k")
    monkeypatch.setattr(context_tar, "open", refuse("secret.key"), raising=False)
    with pytest.raises(OpsError) as caught:
        context_tar.tar(root, "FROM scratch\n")
    error = caught.value
    assert "docs/secret.key" in error.message and "Permission denied" in error.message
    assert ".dockerignore" in error.fix and "chmod" in error.fix
    assert error.anchor == "build-fails"


def test_an_unreadable_file_that_is_excluded_is_never_opened(tmp_path, monkeypatch):
    root = make_tree(tmp_path, "**/*.key\n")
    (root / "docs" / "secret.key").write_text("k")
    monkeypatch.setattr(context_tar, "open", refuse("secret.key"), raising=False)
    with tarfile.open(fileobj=context_tar.tar(root, "FROM scratch\n")) as archive:
        assert "docs/x.txt" in archive.getnames()


def test_a_file_or_folder_removed_while_the_context_is_packed_is_left_out(tmp_path,
                                                                          monkeypatch):
    """An editor's temporary file can vanish between listing its folder and reading it
    (inv dev packs while you type): the build goes on without it, as Docker's walk does."""
    root = make_tree(tmp_path)
    (root / ".main.go.swp").write_text("swap")
    (root / "tmpdir").mkdir()
    real_open, real_scandir = open, os.scandir

    def vanishing_open(path, *args, **kw):
        if os.fspath(path).endswith(".main.go.swp"):
            raise FileNotFoundError(2, "No such file or directory", os.fspath(path))
        return real_open(path, *args, **kw)

    def vanishing_scandir(path):
        if os.fspath(path).endswith("/tmpdir"):
            raise FileNotFoundError(2, "No such file or directory", os.fspath(path))
        return real_scandir(path)
    monkeypatch.setattr(context_tar, "open", vanishing_open, raising=False)
    monkeypatch.setattr(context_tar.os, "scandir", vanishing_scandir)
    with tarfile.open(fileobj=context_tar.tar(root, "FROM scratch\n")) as archive:
        names = archive.getnames()
    assert ".main.go.swp" not in names
    assert "docs/x.txt" in names


def test_an_unreadable_directory_is_a_build_failure(tmp_path, monkeypatch):
    root = make_tree(tmp_path)
    real = os.scandir

    def fake_scandir(path):
        if os.fspath(path).endswith("/docs"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)
    monkeypatch.setattr(context_tar.os, "scandir", fake_scandir)
    with pytest.raises(OpsError) as caught:
        context_tar.context_paths(root)
    assert "cannot read docs " in caught.value.message


def test_packing_the_projects_context_never_imports_docker_py():
    code = ("import sys; from ops.image import context_tar; "
            "context_tar.tar('app', 'FROM scratch\\n').read(); print('docker' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    assert proc.stdout.strip() == "False"


def test_the_projects_context_packs_what_its_dockerignore_allows():
    paths = context_tar.context_paths(ROOT / "app")
    assert "main.go" in paths and "assets/" in paths
    assert "README.md" not in paths and not any(p.startswith(".git") for p in paths)


# --- what the context never carries -----------------------------------------------------

PATTERNS = st.lists(st.sampled_from(["*", "!*", ".env", "!.env", "**", "!**/.env", ".git",
                                     "!.git", "!.git/**", "*.go", "!main.go", "app.env",
                                     "!app.env", "**/*.env"]), max_size=5)


@settings(max_examples=60, deadline=None)
@given(patterns=PATTERNS, dockerignore=st.booleans())
def test_the_env_file_and_git_never_reach_the_engine_whatever_dockerignore_says(
        tmp_path_factory, patterns, dockerignore):
    import tarfile

    from ops.image import context_tar as tars
    from ops.settings.config import Settings

    root = tmp_path_factory.mktemp("checkout")
    app = root / "app"
    (app / ".git" / "objects").mkdir(parents=True)
    (app / ".git" / "config").write_text("[core]\n")
    (app / ".env").write_text("DB_PASSWORD=canary\n")
    (app / "main.go").write_text("package main\n")
    if dockerignore:
        (app / ".dockerignore").write_text("\n".join(patterns) + "\n")
    settings = Settings(root=root, context="app")
    assert tars.left_out(settings) == [".git", ".env"]
    packed = tars.tar(app, "FROM scratch\n", leave_out=tars.left_out(settings))
    names = tarfile.open(fileobj=packed).getnames()
    assert not [n for n in names if n == ".env" or n == ".git" or n.startswith(".git/")]


def test_a_profile_env_file_inside_the_context_is_left_out_by_its_own_name(tmp_path):
    from ops.image import context_tar as tars
    from ops.settings.config import App, Settings

    (tmp_path / "svc" / "conf").mkdir(parents=True)
    (tmp_path / "svc" / "conf" / "prod.env").write_text("X=1\n")
    settings = Settings(root=tmp_path, context="svc", app=App(env_file="svc/conf/prod.env"))
    assert tars.left_out(settings) == ["conf/prod.env"]


def test_the_apps_own_env_is_left_out_even_when_the_profile_names_a_file_elsewhere(tmp_path):
    from ops.image import context_tar as tars
    from ops.settings.config import App, Settings

    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / ".env").write_text("DB_PASSWORD=x\n")
    settings = Settings(root=tmp_path, context="svc", app=App(env_file="/etc/tasky/prod.env"))
    assert tars.left_out(settings) == [".env"]


def test_a_full_tmpdir_while_the_context_is_spooled_is_one_line_naming_the_filesystem(
        tmp_path, monkeypatch):
    import errno
    import io
    import tempfile

    from ops.image import context_tar as tars

    class Full(io.BytesIO):   # the spooled tar's disk filling up past 1 KB
        def __init__(self, max_size=0):
            super().__init__()

        def write(self, data):
            if self.tell() + len(data) > 1024:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", Full)
    (tmp_path / "big.bin").write_bytes(b"x" * 8192)
    with pytest.raises(OpsError) as caught:
        tars.tar(tmp_path, "FROM scratch\n")
    said = caught.value.message
    assert "build context (no space left): filesystem" in said and "free" in said
    assert caught.value.anchor == "file-not-written"
