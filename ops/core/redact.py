"""What may be printed of a secret: values masked by name, by value and inside URLs."""
import re

URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)(.*)$", re.DOTALL)
SECRET_WORDS = ("SECRET", "PASSWORD", "PASSWD", "PASS", "TOKEN", "KEY", "CREDENTIAL", "AUTH",
                "PRIVATE", "SESSION", "COOKIE", "SALT")
MASK = "****"


def looks_secret(key):
    upper = key.upper()
    return any(word in upper for word in SECRET_WORDS)


def redact_uri(value):
    """Hide the password inside a URI's userinfo: mongodb://u:****@host/db.

    Splits by hand at the last '@' because passwords may hold '/', '?' or '@', which
    make urlsplit see no userinfo at all and so return the password untouched.
    """
    match = URI.match(value)
    if not match:
        return value
    scheme, rest = match.groups()
    userinfo, at, hostinfo = rest.rpartition("@")
    if not at:
        return value
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}{user}{':' + MASK if colon else ''}@{hostinfo}"


def mask(key, value, public=()):
    """What may be printed for key=value: only allow-listed (public) values are shown, and
    those with any URL password masked; every other value passed is treated as a secret."""
    if not value:
        return value
    if looks_secret(key):
        return MASK
    if "://" in value:   # the host is what on-call needs to see; the password never
        return redact_text(redact_uri(value))
    if key.upper() in {name.upper() for name in public}:
        return redact_text(value)
    return MASK


def masked(env, public=()):
    return {key: mask(key, value, public) for key, value in env.items()}


URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s/:@'\"]*):([^\s'\"]*)@")
SECRET_QUERY = re.compile(r"([?&;](?:password|passwd|pwd|pass|secret|token|access_token|"
                          r"api_?key|apikey|key|auth|signature|sig|credentials?)=)[^&;\s'\"]*",
                          re.IGNORECASE)
MIN_MASKED = 4   # shorter values ("1", "on") would mask every such word in a log


def redact_text(text):
    """Any URL's userinfo password and secret-looking query values, masked."""
    text = URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{MASK}@", text)
    return SECRET_QUERY.sub(lambda m: m.group(1) + MASK, text)


class Masker:
    """Masks, in free text, every value passed to the container except the allow-listed
    harmless ones (tasky.app.public_env), and every URL password."""

    def __init__(self, env=None, public=()):
        public = {name.upper() for name in public}
        values = {value for key, value in (env or {}).items()
                  if key.upper() not in public and len(value) >= MIN_MASKED}
        # The password inside a passed URI also appears alone (apps log it decoded or not).
        for value in list(values):
            match = URL_PASSWORD.search(value)
            if match and len(match.group(2)) >= MIN_MASKED:
                values.add(match.group(2))
        self.values = sorted(values, key=len, reverse=True)   # longest first: no partial leak

    def text(self, line):
        for value in self.values:
            line = line.replace(value, MASK)
        return redact_text(line)

    def lines(self, lines):
        return [self.text(line) for line in lines]


# --- the secrets of this invocation: every byte written passes through SECRETS.redact -----

def forms(value):
    """The ways a secret can appear in text: as given, percent-encoded and decoded (an app
    logs a URL's password decoded), JSON-escaped (--json output), and a URL's password
    alone. Forms shorter than MIN_MASKED are left out (input refuses such secrets)."""
    import json
    from urllib.parse import quote, quote_plus, unquote, unquote_plus

    found = {value}
    match = URI.match(value)
    if match:
        userinfo, at, _ = match.group(2).rpartition("@")
        if at and ":" in userinfo:
            found.add(userinfo.partition(":")[2])
    for form in list(found):
        found |= {quote(form, safe=""), quote(form), quote_plus(form), unquote(form),
                  unquote_plus(form)}
    for form in list(found):
        found |= {json.dumps(form)[1:-1], json.dumps(form, ensure_ascii=False)[1:-1]}
    return {form for form in found if len(form) >= MIN_MASKED and set(form) != {"*"}}


class Secrets:
    """Every secret this invocation knows, in every form it may take; redact() masks them
    (longest first, until none is left) and then any URL password or secret query value."""

    def __init__(self):
        self._forms, self._pattern = set(), None

    def add(self, value):
        new = forms(value) - self._forms if isinstance(value, str) and value else set()
        if new:
            self._forms |= new
            self._pattern = None

    def add_login(self, user, password):
        """A registry login: the password, and base64 of user:password as auth headers
        and docker's config.json carry it."""
        import base64

        self.add(password)
        self.add(base64.b64encode(f"{user}:{password}".encode()).decode())

    def __contains__(self, value):
        return value in self._forms

    def redact(self, text):
        if self._forms:
            if self._pattern is None:
                ordered = sorted(self._forms, key=len, reverse=True)
                self._pattern = re.compile("|".join(map(re.escape, ordered)))
            for _ in range(8):   # a mask next to text can never complete a secret twice over
                text, found = self._pattern.subn(MASK, text)
                if not found:
                    break
        return redact_text(text)

    def safe_cut(self, text):
        """How much of text can be redacted and let go now, its end arriving later: up to
        where a secret might begin (its start is at the end of text) or does begin (it runs
        across the cut). What is left waits for the rest of its line."""
        cut = len(text)
        for form in self._forms:
            for size in range(min(len(form) - 1, len(text)), 0, -1):
                if text.endswith(form[:size]):
                    cut = min(cut, len(text) - size)
                    break
        moved = True
        while moved:
            moved = False
            for form in self._forms:
                start = text.rfind(form, max(0, cut - len(form) + 1), cut + len(form) - 1)
                if -1 < start < cut < start + len(form):
                    cut, moved = start, True
        return cut

    def clear(self):
        self._forms, self._pattern = set(), None


SECRETS = Secrets()
