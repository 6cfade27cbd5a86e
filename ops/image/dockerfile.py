"""The Dockerfile's RUN lines, read: their commands as BuildKit writes them into its cache records,
the Dockerfile the classic builder can take (no `RUN --mount` flags), and the one BuildKit is
sent (this checkout's cache scope written in)."""
import re

from ops.core.errors import OpsError

CACHE_ARG = "TASKY_CACHE"   # the build arg that names the cache scope in the Dockerfile
MOUNT_FLAG = re.compile(r"\s--mount=(?:\"[^\"]*\"|'[^']*'|\S)+")
MOUNT_FLAGS = re.compile(r"(?:[ \t]*--mount=(?:\"[^\"]*\"|'[^']*'|[^\s\\])+)+")


def run_commands(dockerfile):
    """The shell command of each RUN instruction, mount flags removed, whitespace
    collapsed: what BuildKit writes into its cache records' descriptions."""
    joined = re.sub(r"\\[ \t]*\n", " ", dockerfile)
    commands = set()
    for line in joined.splitlines():
        found = re.match(r"^\s*RUN\s+(.*)$", line, re.IGNORECASE)
        if found:
            command = MOUNT_FLAG.sub(" ", " " + found.group(1))
            commands.add(" ".join(command.split()))
    return commands


def instructions(text):
    """(first line number, keyword in upper case, the rest) of each instruction, its
    continuation lines joined and the comment lines inside it left out."""
    found, start, parts = [], None, []
    for number, line in enumerate(text.splitlines(), start=1):
        if start is None:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            start = number
        elif line.lstrip().startswith("#"):
            continue
        continued = re.search(r"\\[ \t]*$", line)
        parts.append(line[:continued.start()] if continued else line)
        if not continued:
            keyword, _, rest = " ".join(parts).strip().partition(" ")
            found.append((start, keyword.upper(), rest.strip()))
            start, parts = None, []
    return found


MODULE_DOWNLOAD = re.compile(r"\bgo\s+mod\s+download\b")
# A step that reads GOFLAGS or tests for vendor/ decides for itself whether to download.
VENDOR_GUARD = re.compile(r"\$\{?GOFLAGS\b|(?:\[\[?|\btest)\s+-[defs]\s+\S*vendor\b")


def module_downloads(text):
    """(line number, guarded) of each RUN that runs `go mod download`: guarded when the same
    step reads GOFLAGS or tests for vendor/, as the project's Dockerfile does; an unguarded
    one goes to the network whether vendor/ holds the modules or not."""
    found = []
    for number, keyword, rest in instructions(text):
        command = MOUNT_FLAG.sub(" ", " " + rest)
        # The exec form (["go", "mod", "download"]) read as the shell form.
        if keyword == "RUN" and MODULE_DOWNLOAD.search(re.sub(r'[\[\]",]', " ", command)):
            found.append((number, bool(VENDOR_GUARD.search(command))))
    return found


def declares_arg(text, name):
    """True when an ARG instruction declares `name` (with or without a default)."""
    return any(keyword == "ARG" and name in [word.split("=", 1)[0] for word in rest.split()]
               for _, keyword, rest in instructions(text))


# `FROM --platform=$BUILDPLATFORM`: the build stage runs natively and cross-compiles. The
# classic builder sets no BUILDPLATFORM and fails to parse the empty value; it builds only
# for its own platform, which is what the flag names there anyway.
BUILD_PLATFORM = re.compile(
    r"^(\s*FROM)\s+--platform=(?:\$BUILDPLATFORM|\$\{BUILDPLATFORM\})(?=\s)",
    re.IGNORECASE | re.MULTILINE)


