"""`inv ecr-policy`: the repository's lifecycle policy, a proposed default, applied on request.

The default keeps what a rollback needs. ECR never lets a lower-priority rule expire an
image a higher-priority rule selected, so the first rules select the release tags and
the rollback history (previous-*) with a count no repository reaches: those images are
never expired. Then untagged images go after D days, and tagged ones beyond the newest N.
"""
import json

from ops.core.console import table
from ops.core.errors import OpsError
from ops.registry import ecr, history, listing

NEVER = 9999   # "keep this many": selects the images so that later rules cannot expire them


def proposal(settings, keep=30, untagged_days=14):
    """The default lifecycle policy document (a dict)."""
    keep, untagged_days = int(keep), int(untagged_days)
    if keep < 1 or untagged_days < 1:
        raise OpsError(f"--keep ({keep}) and --untagged-days ({untagged_days}) must be at "
                       "least 1", fix="e.g. --keep 30 --untagged-days 14", anchor="bad-flag")
    protected = listing.release_tags(settings) + [history.HISTORY_PREFIX]
    rules = [{"rulePriority": n, "description": f"never expire {prefix}* (release and "
              "rollback tags)", "selection": {"tagStatus": "tagged", "tagPrefixList": [prefix],
                                              "countType": "imageCountMoreThan",
                                              "countNumber": NEVER},
              "action": {"type": "expire"}} for n, prefix in enumerate(protected, start=1)]
    rules.append({"rulePriority": len(rules) + 1,
                  "description": f"expire untagged images after {untagged_days} days",
                  "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                "countUnit": "days", "countNumber": untagged_days},
                  "action": {"type": "expire"}})
    rules.append({"rulePriority": len(rules) + 1,
                  "description": f"keep the newest {keep} tagged images",
                  "selection": {"tagStatus": "tagged", "tagPatternList": ["*"],
                                "countType": "imageCountMoreThan", "countNumber": keep},
                  "action": {"type": "expire"}})
    return {"rules": rules}


def rule_problems(document):
    """ECR's own rules for a policy document; problems as a list of lines (empty: valid)."""
    problems, priorities, untagged = [], set(), 0
    rules = document.get("rules") or []
    for rule in rules:
        sel, priority = rule.get("selection") or {}, rule.get("rulePriority")
        if priority in priorities:
            problems.append(f"rulePriority {priority} is used twice")
        priorities.add(priority)
        status = sel.get("tagStatus")
        if status == "tagged" and not (sel.get("tagPrefixList") or sel.get("tagPatternList")):
            problems.append(f"rule {priority}: tagged needs tagPrefixList or tagPatternList")
        if status == "untagged":
            untagged += 1
        if status == "any" and priority != max(r.get("rulePriority", 0) for r in rules):
            problems.append(f"rule {priority}: tagStatus any must have the highest priority")
        if sel.get("countType") == "sinceImagePushed" and sel.get("countUnit") != "days":
            problems.append(f"rule {priority}: sinceImagePushed needs countUnit days")
    if untagged > 1:
        problems.append("only one rule may select untagged images")
    return problems


def current(settings):
    """The policy document in force, or None when the repository has none."""
    try:
        found = ecr.call(settings, "get_lifecycle_policy", repositoryName=settings.ecr.repository)
    except ecr.AwsError as error:
        if error.code == "LifecyclePolicyNotFoundException":
            return None
        raise
    return json.loads(found["lifecyclePolicyText"])


def ecr_policy(settings, apply=False, keep=30, untagged_days=14):
    """{"repository", "current", "proposed", "same", "applied"}; writes only with apply."""
    ecr.repository(settings)   # a missing repository is one clear line, not a botocore error
    before = current(settings)
    proposed = proposal(settings, keep, untagged_days)
    problems = rule_problems(proposed)
    if problems:   # our own bug; never send ECR a document it would refuse or misread
        raise OpsError("the proposed lifecycle policy is invalid", fix="report it",
                       anchor="ecr-lifecycle", details=problems)
    result = {"repository": settings.ecr.repository, "current": before, "proposed": proposed,
              "same": before == proposed, "applied": False}
    if apply and not result["same"]:
        ecr.call(settings, "put_lifecycle_policy", repositoryName=settings.ecr.repository,
                 lifecyclePolicyText=json.dumps(proposed))
        after = current(settings)
        if after != proposed:
            raise OpsError("ECR holds a different lifecycle policy than the one just applied",
                           fix="inv ecr-policy shows both", anchor="ecr-lifecycle")
        result.update(current=after, applied=True, same=True)
    return result


def rule_rows(document):
    return [{"priority": r["rulePriority"], "selects": r["selection"]["tagStatus"] + " " + ",".join(
        r["selection"].get("tagPrefixList") or r["selection"].get("tagPatternList") or []),
        "when": f"{r['selection']['countType']} {r['selection']['countNumber']}"
                + (f" {r['selection']['countUnit']}" if r["selection"].get("countUnit") else ""),
        "description": r.get("description", "")} for r in document.get("rules", [])]


def render(result):
    columns = [("priority", "#"), ("selects", "selects"), ("when", "expires when"),
               ("description", "why")]
    lines = [f"{result['repository']}: current lifecycle policy"]
    lines.append(table(rule_rows(result["current"]), columns) if result["current"]
                 else "none: images are never expired")
    if result["applied"]:
        lines.append("applied the proposed policy (read back: identical)")
    elif result["same"]:
        lines.append("the current policy is the proposed default")
    else:
        lines += ["proposed (inv ecr-policy --apply to apply):", table(
            rule_rows(result["proposed"]), columns)]
    return "\n".join(lines)
