"""What git says about the tree being built: the SHA that names the image."""
import dataclasses
import subprocess

from ops.core.errors import OpsError


@dataclasses.dataclass(frozen=True)
class GitInfo:
    sha: str          # full commit SHA
    short: str        # the tag the document uses: git rev-parse --short HEAD
    dirty: bool       # uncommitted or untracked changes: the image is not that commit
    describe: str     # git describe --tags --always --dirty
    committed: str = "unknown"   # the commit's time: a CREATED label stable across rebuilds

    @property
    def tag(self):
        return self.short + ("-dirty" if self.dirty else "")


def _git(root, *args):
    """git started, not awaited: read() runs its three questions side by side."""
    try:
        return subprocess.Popen(["git", "-C", str(root), *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    except FileNotFoundError as exc:
        raise OpsError("git is not installed", fix="install git (apt-get install git)",
                       anchor="not-a-git-repository") from exc


def read(root):
    """GitInfo for the repository at root, or an OpsError when there is no commit to name."""
    return PendingGitInfo(root).answer()


class PendingGitInfo:
    """git's three questions about root, running: answer() waits for them. `inv build`
    asks first and answers when it makes the build args, so git runs meanwhile."""

    def __init__(self, root):
        self.root = root
        self.procs = [_git(root, "log", "-1", "--format=%H%n%h%n%cI"),
                      _git(root, "status", "--porcelain"),
                      _git(root, "describe", "--tags", "--always", "--dirty")]

    def answer(self):
        (head, head_err), (status, _), (describe, _) = [p.communicate() for p in self.procs]
        if self.procs[0].returncode != 0:
            reason = head_err.strip().splitlines()[-1] if head_err.strip() else "no HEAD"
            if "not a git repository" in head_err:
                what = f"{self.root} is not a git repository"
            else:
                what = f"git cannot name a commit in {self.root} ({reason})"
            raise OpsError(what + ": images are tagged by git SHA",
                           fix="run from a clone of the project with at least one commit "
                               "(git init && git add -A && git commit), or pass --tag",
                           anchor="not-a-git-repository")
        sha, short, committed = head.split()
        dirty = bool(status.strip())
        describe = describe.strip() or short
        if dirty and not describe.endswith("-dirty"):
            describe += "-dirty"  # untracked files change the image too
        return GitInfo(sha=sha, short=short, dirty=dirty, describe=describe,
                       committed=committed)