def classic_dockerfile(text):
    """The Dockerfile without `RUN --mount=...` flags and `FROM --platform=$BUILDPLATFORM`,
    for the classic builder.

    The cache mounts only make builds faster, so the result builds the same image. Lines
    that held nothing but mount flags go with them, so `RUN --mount=... \\` over
    `    go mod download` becomes `RUN go mod download` again.
    """
    out, run = [], None     # run: "RUN" while its leading flags are being removed
    for line in text.splitlines(keepends=True):
        head = None if run else re.match(r"^\s*RUN(?=\s)", line, re.IGNORECASE)
        if not (run or head) or (run and line.lstrip().startswith("#")):
            out.append(line)    # not a RUN, or a comment inside one
            continue
        prefix = head.group(0) if head else ""
        flags = MOUNT_FLAGS.match(line, len(prefix))
        if not flags:
            out.append(line if head else run + " " + line.lstrip(" \t"))
            run = None
            continue
        rest = line[flags.end():]
        if rest.strip() == "\\":
            run = run or prefix     # only flags here: the command starts on a later line
            continue
        out.append((run or prefix) + " " + rest.lstrip(" \t"))
        run = None
    return BUILD_PLATFORM.sub(r"\1", "".join(out))


def read(path):
    """The Dockerfile's text, read once the build has checked it is there: one line when it
    is missing, not a regular file (a FIFO would block the read forever) or not UTF-8 (the
    line and byte named), never a traceback."""
    from ops.core import files
    from ops.core.errors import OpsError

    fix = "point tasky.dockerfile at the Dockerfile, a UTF-8 text file"
    try:
        data = files.read_regular(path, "Dockerfile", "build-fails", fix=fix)
    except FileNotFoundError:
        raise OpsError(f"no Dockerfile at {path}", fix="run from the repository root or set "
                       "tasky.dockerfile", anchor="build-fails") from None
    except OSError as exc:
        raise OpsError(f"cannot read the Dockerfile {path}: {exc.strerror or exc}",
                       fix=f"make it readable (chmod a+r {path})", anchor="build-fails") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise OpsError(f"the Dockerfile {path} is not UTF-8 text (line {line}, byte "
                       f"{exc.start})", fix="save it as UTF-8 (iconv -t UTF-8)",
                       anchor="build-fails") from None


def with_cache_scope(text, scope):
    """The Dockerfile with `${TASKY_CACHE}` written out as `scope` (ownership's cache scope).

    Engine 20.10's built-in Dockerfile frontend expands no build arg in `--mount` options, so
    `id=tasky-ops-gomod-${TASKY_CACHE}` would name one cache for every project; and BuildKit
    shows neither that id nor labels on its cache records, only the RUN line's command. Written
    out, the scope keeps each checkout's Go caches apart and lets its builds find (and record)
    the cache records they made. The build arg stays for the shell and for other builders.
    """
    if not re.fullmatch(r"[0-9a-f]{16,64}", scope):
        raise ValueError(f"not a cache scope: {scope!r}")
    return text.replace("${" + CACHE_ARG + "}", scope)


GO_BUILD = re.compile(r"(?:^|[\s;&|(])go\s+build\b")
OUTPUT = re.compile(r"(?<=\s)-o(?:\s+|=)(\"[^\"]+\"|'[^']+'|[^\s;&|]+)")


