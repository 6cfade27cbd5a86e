"""The one way out: while a task runs, sys.stdout and sys.stderr are streams that pass every
byte through redact.SECRETS, so a table, a JSON report, a progress line, an error and its
details, a probe's output or the app's log cannot print a secret this invocation knows,
whichever code wrote it.

A write is held back only as long as its end could be the start of a secret; a newline or
the end of the task lets it go.
"""
import io
import sys

from ops.core.redact import SECRETS


class RedactingStream(io.TextIOBase):
    def __init__(self, target, secrets=SECRETS):
        super().__init__()
        self.target, self.secrets, self._held = target, secrets, ""

    def write(self, text):
        text = self._held + text
        cut = text.rfind("\n") + 1
        if cut:
            self.target.write(self.secrets.redact(text[:cut]))
        self._held = text[cut:]
        return len(text)

    def flush(self):
        cut = self.secrets.safe_cut(self._held)
        if cut:   # what may be a secret's start stays behind; the rest goes, redacted
            self.target.write(self.secrets.redact(self._held[:cut]))
            self._held = self._held[cut:]
        self.target.flush()

    def drain(self):
        """Everything still held, redacted: at the end of the task."""
        if self._held:
            self.target.write(self.secrets.redact(self._held))
            self._held = ""
        self.target.flush()

    def isatty(self):
        return self.target.isatty()

    def fileno(self):
        return self.target.fileno()

    @property
    def encoding(self):
        return getattr(self.target, "encoding", "utf-8")


class Redacted:
    """`with Redacted():` the task's sys.stdout and sys.stderr go through the redactor."""

    def __enter__(self):
        self.saved = sys.stdout, sys.stderr
        if not isinstance(sys.stdout, RedactingStream):
            sys.stdout = RedactingStream(sys.stdout)
        if not isinstance(sys.stderr, RedactingStream):
            sys.stderr = RedactingStream(sys.stderr)
        return self

    def __exit__(self, *exc):
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, RedactingStream):
                stream.drain()
        sys.stdout, sys.stderr = self.saved
        return False
