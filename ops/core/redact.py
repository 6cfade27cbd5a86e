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
