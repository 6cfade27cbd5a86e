"""The Dockerfile's RUN lines, read: their commands as BuildKit writes them into its cache records,
the Dockerfile the classic builder can take (no `RUN --mount` flags), and the one BuildKit is
sent (this checkout's cache scope written in)."""
import re

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


def classic_dockerfile(text):
    """The Dockerfile without `RUN --mount=...` flags, for the classic builder.

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
    return "".join(out)


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
