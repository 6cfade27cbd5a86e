"""The Docker CLI as the oracle for ops/image/context_tar, on the real engine.

For every .dockerignore of the unit table (tests/unit/test_buildcontext.py, over the same
tree), what `DOCKER_BUILDKIT=1 /usr/bin/docker build` copies with `FROM scratch` +
`COPY . /ctx/` must be what our tar carries. The CLI's copy is read from
`--output type=tar`: no image, no container. Our tar is then built by the engine as
`inv build` sends it (POST /build?version=2) and by the classic builder, and the
image's /ctx read back with `docker create` + `docker export`.
"""
import io
import json
import os
import shutil
import subprocess
import tarfile

import pytest

from ops.core.errors import OpsError
from ops.image import buildkit, context_tar
from tests.integration.helpers import IMAGE, docker_required
from tests.unit.test_buildcontext import CASES, make_tree

CLI = "/usr/bin/docker"
DOCKERFILE = "FROM scratch\nCOPY . /ctx/\n"
EXTRAS = {"Dockerfile", ".dockerignore"}
# The engine builds of our tar cost about 0.3 s each: a spread of the table is enough.
ENGINE_CASES = ("*.md", "! re-includes inside an excluded dir", "[a-c]*",
                "**/sub misses a/b/sub/x once a/b/sub is walked",
                "a reopened dir is sent even if empty", "everything")


@pytest.fixture(scope="module")
def cli(engine):
    if shutil.which(CLI) is None:
        if docker_required():
            pytest.fail(f"{CLI} (Debian's docker.io 20.10 CLI) is required here")
        pytest.skip(f"no {CLI}")
    return CLI


def listing(archive, prefix=""):
    """{path: "dir 755" | "file 644" | "link -> target"} under `prefix` (a hard link is a
    file: the CLI's tar and an export write them differently)."""
    found = {}
    for member in archive.getmembers():
        name = member.name[len(prefix):].rstrip("/")
        if not member.name.startswith(prefix) or not name:
            continue
        found[name] = (f"link -> {member.linkname}" if member.issym() else
                       f"{'dir' if member.isdir() else 'file'} {member.mode & 0o7777:o}")
    return found


def without(entries, *names):
    return {name: kind for name, kind in entries.items() if name not in names}


def cli_copies(tmp_path, context):
    out = tmp_path / "cli.tar"
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)   # outside the context
    proc = subprocess.run([CLI, "build", "-q", "-f", str(tmp_path / "Dockerfile"),
                           "--output", f"type=tar,dest={out}", str(context)],
                          env={**os.environ, "DOCKER_BUILDKIT": "1"}, capture_output=True,
                          text=True, timeout=120)
    if proc.returncode:
        return proc.stderr.strip().splitlines()[-1]
    with tarfile.open(out) as archive:
        return listing(archive, "ctx/")


def context(tmp_path, dockerignore):
    root = tmp_path / "ctx"
    root.mkdir()
    make_tree(root, dockerignore)
    (root / "docs" / "hard").hardlink_to(root / "a.md")
    (root / "out").symlink_to("/etc")   # the CLI sends the link, never /etc
    return root


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_our_tar_carries_what_the_docker_cli_copies(tmp_path, cli, case):
    root = context(tmp_path, case[0])
    copied = cli_copies(tmp_path, root)
    assert isinstance(copied, dict), copied
    assert {p.rstrip("/") for p in context_tar.context_paths(root)} == set(copied)
    with tarfile.open(fileobj=context_tar.tar(root, DOCKERFILE)) as archive:
        ours = listing(archive)
    # Ours also carries the Dockerfile and its own .dockerignore, whatever the patterns say.
    assert without(ours, *EXTRAS) == without(copied, ".dockerignore", "Dockerfile")
    assert EXTRAS <= set(ours)


@pytest.mark.parametrize("text, says", [("[a-\n", "syntax error in pattern"),
                                        ("docs\n!\n", "illegal exclusion pattern"),
                                        ("a(b\n", "syntax error in pattern"),
                                        ("*+\n", "syntax error in pattern")])
