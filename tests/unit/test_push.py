"""Push logic that needs no registry: tag choice, token reuse, stream reading, error mapping."""
import datetime

import pytest

from ops.core.errors import OpsError
from ops.image.gitinfo import GitInfo
from ops.registry import ecr, push, target

UTC = datetime.timezone.utc
CLEAN = GitInfo(sha="a" * 40, short="abc1234", dirty=False, describe="v1.0")
DIRTY = GitInfo(sha="a" * 40, short="abc1234", dirty=True, describe="v1.0-dirty")
TARGET = target.Target("reg.example:5000", "tasky", None, "IMMUTABLE")


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def token(expires):
    return ecr.Token(username="AWS", password="pw", endpoint="https://1.dkr", expires_at=expires)


@pytest.mark.parametrize("flag, git, expected", [
    (None, CLEAN, "latest"), (True, CLEAN, "abc1234"), (True, DIRTY, "abc1234-dirty"),
    ("v1.2.3", CLEAN, "v1.2.3")])
def test_tag_choice(flag, git, expected):
    assert push.choose_tag(git, flag) == expected


def test_tag_value_is_validated_at_the_boundary():
    from ops.core import reference

    with pytest.raises(OpsError) as caught:
        reference.tag("no good", "--tag")
    assert caught.value.anchor == "bad-tag"


def test_dirty_tag_refused_unless_allowed():
    with pytest.raises(OpsError) as caught:
        push.refuse_dirty("abc1234-dirty", allow_dirty=False)
    assert caught.value.anchor == "dirty-tag" and "--allow-dirty" in caught.value.fix
    push.refuse_dirty("abc1234-dirty", allow_dirty=True)
    push.refuse_dirty("abc1234", allow_dirty=False)


def test_token_reused_only_while_more_than_ten_minutes_remain():
    start = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    clock = Clock(start)
    issued = []

    def fetch():
        issued.append(token(clock.now + datetime.timedelta(hours=12)))
        return issued[-1]

    cache = ecr.TokenCache(fetch, clock=clock)
    first = cache.get()
    clock.now = start + datetime.timedelta(hours=11, minutes=49)
    assert cache.get() is first and cache.fetches == 1       # 11 minutes left: reuse
    clock.now = start + datetime.timedelta(hours=11, minutes=50, seconds=1)
    assert cache.get() is not first and cache.fetches == 2   # under 10 minutes: fetch anew


def test_an_already_expired_token_is_never_reused():
    clock = Clock(datetime.datetime(2026, 1, 1, tzinfo=UTC))
    cache = ecr.TokenCache(lambda: token(datetime.datetime(2015, 1, 1, tzinfo=UTC)), clock=clock)
    cache.get()
    cache.get()
    assert cache.fetches == 2


def test_token_repr_hides_the_password():
    assert "pw" not in repr(token(None)).replace("password", "")


@pytest.mark.parametrize("message, transient, anchor", [
    ("unauthorized: authentication required", False, "push-denied"),
    ("no basic auth credentials", False, "push-denied"),
    ("denied: User: arn:aws:iam::1:user/x is not authorized to perform: ecr:InitiateLayerUpload",
     False, "push-denied"),
    ("denied: Your authorization token has expired. Reauthenticate and try again.", False,
     "token-expired"),
    ("name unknown: The repository with name 'tasky' does not exist in the registry", False,
     "ecr-repository-missing"),
    ("tag invalid: The image tag 'v1' already exists in the 'tasky' repository and cannot be "
     "overwritten because the repository is immutable.", False, "immutable-tag"),
    ("Put \"http://reg/v2/x/blobs/uploads/\": dial tcp 127.0.0.1:5000: connect: connection "
     "refused", True, "registry-unreachable"),
    ("read tcp 127.0.0.1:1->127.0.0.1:5000: read: connection reset by peer", True,
     "registry-unreachable"),
    ("received unexpected HTTP status: 503 Service Unavailable", True, "registry-unreachable"),
    ("something nobody has seen", False, "push-denied"),
])
def test_push_errors_are_classified(message, transient, anchor):
    is_transient, error = push.classify(message, TARGET, "v1")
    assert (is_transient, error.anchor) == (transient, anchor)
    assert error.fix


def test_follow_reads_digest_and_layer_states():
    stream = [
        {"status": "The push refers to repository [reg/tasky]"},
        {"status": "Preparing", "id": "aaa"}, {"status": "Preparing", "id": "bbb"},
        {"status": "Pushing", "id": "aaa", "progressDetail": {"current": 3_000_000,
                                                             "total": 6_000_000}},
        {"status": "Pushed", "id": "aaa"}, {"status": "Layer already exists", "id": "bbb"},
        {"status": "v1: digest: sha256:abc size: 1"},
        {"progressDetail": {}, "aux": {"Tag": "v1", "Digest": "sha256:abc", "Size": 1}},
    ]
    lines = []
    digest, states, error = push.follow(stream, lines.append)
    assert (digest, error) == ("sha256:abc", None)
    assert states == {"aaa": "Pushed", "bbb": "Layer already exists"}
    assert "push: layer aaa  50% of 6.0 MB" in lines
    assert "push: layer bbb layer already exists" in lines


def test_follow_returns_the_error_text_instead_of_raising():
    stream = [{"status": "Preparing", "id": "aaa"},
              {"errorDetail": {"message": "unauthorized: authentication required"},
               "error": "unauthorized: authentication required"}]
    digest, _, error = push.follow(stream, lambda line: None)
    assert digest is None and error == "unauthorized: authentication required"


def test_unknown_registry_kind_is_a_flag_error():
    from ops.settings import validate

    with pytest.raises(OpsError) as caught:
        validate.choice("dockerhub", "--registry", target.KINDS)
    assert caught.value.anchor == "bad-flag"
