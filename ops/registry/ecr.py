"""ECR and STS through boto3: the one place a boto3 call is made and its failure translated,
the repository, and the authorization token, which is never stored.

boto3's own credential chain, profile and endpoint variables (AWS_ENDPOINT_URL_ECR,
AWS_ENDPOINT_URL_STS) are honoured as they are; there is no endpoint seam of our own.
Every call goes through call() or pages(), so each one has a heartbeat and every botocore
failure reaches the user as one OpsError; no other module imports boto3 or botocore.
"""
import base64
import contextlib
import dataclasses
import datetime
import os
import threading

from ops.core.errors import OpsError
from ops.core.redact import SECRETS

# A token is reused only while it has more than this left; ECR tokens last 12 hours.
TOKEN_MARGIN = datetime.timedelta(minutes=10)
IAM_PUSH = ("ecr:GetAuthorizationToken, ecr:DescribeRepositories, ecr:BatchCheckLayerAvailability, "
            "ecr:InitiateLayerUpload, ecr:UploadLayerPart, ecr:CompleteLayerUpload, ecr:PutImage")


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


@dataclasses.dataclass(frozen=True)
class Token:
    username: str
    password: str = dataclasses.field(repr=False)
    endpoint: str = ""
    expires_at: datetime.datetime = None

    def usable(self, now):
        return self.expires_at is None or self.expires_at - now > TOKEN_MARGIN

    @property
    def account(self):
        host = self.endpoint.split("//")[-1].split("/")[0]
        first = host.split(".")[0]
        return first if first.isdigit() else "unknown"

    def auth_config(self):
        return {"username": self.username, "password": self.password}


class TokenCache:
    """Fetch a token when there is none or it is within TOKEN_MARGIN of expiry."""

    def __init__(self, fetch, clock=utcnow):
        self._fetch, self._clock, self._token = fetch, clock, None
        self.fetches = 0

    def get(self):
        if self._token is None or not self._token.usable(self._clock()):
            self._token = self._fetch()
            self.fetches += 1
        return self._token


class AwsError(OpsError):
    """A translated AWS failure that still says what AWS answered, so a caller can accept an
    answer (a scan not found, no lifecycle policy) without importing botocore: `code` is
    AWS's error code ("" when no answer came), `reply` its message, `status` the HTTP
    status (0 without one), `unreachable` whether the endpoint could not be reached."""

    def __init__(self, message, fix=None, anchor=None, code="", reply="", status=0,
                 unreachable=False):
        super().__init__(message, fix=fix, anchor=anchor)
        self.code, self.reply, self.status = code, reply, status
        self.unreachable = unreachable


def translate(exc, settings):
    """A botocore failure as an AwsError with its cause and fix."""
    from botocore import exceptions as bc

    region = settings.ecr.resolved_region
    if not isinstance(exc, bc.ClientError):
        return _unanswered(exc, settings, region)
    code = exc.response.get("Error", {}).get("Code", "")
    message = exc.response.get("Error", {}).get("Message", str(exc))
    answered = {"code": code, "reply": message,
                "status": exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)}
    if code == "RepositoryNotFoundException":
        return AwsError(f"ECR repository {settings.ecr.repository} does not exist in {region}",
                        fix="create it: inv push --create-repo (scan on push, "
                            f"{settings.ecr.tag_mutability.lower()} tags)",
                        anchor="ecr-repository-missing", **answered)
    if code in ("ExpiredTokenException", "ExpiredToken", "RequestExpired"):
        return AwsError("the AWS session has expired",
                        fix="refresh it (aws sso login, or new session credentials)",
                        anchor="token-expired", **answered)
    if code in ("UnrecognizedClientException", "InvalidClientTokenId",
                "InvalidSignatureException", "SignatureDoesNotMatch"):
        return AwsError(f"AWS rejected the credentials ({code})",
                        fix="check the access key and secret, or the profile",
                        anchor="aws-credentials", **answered)
    if code in ("AccessDeniedException", "AccessDenied"):
        return AwsError(f"access denied by AWS: {message}",
                        fix=f"grant the identity {IAM_PUSH}", anchor="push-denied", **answered)
    return AwsError(f"ECR call failed ({code}): {message}", fix="read the message",
                    anchor="push-denied", **answered)


def _unanswered(exc, settings, region):
    """A failure before AWS answered: credentials, profile, or the network."""
    from botocore import exceptions as bc

    if isinstance(exc, (bc.NoCredentialsError, bc.PartialCredentialsError)):
        return AwsError("no AWS credentials found (environment, profile, SSO or instance role)",
                        fix="configure them: aws configure, AWS_PROFILE, or aws sso login",
                        anchor="aws-credentials", reply=str(exc))
    if isinstance(exc, bc.ProfileNotFound):
        return AwsError(f"AWS profile {settings.ecr.profile!r} not found",
                        fix="check ~/.aws/config or set tasky.ecr.profile",
                        anchor="aws-credentials", reply=str(exc))
    if isinstance(exc, (bc.EndpointConnectionError, bc.ConnectTimeoutError,
                        bc.ReadTimeoutError, bc.ConnectionClosedError)):
        return AwsError(f"cannot reach the ECR API in {region}: {exc}",
                        fix="check the network and the region (AWS_REGION)",
                        anchor="registry-unreachable", reply=str(exc), unreachable=True)
    return AwsError(f"AWS call failed: {exc}", fix="read the message", anchor="aws-credentials",
                    reply=str(exc))


