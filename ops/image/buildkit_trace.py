"""BuildKit's progress, as the Engine API streams it: decoded and followed step by step.

A BuildKit build through POST /build?version=2 reports progress as
`{"id": "moby.buildkit.trace", "aux": "<base64>"}` items; the base64 is a protobuf
`moby.buildkit.v1.StatusResponse` (api/services/control/control.proto). The few messages
needed are read here by hand, so the project needs no protobuf dependency and no
generated code. Field numbers are BuildKit's; unknown fields are skipped, as protobuf
readers must, so newer engines that add fields still decode.
"""
import base64
import re

# (name, kind): kind is "str", "bytes", "int", "bool", "time" or a nested spec; a name
# ending in "*" is repeated.
TIMESTAMP = {1: ("seconds", "int"), 2: ("nanos", "int")}
VERTEX = {1: ("digest", "str"), 2: ("inputs*", "str"), 3: ("name", "str"),
          4: ("cached", "bool"), 5: ("started", "time"), 6: ("completed", "time"),
          7: ("error", "str")}
VERTEX_STATUS = {1: ("id", "str"), 2: ("vertex", "str"), 3: ("name", "str"),
                 4: ("current", "int"), 5: ("total", "int"), 6: ("timestamp", "time"),
                 7: ("started", "time"), 8: ("completed", "time")}
VERTEX_LOG = {1: ("vertex", "str"), 2: ("timestamp", "time"), 3: ("stream", "int"),
              4: ("msg", "bytes")}
VERTEX_WARNING = {1: ("vertex", "str"), 2: ("level", "int"), 3: ("short", "bytes"),
                  4: ("detail*", "bytes"), 5: ("url", "str")}
STATUS_RESPONSE = {1: ("vertexes*", VERTEX), 2: ("statuses*", VERTEX_STATUS),
                   3: ("logs*", VERTEX_LOG), 4: ("warnings*", VERTEX_WARNING)}

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
# "[build 3/6] RUN ..." or "[2/5] COPY ...": a Dockerfile instruction, as opposed to
# BuildKit's own "[internal] ..." and "exporting to image" vertexes.
STEP = re.compile(r"^\[(?:[^\]\s]+ )?\d+/\d+\] ")
FROM = re.compile(r"^\[(?:[^\]\s]+ )?\d+/\d+\] FROM ", re.IGNORECASE)


class TraceError(ValueError):
    """A trace record that is not the protobuf it should be."""


def varint(buf, pos):
    """The base-128 varint at buf[pos:], and the position after it."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise TraceError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise TraceError("varint longer than 64 bits")


def fields(buf):
    """(field number, wire type, value) for each field of one protobuf message."""
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 2:
            length, pos = varint(buf, pos)
            if pos + length > len(buf):
                raise TraceError(f"field {number} runs past the end of the message")
            value, pos = buf[pos:pos + length], pos + length
        elif wire in (1, 5):  # fixed64 / fixed32: none are read, but they must be skipped
            size = 8 if wire == 1 else 4
            value, pos = buf[pos:pos + size], pos + size
        else:
            raise TraceError(f"unsupported wire type {wire} in field {number}")
        yield number, wire, value


def decode(buf, spec):
    """A dict of the fields `spec` names; absent scalar fields get proto3's zero values."""
    message = {}
    for name, kind in spec.values():
        message[name.rstrip("*")] = [] if name.endswith("*") else _zero(kind)
    for number, wire, value in fields(buf):
        if number not in spec:
            continue
        name, kind = spec[number]
        value = _convert(value, wire, kind, name)
        if name.endswith("*"):
            message[name[:-1]].append(value)
        else:
            message[name] = value
    return message


def _zero(kind):
    return {"str": "", "bytes": b"", "int": 0, "bool": False}.get(kind) if isinstance(kind, str) \
        else None


def _convert(value, wire, kind, name):
    expected = 0 if kind in ("int", "bool") else 2
    if wire != expected:
        raise TraceError(f"field {name!r} has wire type {wire}, expected {expected}")
    if kind == "int":
        return value - (1 << 64) if value >= 1 << 63 else value  # int64 is two's complement
    if kind == "bool":
        return bool(value)
    if kind == "str":
        return bytes(value).decode("utf-8", "replace")
    if kind == "bytes":
        return bytes(value)
    if kind == "time":
        stamp = decode(value, TIMESTAMP)
        return stamp["seconds"] + stamp["nanos"] / 1e9
    return decode(value, kind)


def status(aux):
    """One `moby.buildkit.trace` aux value (base64 text) as a StatusResponse dict."""
    try:
        raw = base64.b64decode(aux, validate=True)
    except (ValueError, TypeError) as exc:
        raise TraceError(f"trace record is not base64: {exc}") from exc
    return decode(raw, STATUS_RESPONSE)


def clean(text):
    """Text fit to show: no colour codes, no carriage-return redraws, no trailing space."""
    return ANSI.sub("", text).replace("\r\n", "\n").split("\r")[-1].rstrip()


def name(vertex):
    """A vertex's name on one line: Dockerfile continuations leave runs of spaces."""
    return " ".join(clean(vertex["name"]).split())