def test_what_the_cli_refuses_we_refuse(tmp_path, cli, text, says):
    root = context(tmp_path, text)
    refusal = cli_copies(tmp_path, root)
    assert isinstance(refusal, str) and says in refusal
    with pytest.raises(OpsError) as caught:
        context_tar.tar(root, DOCKERFILE)
    assert caught.value.anchor == "build-fails"


def built_copy(engine, fileobj, name, classic=False):
    """The /ctx of an image built from our tar, read back with create + export."""
    import docker

    tag = f"{IMAGE}-ctx-{name}"
    fileobj.seek(0)
    try:
        if classic:
            engine.images.build(fileobj=fileobj, custom_context=True, tag=tag, rm=True)
        else:
            packed = buildkit._recognisable(fileobj)   # the body inv build sends
            api = engine.api
            response = api._post(api._url("/build"), data=packed, stream=True,
                                 params={"t": [tag], "version": "2", "dockerfile": "Dockerfile"},
                                 headers={"Content-Type": "application/tar"})
            for item in api._stream_helper(response, decode=True):
                assert "error" not in item and "errorDetail" not in item, json.dumps(item)
        container = engine.containers.create(tag, command=["/never-run"], name=tag)
        try:
            exported = b"".join(container.export())
        finally:
            container.remove(force=True)
    finally:
        try:
            engine.images.remove(tag, force=True)
        except docker.errors.ImageNotFound:
            pass
    with tarfile.open(fileobj=io.BytesIO(exported)) as archive:
        return listing(archive, "ctx/")


@pytest.mark.parametrize("name", ENGINE_CASES)
def test_buildkit_copies_our_whole_tar(tmp_path, cli, engine, name):
    """BuildKit ignores a .dockerignore inside an uploaded tar (moby/buildkit and
    docker/cli#2827: it applies only to the CLI's own file transfer), so `COPY . .`
    also copies the Dockerfile and .dockerignore the tar carries: what the CLI copies,
    plus those two."""
    root = context(tmp_path, CASES[name][0])
    copied = cli_copies(tmp_path, root)
    packed = context_tar.tar(root, DOCKERFILE)
    with tarfile.open(fileobj=packed) as archive:
        ours = listing(archive)
    assert built_copy(engine, packed, f"bk{ENGINE_CASES.index(name)}") == ours
    assert set(ours) == set(without(copied, ".dockerignore")) | EXTRAS


def test_the_classic_builder_copies_neither_dockerfile_nor_dockerignore(tmp_path, cli, engine):
    root = context(tmp_path, CASES["! re-includes inside an excluded dir"][0])
    copied = cli_copies(tmp_path, root)
    assert built_copy(engine, context_tar.tar(root, DOCKERFILE), "classic", classic=True) \
        == without(copied, ".dockerignore")


def test_buildkit_reads_our_tar_without_gzip(tmp_path, cli, engine):
    """BuildKit takes a body for an archive only if the first 1024 bytes parse as a tar
    header: our Dockerfile goes first, so even a context whose first file has a long name
    (a GNU ././@LongLink record, which alone fails that sniff) needs no gzip."""
    root = context(tmp_path, None)
    long_name = "a" * 150 + ".txt"
    (root / long_name).write_text("long\n")
    packed = context_tar.tar(root, DOCKERFILE)
    with tarfile.open(fileobj=packed) as archive:
        ours = listing(archive)
    assert buildkit._recognisable(packed) is packed   # sent as it is, not gzipped
    copied = built_copy(engine, packed, "plain")
    assert copied == ours and long_name in copied


def test_buildkit_reads_a_tar_that_opens_with_a_pax_header_once_gzipped(tmp_path, engine):
    """A tar from elsewhere (Python's tarfile writes a PAX header for a fractional mtime)
    fails BuildKit's sniff as it is; _recognisable gzips it, and it builds."""
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in (("Dockerfile", DOCKERFILE.encode()), ("hello.txt", b"hi\n")):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1.5
            archive.addfile(info, io.BytesIO(data))
    assert packed.getvalue()[156:157] == b"x"   # a PAX header comes first
    assert buildkit._recognisable(packed).read(2) == b"\x1f\x8b"
    assert set(built_copy(engine, packed, "pax")) == {"Dockerfile", "hello.txt"}
