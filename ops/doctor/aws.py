"""`inv doctor`'s AWS checks: credentials (STS), region, the ECR repository, a token.

Each call gets a short timeout and no retry, so an unreachable AWS costs seconds, not
minutes; doctor runs these in parallel with the local checks. boto3's own credential
chain, profile and endpoint variables (AWS_ENDPOINT_URL_STS / _ECR) are honoured as they
are. Keys and tokens never reach a row: errors are reported by their code.
"""

from ops.doctor.rows import row

TIMEOUT = 2.0   # seconds to connect and to read, per call


def region_row(settings):
    """Where the region comes from (ops.settings.config.Ecr.region_and_source)."""
    region, source = settings.ecr.region_and_source
    return region, row("aws", "region", "ok", f"{region} ({source})")


def failure(check, error, settings, service):
    """A row for a failed AWS call (an ops.registry.ecr.AwsError): an unreachable endpoint is
    named here with doctor's own timeout; the rest as ops.registry.ecr translated it."""
    if error.unreachable:
        return row("aws", check, "fail", f"cannot reach {service} in "
                   f"{settings.ecr.resolved_region} within {TIMEOUT:g}s: no network, or a proxy "
                   "is needed", "check the network (HTTPS_PROXY), or check only this machine: "
                   "inv doctor --no-aws", anchor="aws-credentials")
    return row("aws", check, "fail", error.message, error.fix, error.anchor)


def aws_rows(settings):
    from ops.registry import ecr

    region, region_checked = region_row(settings)
    skipped = [row("aws", check, "skip", "needs working credentials")
               for check in ("ECR repository", "ECR token")]
    try:
        sts = ecr.client(settings, "sts", TIMEOUT, attempts=1)
        identity = ecr.call(settings, "get_caller_identity", service="sts", api=sts)
    except ecr.AwsError as error:
        return [failure("credentials", error, settings, "STS"), region_checked, *skipped]
    if region not in ecr.shared_session(settings).get_available_regions("ecr"):
        region_checked = row("aws", "region", "warn", f"{region} is not an ECR region this "
                             "botocore knows", "set AWS_REGION (or tasky.ecr.region) to the "
                             "repository's region", anchor="aws-credentials")
    rows = [row("aws", "credentials", "ok", f"account {identity['Account']}, "
                f"{identity['Arn']}"), region_checked]
    api = ecr.client(settings, "ecr", TIMEOUT, attempts=1)
    name = settings.ecr.repository
    try:
        repo = ecr.call(settings, "describe_repositories", api=api,
                        repositoryNames=[name])["repositories"][0]
        rows.append(row("aws", "ECR repository", "ok", f"{repo['repositoryUri']} "
                        f"({repo.get('imageTagMutability', 'MUTABLE').lower()} tags)"))
    except ecr.AwsError as error:
        rows.append(failure("ECR repository", error, settings, "ECR"))
    try:
        data = ecr.call(settings, "get_authorization_token", api=api)["authorizationData"][0]
        expires = data.get("expiresAt")
        rows.append(row("aws", "ECR token", "ok", f"obtained for {data.get('proxyEndpoint')}"
                        + (f", valid until {expires:%Y-%m-%d %H:%M %Z}" if expires else "")))
    except ecr.AwsError as error:
        rows.append(failure("ECR token", error, settings, "ECR"))
    return rows
