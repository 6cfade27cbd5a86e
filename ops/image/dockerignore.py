"""A .dockerignore read and matched as the Docker CLI does (moby's pkg/fileutils).

.dockerignore is read and matched as this machine's Docker 20.10 CLI does with BuildKit
(its file sync over moby's pkg/fileutils), and tests/integration/test_buildcontext.py holds
the real CLI to it. docker-py differs: it lowercases names and patterns; Docker is
case-sensitive on Linux.

Docker's own quirks are kept, because the CLI has them:
- a pattern becomes a Go regular expression in which only `* ? . $ \\` are translated, so
  `+ ( ) | { } ^` keep their regexp meaning (`a+b` excludes `aab`, not `a+b`) and `[^x]`
  also matches `/`;
- the parent-directory rule tries a pattern of N parts against the first N parts of the
  parent only, so once an excluded `a/b/sub` is walked, `**/sub` does not exclude
  `a/b/sub/f`;
- an excluded directory is walked only when a `!` pattern begins with its path
  (`!docs/keep.md` reopens `docs`, `!**/keep.md` does not) and is then sent even when
  nothing inside it comes back.
"""
import re
import warnings

from ops.core import files
from ops.core.errors import OpsError

ANCHOR = "build-fails"


IGNORE_FILE = ".dockerignore"


# Go's unicode.IsSpace, which strings.TrimSpace uses (str.strip() also trims \x1c-\x1f).
GO_SPACE = ("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
            "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


BOM = b"\xef\xbb\xbf"


# Go regexp escapes of a letter or digit that Python's re reads the same way.
REGEXP_ESCAPES = {**{c: "\\" + c for c in "afnrtvdDsSwWbBA0x"}, "z": r"\Z"}


POSIX_CLASSES = {"alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f",
                 "blank": "\\t ", "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~",
                 "lower": "a-z", "print": " -~", "punct": "!-/:-@\\[-`{-~",
                 "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": "0-9A-Za-z_",
                 "xdigit": "0-9A-Fa-f"}


LITERAL = re.compile(r"([\\*?\[\]+(){}|^!#])")


def read_dockerignore(path):
    """The patterns of a .dockerignore as Docker reads them; a missing file gives []."""
    return [pattern for _, pattern in read_lines(path)]


def read_lines(path):
    """(line number, pattern) pairs, read as moby's dockerignore.ReadAll reads them."""
    try:   # a FIFO or a device is refused before it is opened: a read would block
        data = files.read_regular(path, ".dockerignore", ANCHOR,
                                  fix=f"make {path} a regular file, or remove it")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise OpsError(f"cannot read {path} ({exc.strerror or exc})",
                       fix="make it a readable file (chmod a+r) or remove it",
                       anchor=ANCHOR) from exc
    found = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw[:-1] if raw.endswith(b"\r") else raw
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM):]
        line = raw.decode("utf-8", "surrogateescape")
        if line.startswith("#"):   # a comment only when `#` is the very first character
            continue
        pattern = line.strip(GO_SPACE)
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip(GO_SPACE)
        if pattern:
            pattern = _go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        found.append((number, "!" + pattern if invert else pattern))
    return found


def _go_clean(path):
    """Go's filepath.Clean on a slash path (posixpath.normpath keeps a leading `//`)."""
    rooted = path.startswith("/")
    parts = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part != "..":
            parts.append(part)
        elif parts and parts[-1] != "..":
            parts.pop()
        elif not rooted:
            parts.append("..")
    cleaned = "/".join(parts)
    return "/" + cleaned if rooted else cleaned or "."


class Matcher:
    """Whether Docker leaves a context path out: every pattern is tried, the last one that
    matches decides, and a `!` pattern that matches brings the path back."""

    def __init__(self, patterns, source=IGNORE_FILE, lines=None):
        self.patterns = []   # (exclusion, regexp, number of parts, cleaned text)
        for index, text in enumerate(patterns):
            where = f"{source} line {lines[index]}" if lines else f"{source} pattern {index + 1}"
            cleaned = _go_clean(text.strip(GO_SPACE)) if text.strip(GO_SPACE) else ""
            if not cleaned:
                continue
            exclusion = cleaned.startswith("!")
            if exclusion:
                cleaned = cleaned[1:]
                if not cleaned:
                    raise _malformed(where, text, "a lone `!` names nothing to re-include")
            reason = _glob_error(cleaned)
            regexp = None
            if reason is None:
                try:
                    regexp = _compile_pattern(cleaned)
                except (re.error, ValueError) as exc:
                    reason = f"Docker reads it as a regular expression: {exc}"
            if reason:
                raise _malformed(where, text, reason)
            self.patterns.append((exclusion, regexp, len(cleaned.split("/")), cleaned))
        self.exclusions = any(pattern[0] for pattern in self.patterns)

    def excludes(self, path):
        """True when `path` (relative, slash-separated) stays out of the context."""
        parent = path.rpartition("/")[0]
        parents = parent.split("/") if parent else ()
        matched = False
        for exclusion, regexp, depth, _ in self.patterns:
            hit = regexp.search(path) is not None
            if not hit and parents and depth <= len(parents):
                hit = regexp.search("/".join(parents[:depth])) is not None
            if hit:
                matched = not exclusion
        return matched

    def reopens(self, directory):
        """True when an excluded directory is still walked for a `!` pattern inside it."""
        prefix = directory + "/"
        return any(exclusion and (text + "/").startswith(prefix)
                   for exclusion, _, _, text in self.patterns)


