"""The git SHA that names the image, read from real repositories made in tmp_path."""
import pytest

from ops.core.errors import OpsError
from ops.image import gitinfo
from tests.unit.unit_support import git


def test_not_a_repository_is_a_clear_error(git_env, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(OpsError) as caught:
        gitinfo.read(plain)
    assert caught.value.anchor == "not-a-git-repository"
    assert str(plain) in caught.value.message
    assert "not a git repository" in caught.value.message


def test_missing_directory_is_a_clear_error(git_env, tmp_path):
    with pytest.raises(OpsError) as caught:
        gitinfo.read(tmp_path / "does-not-exist")
    assert caught.value.anchor == "not-a-git-repository"


def test_repository_without_commits_is_a_clear_error(empty_repo):
    with pytest.raises(OpsError) as caught:
        gitinfo.read(empty_repo)
    assert caught.value.anchor == "not-a-git-repository"
    assert str(empty_repo) in caught.value.message
    assert "commit" in caught.value.fix


def test_clean_repository_is_named_by_its_short_sha(git_repo):
    info = gitinfo.read(git_repo)
    assert info.sha == git(git_repo, "rev-parse", "HEAD")
    assert info.short == git(git_repo, "rev-parse", "--short", "HEAD")
    assert info.sha.startswith(info.short)
    assert info.dirty is False
    assert info.tag == info.short
    assert info.describe == info.short  # no tags: describe --always falls back to the sha


def test_modified_tracked_file_makes_the_tree_dirty(git_repo):
    (git_repo / "main.go").write_text("package main // changed\n")
    info = gitinfo.read(git_repo)
    assert info.dirty is True
    assert info.tag == info.short + "-dirty"
    assert info.describe.endswith("-dirty")
    assert info.describe.startswith(info.short)


def test_staged_change_makes_the_tree_dirty(git_repo):
    (git_repo / "store.go").write_text("package main\n")
    git(git_repo, "add", "store.go")
    assert gitinfo.read(git_repo).dirty is True


def test_untracked_file_makes_the_tree_dirty(git_repo):
    (git_repo / "new.txt").write_text("not committed\n")
    info = gitinfo.read(git_repo)
    assert info.dirty is True
    assert info.tag.endswith("-dirty")
    assert info.describe.endswith("-dirty")  # git describe alone ignores untracked files
    assert info.describe.count("-dirty") == 1


def test_describe_uses_the_git_tag(git_repo):
    git(git_repo, "tag", "v1.0")
    info = gitinfo.read(git_repo)
    assert info.describe == "v1.0"
    assert info.tag == info.short  # the image tag stays the sha


def test_describe_counts_commits_after_the_tag(git_repo):
    git(git_repo, "tag", "v1.0")
    (git_repo / "main.go").write_text("package main // two\n")
    git(git_repo, "commit", "-q", "-am", "second")
    info = gitinfo.read(git_repo)
    assert info.describe.startswith("v1.0-1-g")
    assert info.sha.startswith(info.describe.rsplit("-g", 1)[1])


def test_dirty_tagged_tree_describes_as_dirty(git_repo):
    git(git_repo, "tag", "v1.0")
    (git_repo / "main.go").write_text("package main // changed\n")
    assert gitinfo.read(git_repo).describe == "v1.0-dirty"


def test_ignored_files_do_not_make_the_tree_dirty(git_repo):
    (git_repo / ".gitignore").write_text("build/\n")
    git(git_repo, "add", ".gitignore")
    git(git_repo, "commit", "-q", "-m", "ignore build")
    (git_repo / "build").mkdir()
    (git_repo / "build" / "out.bin").write_text("artefact\n")
    assert gitinfo.read(git_repo).dirty is False


def test_missing_git_binary_is_a_clear_error(git_repo, monkeypatch):
    monkeypatch.setenv("PATH", str(git_repo))  # a PATH where no git can be found
    with pytest.raises(OpsError) as caught:
        gitinfo.read(git_repo)
    assert "git is not installed" in caught.value.message
