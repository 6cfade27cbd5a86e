"""The one error type every known failure is raised as."""


class OpsError(Exception):
    """A failure a user can act on: what happened, how to fix it, where the runbook says more.

    ``details`` holds supporting lines (a failing build step, a container's last log
    lines) that are printed before the one-line summary.
    """

    def __init__(self, message, fix=None, anchor=None, details=None):
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.anchor = anchor
        self.details = list(details or [])

    def line(self):
        parts = [" ".join(self.message.split()).rstrip(".") + "."]   # always one line
        if self.fix:
            parts.append("Fix: " + self.fix.rstrip(".") + ".")
        if self.anchor:
            parts.append(f"See RUNBOOK.md#{self.anchor}")
        return " ".join(parts)

    def __str__(self):
        return self.line()


# Libraries whose own exceptions reach a task only when a failure was not foreseen:
# (module prefix, what failed, runbook section closest to it).
FOREIGN = (("docker", "the Docker engine refused the request", "docker-daemon-not-running"),
           ("requests", "a connection failed", "registry-unreachable"),
           ("urllib3", "a connection failed", "registry-unreachable"),
           ("botocore", "an AWS call failed", "aws-credentials"),
           ("boto3", "an AWS call failed", "aws-credentials"),
           ("yaml", "a YAML file could not be read", "bad-config"))


def foreign(exc):
    """A last-resort OpsError for a library's own exception, or None for anything else
    (a bug in our code keeps its traceback)."""
    module = type(exc).__module__ or ""
    for prefix, what, anchor in FOREIGN:
        if module == prefix or module.startswith(prefix + "."):
            reason = getattr(exc, "explanation", None) or str(exc) or type(exc).__name__
            reason = " ".join(str(reason).split())[:300]
            return OpsError(f"{what}: {reason}", fix="see the runbook section; TASKY_DEBUG=1 "
                            "shows the traceback for a bug report", anchor=anchor)
    return None


def refuse(source, value, accepted, good, anchor=None):
    """The one-line refusal of an input: where it came from (--flag, VARIABLE, invoke.yaml
    line N), the value, the form accepted and an example of it in that same place."""
    anchor = anchor or ("bad-flag" if source.startswith("--") else "bad-config")
    return OpsError(f"{source} is {value!r}: expected {accepted}",
                    fix=f"e.g. {example(source, good)}", anchor=anchor)


def example(source, good):
    if source.startswith("--"):
        return f"{source} {good}"
    if source.isupper() and source.replace("_", "").isalnum() and source[0].isalpha():
        return f"{source}={good}"
    return f"{source.split(' (')[0]}: {good}"