def _malformed(where, text, reason):
    return OpsError(f"{where} ({text.strip()!r}) is not a valid pattern: {reason}",
                    fix="correct or delete that line (Docker's syntax: * ? ** [a-z] [^a-z], "
                        "\\ escapes the next character, ! re-includes)", anchor=ANCHOR)


def _glob_error(pattern):
    """Why Go's filepath.Match refuses `pattern`, or None: Docker checks every pattern so."""
    i, end = 0, len(pattern)

    def class_char(i):
        if i >= end or pattern[i] in "-]":
            raise ValueError("a character class is empty or has a bad range")
        if pattern[i] == "\\":
            i += 1
            if i >= end:
                raise ValueError("a character class ends in \\")
        if "\udc80" <= pattern[i] <= "\udcff":
            raise ValueError("a character class holds bytes that are not UTF-8")
        if i + 1 >= end:
            raise ValueError("a character class is not closed with ]")
        return i + 1

    try:
        while i < end:
            if pattern[i] == "\\":
                if i + 1 >= end:
                    raise ValueError("a trailing \\ escapes nothing")
                i += 2
            elif pattern[i] == "[":
                i += 1
                if i < end and pattern[i] == "^":
                    i += 1
                ranges = 0
                while not (i < end and pattern[i] == "]" and ranges):
                    i = class_char(i)
                    if pattern[i] == "-":
                        i = class_char(i + 1)
                    ranges += 1
                i += 1
            else:
                i += 1
    except ValueError as exc:
        return str(exc)
    return None


def _compile_pattern(pattern):
    """moby's Pattern.compile, as a Python regexp: only * ? . $ and \\ are translated."""
    out = []
    i, end = 0, len(pattern)
    repeated = False   # the last thing emitted was a repetition (Go refuses one on it)
    while i < end:
        char = pattern[i]
        i += 1
        after_repeat, repeated = repeated, False
        if char == "*":
            if i < end and pattern[i] == "*":
                i += 1
                if i < end and pattern[i] == "/":
                    i += 1
                out.append(".*" if i >= end else "(.*/)?")
            else:
                out.append("[^/]*")
            repeated = True
        elif char == "?":
            out.append("[^/]")
        elif char in ".$":
            out.append("\\" + char)
        elif char == "\\":
            escaped = pattern[i]   # glob_error has refused a trailing backslash
            i += 1
            if escaped.isascii() and not escaped.isalnum():
                out.append("\\" + escaped)
            elif escaped in REGEXP_ESCAPES:
                out.append(REGEXP_ESCAPES[escaped])
            else:
                raise ValueError(f"\\{escaped} is not an escape tasky-ops reproduces")
        elif char == "+" and after_repeat:
            raise ValueError("invalid nested repetition")
        else:
            out.append(char)
            repeated = char == "+"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # re's FutureWarning about `[[`, which Go reads fine
        return re.compile("^" + _posix_classes("".join(out)) + r"\Z", re.ASCII)


def _posix_classes(regexp):
    """Go's `[[:alpha:]]` inside a character class, which Python's re reads as letters."""
    out, i, inside = [], 0, False
    while i < len(regexp):
        char = regexp[i]
        step = 2 if char == "\\" else 1
        if inside and regexp.startswith("[:", i):
            end = regexp.find(":]", i + 2)
            name = regexp[i + 2:end] if end > 0 else ""
            if name in POSIX_CLASSES:
                out.append(POSIX_CLASSES[name])
                i = end + 2
                continue
        if not inside and char == "[":
            inside = True
            step += regexp.startswith("^", i + 1)
            step += regexp.startswith("]", i + step)   # a leading ] is a member
        elif inside and char == "]":
            inside = False
        out.append(regexp[i:i + step])
        i += step
    return "".join(out)
