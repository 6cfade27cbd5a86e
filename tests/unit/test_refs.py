"""Docker's reference grammar: a typo in a tag or image name fails before any work."""
import pytest

from ops.core import reference
from ops.core.errors import OpsError


@pytest.mark.parametrize("tag", ["latest", "v1.2.3", "a_b-c.d", "1", "_x", "A" * 128,
                                 "Release-2024.01_rc1"])
def test_check_tag_accepts_valid_tags(tag):
    assert reference.tag(tag, "--tag") == tag


@pytest.mark.parametrize("tag", ["", None, "-x", ".x", "a" * 129, "a/b", "a:b", "bad tag",
                                 " lead", "trail ", "tab\there", "caf\u00e9", "\u00e9t\u00e9",
                                 "v1\n", "a@b", "a+b"])
def test_check_tag_rejects_invalid_tags_naming_them(tag):
    with pytest.raises(OpsError) as caught:
        reference.tag(tag, "--tag")
    error = caught.value
    assert error.anchor == "bad-tag"
    assert repr(tag) in error.message
    assert error.fix  # the user is told what a good tag looks like
    assert "RUNBOOK.md#bad-tag" in error.line()


@pytest.mark.parametrize("name", ["tasky", "team/tasky", "localhost:5000/tasky",
                                  "registry.example.com/a/b", "a.b_c__d-e/f---g",
                                  "Registry.Example.com:443/team/tasky", "[::1]:5000/tasky"])
def test_check_repository_accepts_docker_names(name):
    assert reference.repository(name, "--image") == name


@pytest.mark.parametrize("name", ["Tasky", "team/Tasky", "a//b", "tasky:", "-x", "", None,
                                  "tasky/", "/tasky", "tasky:latest", "a b", "a_", "host:port/x",
                                  "a" * 256])
def test_check_repository_rejects_bad_names_naming_them(name):
    with pytest.raises(OpsError) as caught:
        reference.repository(name, "--image")
    assert caught.value.anchor == "bad-tag"
    assert repr(name) in caught.value.message


@pytest.mark.parametrize("ref, expected", [
    ("tasky:v1", ("tasky", "v1")),
    ("tasky", ("tasky", "latest")),
    ("team/tasky:abc1234-dirty", ("team/tasky", "abc1234-dirty")),
    ("localhost:5000/tasky", ("localhost:5000/tasky", "latest")),
    ("localhost:5000/tasky:v2", ("localhost:5000/tasky", "v2")),
    ("registry.example.com/a/b:1.0", ("registry.example.com/a/b", "1.0")),
])
def test_split_separates_name_and_tag_defaulting_to_latest(ref, expected):
    assert reference.split(ref) == expected


def test_split_round_trips_with_the_tag():
    for name in ["tasky", "localhost:5000/team/tasky"]:
        for tag in ["latest", "v1.2.3", "abc1234-dirty"]:
            assert reference.split(f"{name}:{tag}") == (name, tag)
