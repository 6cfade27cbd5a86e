"""What another program answered (a registry, the engine, a scanner), checked before use.

A registry behind a captive portal answers HTML; a proxy cuts a body; a scanner's new
version renames a field. Used unchecked, each is a KeyError or a TypeError deep in a task.
Here the JSON is parsed and held to the shape the caller reads, and anything else is one
line naming who answered and what was wrong.

A shape is:
  a type (str, int, float, bool, dict, list)    that type (bool is no int; an int is a float)
  [shape]                                        a list of such items
  {"key": shape, ...}                            an object with those keys (others allowed)
  Maybe(shape)                                   that, null, or (as a key) absent
  MapOf(shape)                                   an object whose every value is such
  ANY                                            anything
"""
import json

from ops.core.errors import OpsError

ANY = object()
NAMES = {str: "text", int: "a whole number", float: "a number", bool: "true or false",
         dict: "an object", list: "a list", type(None): "null"}


class Maybe:
    def __init__(self, shape):
        self.shape = shape


class MapOf:
    def __init__(self, shape):
        self.shape = shape


class WrongAnswer(OpsError):
    """An answer that is not the JSON its sender promises."""


def parse(body, shape, who, anchor, fix=None):
    """body (bytes or str) as JSON of `shape`, or one WrongAnswer line naming `who` (what
    answered, and to what: "registry H's answer to the tags of R")."""
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
    try:
        value = json.loads(text)
    except ValueError:
        raise WrongAnswer(f"{who} is not JSON: {preview(text)}",
                          fix=fix or "check what answers at that address (a proxy or a login "
                              "page answers HTML)", anchor=anchor) from None
    return check(value, shape, who, anchor, fix)


def check(value, shape, who, anchor, fix=None):
    """value itself when it has `shape`, else one WrongAnswer line naming `who`."""
    problem = mismatch(value, shape, "")
    if problem:
        raise WrongAnswer(f"{who} is not the JSON expected: {problem}",
                          fix=fix or "check the version of what answers; this tool reads "
                              "the documented format", anchor=anchor)
    return value


def mismatch(value, shape, where):
    """None when value has shape, else what is wrong and where."""
    if shape is ANY:
        return None
    if isinstance(shape, Maybe):
        return None if value is None else mismatch(value, shape.shape, where)
    if isinstance(shape, list):
        if not isinstance(value, list):
            return wrong(value, "a list", where)
        for index, item in enumerate(value):
            found = mismatch(item, shape[0], f"{where}[{index}]")
            if found:
                return found
        return None
    if isinstance(shape, MapOf):
        if not isinstance(value, dict):
            return wrong(value, "an object", where)
        for key, item in value.items():
            found = mismatch(item, shape.shape, f"{where}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return wrong(value, "an object", where)
        for key, inner in shape.items():
            if key not in value:
                if isinstance(inner, Maybe):
                    continue
                return f"{where or 'it'} has no {key!r}"
            found = mismatch(value[key], inner, f"{where}[{key!r}]")
            if found:
                return found
        return None
    if shape is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif shape is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, shape)
    return None if ok else wrong(value, NAMES.get(shape, shape.__name__), where)


def wrong(value, expected, where):
    return f"{where or 'it'} is {describe(value)}, expected {expected}"


def describe(value):
    if isinstance(value, bool):
        return "true or false"
    name = NAMES.get(type(value), type(value).__name__)
    if isinstance(value, (str, int, float)):
        return f"{name} {preview(value if isinstance(value, str) else json.dumps(value))}"
    return name


def preview(text, width=40):
    """A short, one-line quote of what was answered."""
    flat = " ".join(str(text).split())
    return repr(flat[:width] + ("..." if len(flat) > width else "")) if flat else "nothing"