def go_build_step(text):
    """What `inv dev`'s fast path takes from the Dockerfile: its one `go build` RUN line and
    where the release stage serves that binary from. Returns {"line", "command" (mount flags
    removed), "base" (the build stage's FROM), "workdir", "args" (the stage's ARG defaults),
    "output", "argv" (the release stage's ENTRYPOINT + CMD after the binary)}; raises
    ValueError with the reason when the Dockerfile does not say all of that plainly."""
    import json
    import posixpath

    stages, known = [], {}
    for number, keyword, rest in instructions(text):
        if keyword == "FROM":
            found = re.match(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", rest, re.IGNORECASE)
            stages.append({"name": (found.group(2) or "").lower(), "base": found.group(1),
                           "workdir": "/", "args": {}, "runs": [], "copies": [],
                           "entry": None, "cmd": None})
        elif keyword == "ARG":
            for word in rest.split():
                name, has, value = word.partition("=")
                value = value.strip("\"'") if has else known.get(name)
                (stages[-1]["args"] if stages else known)[name] = value
        elif not stages:
            continue
        elif keyword == "WORKDIR":
            stages[-1]["workdir"] = posixpath.join(stages[-1]["workdir"], rest.strip("\"' "))
        elif keyword == "RUN":
            command = " ".join(MOUNT_FLAG.sub(" ", " " + rest).split())
            if GO_BUILD.search(command):
                stages[-1]["runs"].append((number, command))
        elif keyword == "COPY":
            words = rest.split()
            source = [w.split("=", 1)[1] for w in words if w.startswith("--from=")]
            paths = [w for w in words if not w.startswith("--")]
            if source and len(paths) >= 2:
                stages[-1]["copies"].append((source[0].lower(), paths[:-1], paths[-1]))
        elif keyword in ("ENTRYPOINT", "CMD"):
            try:
                form = json.loads(rest)
            except ValueError:
                form = rest   # the shell form: not a binary and its arguments
            stages[-1]["entry" if keyword == "ENTRYPOINT" else "cmd"] = form
    builds = [(index, line, command) for index, stage in enumerate(stages)
              for line, command in stage["runs"]]
    if len(builds) != 1:
        raise ValueError("it has no RUN with `go build`" if not builds else
                         "it has more than one RUN with `go build` (lines "
                         + ", ".join(str(line) for _, line, _ in builds) + ")")
    index, line, command = builds[0]
    stage, release = stages[index], stages[-1]
    found = OUTPUT.search(command)
    if not found or "$" in found.group(1):
        raise ValueError(f"its `go build` (line {line}) names no plain -o output")
    output = posixpath.join(stage["workdir"], found.group(1).strip("\"'"))
    served = None
    for source, sources, dest in release["copies"]:
        if source in (stage["name"], str(index)) and any(
                posixpath.join(stage["workdir"], s) == output for s in sources):
            dest = posixpath.join(release["workdir"], dest)
            served = posixpath.join(dest, posixpath.basename(output)) if (
                dest.endswith("/") or dest.endswith("/.")) else dest
    served = served and posixpath.normpath(served)
    program = [*(release["entry"] or []), *(release["cmd"] or [])] if all(
        isinstance(form, (list, type(None))) for form in (release["entry"], release["cmd"])) \
        else []
    if served is None:
        raise ValueError(f"its last stage copies no {output} from the `go build` stage")
    if not program or posixpath.normpath(posixpath.join(release["workdir"], program[0])) \
            != served:
        raise ValueError(f"its last stage does not run {served} in the exec form "
                         "(ENTRYPOINT [\"...\"])")
    return {"line": line, "command": command, "base": stage["base"],
            "workdir": stage["workdir"], "args": stage["args"], "output": output,
            "argv": program[1:]}


def with_output(command, path):
    """The `go build` command writing its binary to `path` instead."""
    return OUTPUT.sub(lambda _: "-o " + path, command, count=1)


FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE)


def check_offline_froms(path):
    """--offline swaps bases through the GO_IMAGE/RUNTIME_IMAGE build args: a FROM that
    names an image itself would go to Docker Hub anyway. Name the line and the fix."""
    if not path.is_file():
        return   # the build's own check names a missing Dockerfile
    stages = set()
    for number, line in enumerate(read(path).splitlines(), start=1):
        match = FROM.match(line)
        if not match:
            continue
        image, stage = match.group(1), match.group(2)
        if "$" not in image and image.lower() not in stages and image != "scratch":
            raise OpsError(f"--offline cannot swap the base of {path.name} line {number} "
                           f"(`FROM {image}`): it names the image instead of a build arg",
                           fix="declare `ARG GO_IMAGE=golang:1.19` (and RUNTIME_IMAGE) before "
                               "the first FROM and write `FROM ${GO_IMAGE}`, as the project's "
                               "Dockerfile does", anchor="offline-bases")
        if stage:
            stages.add(stage.lower())
