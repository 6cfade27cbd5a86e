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
        parts = [self.message.rstrip(".") + "."]
        if self.fix:
            parts.append("Fix: " + self.fix.rstrip(".") + ".")
        if self.anchor:
            parts.append(f"See RUNBOOK.md#{self.anchor}")
        return " ".join(parts)

    def __str__(self):
        return self.line()
