"""Where a push or a tag move goes: the registry kind, its host, credentials and tag rules.

Shared by push, promote, rollback and `inv images`, so none of them reaches into another.
"""
from ops.core.errors import OpsError
from ops.registry import ecr, http_api


class Target:
    """Where a push goes: host, repository, credentials and the tag rules there."""

    def __init__(self, host, repository, auth, mutability, created=False):
        self.host, self.repository, self.auth = host, repository, auth
        self.mutability, self.created = mutability, created

    @property
    def remote(self):
        return f"{self.host}/{self.repository}"


# The registries a task can talk to (--registry): ECR, or the plain one `inv registry` runs.
KINDS = ("ecr", "local")


def resolve_target(settings, registry_kind, create_repo, tokens):
    if registry_kind == "local":
        return Target(settings.ecr.local_registry, settings.ecr.repository, None, "MUTABLE")
    repo = ecr.repository(settings, create=create_repo)
    token = tokens.get()
    return Target(ecr.push_host(settings, repo["uri"].split("/", 1)[0])[0],
                  settings.ecr.repository,
                  token.auth_config(), repo["mutability"], repo["created"])


def preflight(settings, registry_kind, create_repo, tokens):
    """What `release` checks before minutes of building: the repository exists (or will be
    created), the credentials give a token, and the registry accepts it. Creates nothing."""
    if registry_kind == "local":
        host = settings.ecr.local_registry
        http_api.check_login(host, None)
        return f"{host}/{settings.ecr.repository} answers"
    try:
        repo = ecr.repository(settings, create=False)
        host, state = ecr.push_host(settings, repo["uri"].split("/", 1)[0])[0], "exists"
    except OpsError as error:
        if error.anchor != "ecr-repository-missing" or not create_repo:
            raise
        host, state = None, "missing: --create-repo creates it at push time"
    token = tokens.get()
    host = host or ecr.push_host(settings, token.endpoint.split("//")[-1].rstrip("/"))[0]
    http_api.check_login(host, token.auth_config())
    return f"{host}/{settings.ecr.repository} {state}; token accepted"


def site(settings, registry_kind, tokens=None):
    """Where the manifests live: ECR's registry host with a fresh token, or the local one."""
    tokens = tokens or ecr.TokenCache(lambda: ecr.fetch_token(settings))
    return resolve_target(settings, registry_kind, False, tokens)
