"""`inv doctor`'s registry rows: whose registry, which IAM action is missing, the CLI's config.

- The registry host names an account and a region (ACCOUNT.dkr.ecr.REGION.amazonaws.com);
  a token from another region is refused with a bare 401, another account needs a
  repository policy. Both are compared with the STS identity and the configured region.
- Read-only ECR calls probe the permissions; an AccessDenied names its action (parsed from
  the message, whatever the error code) and the row lists what push and promote need.
  Write actions are never probed: that would write.
- The docker CLI's config (DOCKER_CONFIG or ~/.docker): an `auths` entry for the registry
  that the registry rejects (a token older than 12 h), or a credsStore / credHelper that
  answers instead. Entries are named by host; no credential is printed.
"""
import base64
import re

from ops.core.errors import OpsError
from ops.doctor.rows import row
from ops.registry import ecr, http_api, login

TIMEOUT = 2.0
ECR_HOST = re.compile(r"^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
DENIED = re.compile(r"not authorized to perform:?\s*([a-z0-9-]+:[A-Za-z0-9]+)")
PUSH_ACTIONS = ["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability",
                "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload",
                "ecr:PutImage"]
PROMOTE_ACTIONS = ["ecr:BatchGetImage", "ecr:PutImage"]
PROBE_TAG = "tasky-ops-doctor-probe"   # looked up, never written
PROBE_LAYER = "sha256:" + "0" * 64


def host_parts(host):
    """(account, region) of an ECR registry host, or (None, None) for any other registry."""
    match = ECR_HOST.match(host or "")
    return (match.group(1), match.group(2)) if match else (None, None)


def denied_action(message):
    """The IAM action an AccessDenied message names ('ecr:PutImage'), or None."""
    match = DENIED.search(message or "")
    return match.group(1) if match else None


def identity_rows(settings, identity, host, source):
    """Registry host account/region against the STS account and the configured region."""
    account, region = host_parts(host)
    configured = settings.ecr.resolved_region
    if account is None:
        return [row("registry", "registry host", "ok", f"{host} ({source}) is not an ECR host: "
                    "account and region are not compared")]
    rows = []
    if account != identity["Account"]:
        rows.append(row("registry", "registry account", "warn", f"{host} ({source}) belongs to "
                        f"account {account}; the credentials are account {identity['Account']}",
                        f"use credentials of account {account}, or give account "
                        f"{identity['Account']} a repository policy there (or fix {source})",
                        anchor="registry-mismatch"))
    else:
        rows.append(row("registry", "registry account", "ok", f"{account}, as the credentials"))
    if region != configured:
        rows.append(row("registry", "registry region", "fail", f"{host} ({source}) is in "
                        f"{region}; tokens are fetched in {configured}, and a registry refuses "
                        "another region's token with HTTP 401", f"export AWS_REGION={region} "
                        f"(or --region {region}), or fix {source}", anchor="registry-mismatch"))
    else:
        rows.append(row("registry", "registry region", "ok", f"{region}, as configured"))
    return rows


UNANSWERED = "unanswered"


def probe(settings, client, method, **kwargs):
    """None when the call is allowed, UNANSWERED when the service failed, else the AwsError."""
    try:
        ecr.call(settings, method, api=client, **kwargs)
        return None
    except ecr.AwsError as error:
        if error.code in ("RepositoryNotFoundException", "ImageNotFoundException"):
            return None    # allowed to ask; the answer is about the data
        if error.status >= 500:
            return UNANSWERED   # says nothing about the permission
        return error


def permission_rows(settings, client):
    name = settings.ecr.repository
    probes = [("ecr:GetAuthorizationToken", "get_authorization_token", {}),
              ("ecr:DescribeRepositories", "describe_repositories", {"repositoryNames": [name]}),
              ("ecr:DescribeImages", "describe_images", {"repositoryName": name,
                                                         "maxResults": 1}),
              ("ecr:BatchGetImage", "batch_get_image", {
                  "repositoryName": name, "imageIds": [{"imageTag": PROBE_TAG}]}),
              ("ecr:BatchCheckLayerAvailability", "batch_check_layer_availability", {
                  "repositoryName": name, "layerDigests": [PROBE_LAYER]})]
    missing, other, unanswered = [], [], []
    for action, method, kwargs in probes:
        error = probe(settings, client, method, **kwargs)
        if error is None:
            continue
        if error is UNANSWERED:
            unanswered.append(action)
            continue
        named = denied_action(error.reply)
        if named or "AccessDenied" in error.code or "AccessDenied" in error.reply:
            missing.append(named or action)
        else:
            other.append(error)
    if missing:
        return [row("registry", "IAM permissions", "fail", "denied: " + ", ".join(missing),
                    f"grant {', '.join(missing)}; push needs {', '.join(PUSH_ACTIONS)}; "
                    f"promote and rollback also {', '.join(PROMOTE_ACTIONS)}",
                    anchor="push-denied")]
    if other:
        return [row("registry", "IAM permissions", "fail", other[0].message, other[0].fix,
                    other[0].anchor)]
    asked = len(probes) - len(unanswered)
    return [row("registry", "IAM permissions", "ok", f"{asked} read-only ECR calls allowed"
                + (f" ({', '.join(unanswered)}: the service failed, not checked)"
                   if unanswered else "")
                + "; InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload and PutImage "
                "are not probed (they write)")]


def docker_config_rows(host, path=None):
    """The docker CLI's view of host: helpers that answer for it, a stored token it rejects."""
    path = path or login.docker_config_path()
    if not path.exists():
        return [row("registry", "docker config", "ok", f"no {path}: inv push and promote "
                    "need none")]
    try:
        config = login.read_docker_config(path)   # a FIFO, a list, bad JSON: one line each
    except OpsError as error:
        return [row("registry", "docker config", "fail", f"{error.message}: the docker CLI "
                    "fails on every command", error.fix, anchor="docker-config")]
    helper = (config.get("credHelpers") or {}).get(host)
    store = config.get("credsStore")
    entry = (config.get("auths") or {}).get(host)
    rows = []
    if helper or store:
        which = f"credHelpers[{host}] = {helper}" if helper else f"credsStore = {store}"
        shadowed = " and hides the `auths` entry for it" if entry and entry.get("auth") else ""
        rows.append(row("registry", "docker config", "warn", f"{path}: {which} answers the docker "
                        f"CLI for {host}{shadowed}; inv push does not use it (it passes its own "
                        "token)", "for the CLI: inv login --docker-config stores through that "
                        "helper; or remove the line", anchor="docker-config"))
    if entry and entry.get("auth"):
        rows.append(stored_token_row(host, path, entry["auth"], shadowed=bool(helper or store)))
    if not rows:
        rows.append(row("registry", "docker config", "ok", f"{path} has no entry for {host}"))
    return rows


def stored_token_row(host, path, auth, shadowed):
    """Does the registry still accept the stored pair? Asked, never printed."""
    try:
        username, _, password = base64.b64decode(auth).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return row("registry", "docker config token", "fail", f"{path}: the entry for {host} "
                   "is not base64 user:password", f"docker logout {host}",
                   anchor="docker-config")
    try:
        http_api.check_login(host, {"username": username, "password": password})
    except OpsError as error:
        if error.anchor == "push-denied":
            return row("registry", "docker config token", "warn" if shadowed else "fail",
                       f"{path}: the token stored for {host} is stale (the registry rejects it; "
                       "ECR tokens last 12 h)", f"docker logout {host}, or inv login "
                       "--docker-config for a fresh one", anchor="docker-config")
        return row("registry", "docker config token", "skip", f"cannot check the token stored "
                   f"for {host}: {error.message}")
    return row("registry", "docker config token", "ok", f"{path}: the token stored for {host} "
               "is accepted")


def rows(settings, session=None):
    """Every registry row; a failure becomes a row, never an exception. `session`: a boto3
    Session of other credentials to check instead of the configured ones."""
    try:
        client = ecr.client(settings, "ecr", TIMEOUT, attempts=1, session=session)
        sts = ecr.client(settings, "sts", TIMEOUT, attempts=1, session=session)
        identity = ecr.call(settings, "get_caller_identity", service="sts", api=sts)
        host, source = ecr.push_host(settings, lambda: token_endpoint(settings, client),
                                     "the token's endpoint")
    except ecr.AwsError as error:
        return [row("registry", "registry host", "skip", f"needs working credentials "
                    f"({error.message})")]
    return (identity_rows(settings, identity, host, source) + permission_rows(settings, client)
            + docker_config_rows(host))


def token_endpoint(settings, client):
    """The host of the token's proxy endpoint: where a push would go, lacking any setting."""
    data = ecr.call(settings, "get_authorization_token", api=client)["authorizationData"][0]
    return data["proxyEndpoint"].split("//")[-1].rstrip("/")
