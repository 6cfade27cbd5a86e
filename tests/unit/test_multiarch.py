"""Multi-arch's pure parts: the platform grammar, the per-platform tags, the index's bytes,
the ELF reading verify relies on, and naming a missing base for what it is."""
import io
import json
import tarfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ops.core import platforms
from ops.core.errors import OpsError
from ops.gates import verify
from ops.image import docker_build, platform_images
from ops.registry import image_index

KNOWN = [f"linux/{arch}" for arch in platforms.ARCHITECTURES]


@given(st.text(max_size=30))
def test_a_platform_is_checked_or_refused_in_one_line(text):
    try:
        checked = platforms.platform(text, "--platform")
    except OpsError as error:
        assert error.anchor == "multi-arch" and "\n" not in error.message
        assert "--platform" in error.message
    else:
        assert checked in KNOWN
        assert platforms.platform(checked, "again") == checked   # canonical is a fixed point


@given(st.lists(st.sampled_from(KNOWN + ["LINUX/ARM64", "linux/arm64/v8", " linux/amd64 "]),
                max_size=8))
def test_a_platform_list_keeps_each_once_in_the_order_given(items):
    chosen = platforms.platforms(",".join(items), "--platform")
    assert len(chosen) == len(set(chosen))
    assert list(chosen) == list(dict.fromkeys(platforms.platform(i, "") for i in items))
    assert platforms.platforms(items, "tasky.platforms") == chosen   # a list reads the same


def test_each_architecture_has_its_other_names():
    arm64 = platforms.platform("linux/arm64", "x")
    assert (arm64.debian, arm64.machine, arm64.qemu, arm64.suffix) == \
        ("arm64", "aarch64", "aarch64", "-linux-arm64")
    armv7 = platforms.platform("linux/arm/v7", "x")
    assert (armv7.architecture, armv7.variant, armv7.debian, armv7.suffix) == \
        ("arm", "v7", "armhf", "-linux-arm-v7")
    assert platforms.of_machine("x86_64") == "linux/amd64"
    assert platforms.of_machine("aarch64") == "linux/arm64"
    with pytest.raises(OpsError):
        platforms.of_machine("riscv64")


@given(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", fullmatch=True),
       st.sampled_from(KNOWN))
def test_a_platform_tag_is_a_valid_tag_or_refused_before_the_build(tag, platform):
    platform = platforms.platform(platform, "x")
    try:
        made = platform_images.local_tag(tag, platform)
    except OpsError as error:
        assert len(tag + platform.suffix) > 128 and "shorten the tag" in error.message
    else:
        assert made == tag + platform.suffix and len(made) <= 128


descriptors = st.lists(st.fixed_dictionaries({
    "mediaType": st.sampled_from(["application/vnd.docker.distribution.manifest.v2+json",
                                  "application/vnd.oci.image.manifest.v1+json"]),
    "digest": st.from_regex(r"sha256:[0-9a-f]{64}", fullmatch=True),
    "size": st.integers(min_value=1, max_value=10**6),
    "platform": st.fixed_dictionaries({"architecture": st.sampled_from(["amd64", "arm64"]),
                                       "os": st.just("linux")})}), min_size=1, max_size=4)


@given(descriptors)
def test_the_index_bytes_depend_only_on_its_manifests(entries):
    body = image_index.index_document(entries)
    again = image_index.index_document(json.loads(json.dumps(entries)))
    assert body == again   # same images pushed again: same digest, "already there"
    document = json.loads(body)
    assert document["mediaType"] == image_index.INDEX and document["schemaVersion"] == 2
    assert document["manifests"] == entries


class Archive:
    """A container whose get_archive serves one file, as the engine's archive API does."""

    def __init__(self, files):
        self.files = files

    def get_archive(self, path):
        import docker

        if path not in self.files:
            raise docker.errors.NotFound("no such file")
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tar:
            info = tarfile.TarInfo(path.rsplit("/", 1)[-1])
            info.size = len(self.files[path])
            tar.addfile(info, io.BytesIO(self.files[path]))
        return [data.getvalue()], {}


class Image:
    def __init__(self, entrypoint, arch="arm64"):
        self.attrs = {"Config": {"Entrypoint": entrypoint}, "Os": "linux", "Architecture": arch}


def elf(machine):
    return b"\x7fELF\x02\x01\x01" + b"\0" * 11 + machine.to_bytes(2, "little") + b"\0" * 40


@pytest.mark.parametrize("machine, arch", [(0xB7, "arm64"), (0x3E, "amd64"), (0x28, "arm")])
def test_verify_reads_the_entrypoint_binary_architecture(machine, arch):
    container = Archive({"/srv/app": elf(machine)})
    assert verify.binary_architecture(container, Image(["/srv/app"])) == ("/srv/app", arch)


def test_an_image_whose_binary_is_not_its_platform_fails_verify():
    rows = verify.platform_rows(Archive({"/app/tasky": elf(0x3E)}), Image(["/app/tasky"]),
                                platforms.platform("linux/arm64", "x"))
    assert [row["passed"] for row in rows] == [True, False]   # labelled arm64, amd64 inside
    assert rows[1]["actual"] == "amd64"
    missing = verify.platform_rows(Archive({}), Image(["/app/tasky"]),
                                   platforms.platform("linux/arm64", "x"))
    assert missing[1]["actual"] == "not found" and not missing[1]["passed"]


def test_a_missing_base_for_a_platform_is_named_as_that_not_as_a_module_proxy():
    said = OpsError("build failed at [internal] load metadata for docker.io/tasky-ops/alpine:"
                    "3.17.0-busybox-linux-arm64: failed to do request: Head \"https://"
                    "registry-1.docker.io/v2/tasky-ops/alpine/manifests/3.17.0-busybox-linux-"
                    "arm64\": dial tcp: lookup registry-1.docker.io: no such host",
                    fix="", anchor="build-fails")
    named = docker_build.base_failure(said, platforms.platform("linux/arm64", "x"))
    assert named.anchor == "base-image-unavailable"
    assert "inv bases --platform linux/arm64" in named.fix
    go = OpsError("build failed at [build 4/6] RUN go mod download: exit code: 1", fix="",
                  anchor="build-fails")
    assert docker_build.base_failure(go, None) is None