@contextlib.contextmanager
def translated(settings):
    """Every botocore failure inside as an AwsError: the one place they are caught."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise translate(exc, settings) from exc


# One boto3 Session per (profile, region) for the life of the process, and one client per
# (service, profile, region, timeout, attempts): a Session reads botocore's data files anew
# (issue 16 measured 150 ms, against 18 ms for a client from a cached one; bench row 9 times
# a release's calls both ways). A different profile or region in the same process (a flag,
# or tests) gets its own. A Session resolves the credentials and endpoint variables once and
# keeps them, so variables changed between calls in one process are not seen: an `inv` run
# never changes them, and tests call forget_sessions() between cases rather than the key
# growing to cover every variable.
_SESSIONS, _CLIENTS = {}, {}
_LOCK = threading.RLock()   # a Session is not thread-safe and doctor calls from a thread pool


def forget_sessions():
    """Drop every cached session and client; the next call builds them afresh."""
    with _LOCK:
        _SESSIONS.clear()
        _CLIENTS.clear()


def shared_session(settings):
    """The process's boto3 Session for the configured profile and region."""
    import boto3

    key = (settings.ecr.profile or None, settings.ecr.resolved_region)
    with _LOCK, translated(settings):   # an unknown profile fails here
        if key not in _SESSIONS:
            _SESSIONS[key] = boto3.Session(profile_name=key[0], region_name=key[1])
            _known_to_the_redactor(_SESSIONS[key])
        return _SESSIONS[key]


def _known_to_the_redactor(session):
    """The secret key and session token this process signs with, from whatever source
    (profile file, SSO cache, instance role): never printed, whatever prints them."""
    from botocore.exceptions import BotoCoreError

    try:
        found = session.get_credentials()
    except BotoCoreError:
        return   # the first call says why there are none, translated
    if found is not None:
        frozen = found.get_frozen_credentials()
        SECRETS.add(frozen.secret_key)
        SECRETS.add(frozen.token)


def client(settings, service="ecr", timeout=10.0, attempts=2, session=None):
    """A boto3 client for the configured profile and region; timeout bounds connect and read.

    ECR's API answers in well under a second, so an endpoint silent for 10 s is down: two
    attempts bound a call at about 25 s (the heartbeat in call() speaks meanwhile). A
    caller's own session (other credentials) gets a client of its own, never cached.
    """
    region = settings.ecr.resolved_region
    if session is not None:
        with translated(settings):
            return session.client(service, region_name=region,
                                  config=_config(timeout, attempts))
    key = (service, settings.ecr.profile or None, region, timeout, attempts)
    with _LOCK:
        if key not in _CLIENTS:
            shared = shared_session(settings)
            with translated(settings):
                _CLIENTS[key] = shared.client(service, config=_config(timeout, attempts))
        return _CLIENTS[key]


def _config(timeout, attempts):
    from botocore.config import Config

    return Config(connect_timeout=min(timeout, 5), read_timeout=timeout,
                  retries={"total_max_attempts": attempts, "mode": "standard"})


def call(settings, method, *, service="ecr", api=None, **kwargs):
    """One boto3 call, on `api` or the cached client of `service`, with a heartbeat while it
    waits and every failure translated."""
    with translated(settings):
        api = client(settings, service) if api is None else api
        with _heartbeat(settings, service, method):
            return getattr(api, method)(**kwargs)


def pages(settings, method, key, *, service="ecr", api=None, **kwargs):
    """Every item under `key` of every page of a paginated call, as one list."""
    with translated(settings):
        api = client(settings, service) if api is None else api
        with _heartbeat(settings, service, method):
            return [item for page in api.get_paginator(method).paginate(**kwargs)
                    for item in page.get(key) or []]


def _heartbeat(settings, service, method):
    from ops.core.heartbeat import Heartbeat

    return Heartbeat(f"{service.upper()} {method} in {settings.ecr.resolved_region}")


def fetch_token(settings):
    data = call(settings, "get_authorization_token")["authorizationData"][0]
    username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    SECRETS.add_login(username, password)   # the token and the authorizationToken itself
    expires = data.get("expiresAt")
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=datetime.timezone.utc)
    return Token(username=username, password=password, endpoint=data.get("proxyEndpoint", ""),
                 expires_at=expires)


def repository(settings, create=False):
    """The repository's URI and tag mutability, creating it when asked."""
    name = settings.ecr.repository
    try:
        found = call(settings, "describe_repositories", repositoryNames=[name])
        repo, created = found["repositories"][0], False
    except OpsError as error:
        if error.anchor != "ecr-repository-missing" or not create:
            raise
        repo = call(settings, "create_repository", repositoryName=name,
                    imageTagMutability=settings.ecr.tag_mutability,
                    imageScanningConfiguration={"scanOnPush": True})["repository"]
        created = True
    return {"uri": repo["repositoryUri"], "mutability": repo.get("imageTagMutability", "MUTABLE"),
            "created": created, "account": repo.get("registryId", "")}


def push_host(settings, fallback, fallback_source="the repository's URI"):
    """(host, where the name came from) of the registry pushes go to: tasky.ecr.registry, then
    ECR_REGISTRY (as the document's CI sets), then `fallback` (a host, or a function giving
    one only when asked: doctor's costs a token). Lowercased: LOCALHOST is local. Both
    settings were checked at the boundary."""
    for value, source in ((settings.ecr.registry, "tasky.ecr.registry"),
                          (os.environ.get("ECR_REGISTRY"), "ECR_REGISTRY")):
        if value:
            return value.lower(), source
    found = fallback() if callable(fallback) else fallback
    return (found.lower() if found else None), fallback_source
