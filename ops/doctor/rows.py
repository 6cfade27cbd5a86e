"""A row of `inv doctor`'s report: the one shape every check returns.

Every check takes (engine, settings), where engine is None when the daemon does not
answer, and returns rows; a known failure becomes a row, never an exception.
"""

STATUSES = ("ok", "warn", "fail", "skip")


def row(area, check, status, detail, fix=None, anchor=None, autofix=None):
    """One line of the report; autofix names the safe fix `--fix` applies for it."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
    return {"area": area, "check": check, "status": status, "detail": detail, "fix": fix,
            "anchor": anchor, "autofix": autofix}


def from_error(area, check, error, status="fail"):
    return row(area, check, status, error.message, error.fix, error.anchor)


def needs_engine(area, check):
    return row(area, check, "skip", "needs the Docker daemon (see the daemon row)")
