"""Docker's reference grammar, checked before any work so a typo costs nothing."""
import re

from ops.core.errors import OpsError

# From distribution/reference: a tag is at most 128 word characters, dots and dashes,
# not starting with a dot or dash.
TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
REPOSITORY = re.compile(rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*")


def check_tag(tag):
    if not TAG.fullmatch(tag or ""):
        raise OpsError(f"invalid tag {tag!r}: a tag is 1-128 letters, digits, '_', '.' or '-', "
                       "not starting with '.' or '-'",
                       fix="pick a tag like v1.2.3 or release-2024", anchor="bad-tag")
    return tag


def check_repository(name):
    # A domain-like first part is allowed; the repository part must be lowercase.
    if not REPOSITORY.fullmatch(name or "") or len(name) > 255:
        raise OpsError(f"invalid image name {name!r}: lowercase letters, digits and "
                       "separators (. _ - /), optionally after a registry host",
                       fix="set tasky.image in invoke.yaml (or INVOKE_TASKY_IMAGE) to a name "
                           "like tasky or registry.example:5000/team/tasky", anchor="bad-tag")
    return name


def split(ref):
    """'host:5000/repo:tag' -> ('host:5000/repo', 'tag'); no tag -> 'latest'."""
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag:
        return ref, "latest"
    return name, tag
