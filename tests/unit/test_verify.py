"""`inv verify`'s checks that need no engine: what Kubernetes makes of the image's USER."""
import pytest

from ops.gates.verify import run_as_non_root


@pytest.mark.parametrize("user, said, admitted", [
    ("10001:10001", "USER 10001:10001", True),
    ("10001", "USER 10001", True),
    ("appuser", "USER appuser: a name, cannot verify user is non-root", False),
    ("appuser:appgroup", "USER appuser:appgroup: a name, cannot verify user is non-root", False),
    ("0", "USER 0: root", False),
    ("0:10001", "USER 0:10001: root", False),
    ("", "no USER: runs as root", False),
    (None, "no USER: runs as root", False),
])
def test_run_as_non_root_admits_only_a_numeric_user_other_than_0(user, said, admitted):
    assert run_as_non_root(user) == (said, admitted)
