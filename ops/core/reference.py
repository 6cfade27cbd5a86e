"""Docker's reference grammar (distribution/reference), the one place a repository, a tag or a
digest is checked: build, push, promote, rollback, images and the settings all use it, before
any work, so a typo costs nothing.

Each check takes the value and where it came from (--tag, INVOKE_TASKY_IMAGE, invoke.yaml
line N) and returns it unchanged, or raises the one-line refusal naming both.
"""
import re

from ops.core.errors import OpsError, example, refuse

# A tag is at most 128 word characters, dots and dashes, not starting with a dot or dash.
TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
# A domain-like first part is allowed; the repository part must be lowercase.
REPOSITORY = re.compile(rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*")


def tag(value, source):
    if not isinstance(value, str) or not TAG.fullmatch(value):
        raise OpsError(f"invalid tag {value!r} ({source}): a tag is 1-128 letters, digits, '_', "
                       "'.' or '-', not starting with '.' or '-'",
                       fix=f"e.g. {example(source, 'v1.2.3')}", anchor="bad-tag")
    return value


def digest(value, source):
    if not isinstance(value, str) or not DIGEST.fullmatch(value):
        raise refuse(source, value, "sha256: and 64 lowercase hex digits, or a tag", "v1.2.3",
                     "bad-tag")
    return value


def tag_or_digest(value, source):
    if isinstance(value, str) and value.startswith("sha256:"):
        return digest(value, source)
    return tag(value, source)


def repository(value, source, host_allowed=True):
    ok = isinstance(value, str) and REPOSITORY.fullmatch(value) and len(value) <= 255
    if ok and not host_allowed and "/" in value:
        first = value.split("/")[0]
        ok = "." not in first and ":" not in first
    if not ok:
        raise refuse(source, value, "an image name: lowercase letters, digits and separators "
                     "(. _ - /)" + (", optionally after a registry host" if host_allowed else ""),
                     "tasky or team/tasky", "bad-tag" if source.startswith("--") else None)
    return value


def image(value, source):
    """An image reference NAME[:TAG] (the bases)."""
    name, tagged = split(value) if isinstance(value, str) else ("", "")
    if not (REPOSITORY.fullmatch(name) and TAG.fullmatch(tagged)):
        raise refuse(source, value, "an image reference NAME[:TAG] (lowercase name, optionally "
                     "after a registry host)", "golang:1.19")
    return value


def split(ref):
    """'host:5000/repo:tag' -> ('host:5000/repo', 'tag'); no tag -> 'latest'."""
    name, _, tagged = ref.rpartition(":")
    if not name or "/" in tagged:
        return ref, "latest"
    return name, tagged