class Running:
    """Which step is running, read from the lines Progress shows (`#n name` when a vertex
    starts, `#n DONE|CACHED|ERROR` when it ends) or the classic builder's `Step n/m : ...`:
    step(line) is the one started last and still running, or None."""

    def __init__(self):
        self.running, self.seen = {}, set()

    def step(self, line):
        tag, _, rest = line.partition(" ")
        if not (tag.startswith("#") and tag[1:].isdigit()):
            if line.startswith("Step "):   # the classic builder: one step at a time
                self.running = {"step": line}
            return self.last()
        if rest.startswith(("DONE", "CACHED", "ERROR")):
            self.running.pop(tag, None)
        elif tag not in self.seen:
            self.seen.add(tag)
            from ops.image.dockerfile import MOUNT_FLAG  # cache mounts are not the news

            self.running[tag] = f"{tag} " + " ".join(MOUNT_FLAG.sub(" ", " " + rest).split())
        return self.last()

    def last(self):
        return next(reversed(self.running.values()), None)


class Progress:
    """Follows StatusResponses: one line per vertex as it starts, is CACHED, is DONE or
    fails, like `docker build --progress=plain`; step output too when verbose.

    BuildKit resends a vertex whenever its state changes, so state is merged by digest
    and each transition is shown once.
    """

    def __init__(self, verbose=True, progress=print):
        self.verbose, self.progress = verbose, progress
        self.vertexes = {}   # digest -> merged vertex, in first-seen order
        self.numbers = {}    # digest -> the "#n" shown
        self.shown = {}      # digest -> set of transitions already shown
        self.logs = {}       # digest -> [line, ...]
        self.partial = {}    # (digest, stream) -> text after the last newline
        self.lines = []      # everything shown or showable, for the error report and log
        self.errors = []     # digests of failed vertexes, in order

    def feed(self, response):
        for vertex in response["vertexes"]:
            self._vertex(vertex)
        for entry in response["logs"]:
            self._log(entry)
        for warning in response.get("warnings", []):
            self._emit(f"WARNING: {clean(warning['short'].decode('utf-8', 'replace'))}")

    def _tag(self, digest):
        """"#n", numbered in the order vertexes are first shown, as the CLI does."""
        return f"#{self.numbers.setdefault(digest, len(self.numbers) + 1)}"

    def _vertex(self, update):
        digest = update["digest"]
        vertex = self.vertexes.setdefault(digest, {"digest": digest, "name": "",
                                                   "cached": False, "started": None,
                                                   "completed": None, "error": ""})
        for key in ("name", "error", "started", "completed"):
            if update[key]:
                vertex[key] = update[key]
        vertex["cached"] = vertex["cached"] or update["cached"]
        shown = self.shown.setdefault(digest, set())
        if "start" not in shown and (vertex["started"] or vertex["cached"] or vertex["error"]):
            shown.add("start")
            self._emit(f"{self._tag(digest)} {name(vertex)}")
        if "end" in shown or "start" not in shown:
            return
        if vertex["cached"]:
            shown.add("end")
            self._emit(f"{self._tag(digest)} CACHED")
        elif vertex["error"]:
            shown.add("end")
            self._flush(digest)
            self._emit(f"{self._tag(digest)} ERROR: {clean(vertex['error'])}")
            self.errors.append(digest)
        elif vertex["completed"]:
            shown.add("end")
            self._flush(digest)
            took = vertex["completed"] - (vertex["started"] or vertex["completed"])
            self._emit(f"{self._tag(digest)} DONE {took:.1f}s")

    def _log(self, entry):
        digest = entry["vertex"]
        key = (digest, entry["stream"])
        text = self.partial.pop(key, "") + entry["msg"].decode("utf-8", "replace")
        *complete, rest = text.split("\n")
        if rest:
            self.partial[key] = rest
        for line in complete:
            self._output(digest, line)

    def _flush(self, digest):
        for key in [k for k in self.partial if k[0] == digest]:
            self._output(digest, self.partial.pop(key))

    def _output(self, digest, line):
        line = clean(line)
        if not line:
            return
        self.logs.setdefault(digest, []).append(line)
        self._emit(f"{self._tag(digest)} {line}", output=True)

    def _emit(self, line, output=False):
        self.lines.append(line)
        if self.verbose or not output:
            self.progress(line)

    def steps(self):
        """Dockerfile steps seen, how many came from the cache and how many ran."""
        steps = [v for v in self.vertexes.values() if STEP.match(name(v))]
        # A FROM only resolves its base, reported CACHED or DONE by whim: it is neither.
        work = [v for v in steps if not FROM.match(name(v))]
        cached = sum(1 for v in work if v["cached"])
        ran = sum(1 for v in work if not v["cached"] and v["completed"] and not v["error"])
        return {"total": len(steps), "cached": cached, "ran": ran}

    def failure(self):
        """(step name, error, its last output lines) of the first failed vertex, or None."""
        if not self.errors:
            return None
        vertex = self.vertexes[self.errors[0]]
        return name(vertex), clean(vertex["error"]), self.logs.get(vertex["digest"], [])
