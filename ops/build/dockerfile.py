"""The Dockerfile's RUN lines, read: their commands as BuildKit writes them into its cache records,
and the Dockerfile the classic builder can take (no `RUN --mount` flags)."""
import re

from ops.core import files
from ops.core.errors import OpsError

MOUNT_FLAG = re.compile(r"\s--mount=(?:\"[^\"]*\"|'[^']*'|\S)+")
MOUNT_FLAGS = re.compile(r"(?:[ \t]*--mount=(?:\"[^\"]*\"|'[^']*'|[^\s\\])+)+")


def read_dockerfile(path):
    """The Dockerfile's text: one line when it is missing or not a regular file (a FIFO
    would block the read forever)."""
    try:
        data = files.read_regular(path, "Dockerfile", "build-fails",
                                  fix=f"make {path} a regular file, or set tasky.dockerfile")
    except FileNotFoundError:
        raise OpsError(f"no Dockerfile at {path}", fix="run from the repository root or set "
                       "tasky.dockerfile", anchor="build-fails") from None
    except OSError as exc:
        raise OpsError(f"cannot read the Dockerfile {path}: {exc.strerror or exc}",
                       fix=f"make it readable (chmod a+r {path})", anchor="build-fails") from None
    return data.decode("utf-8", "replace")


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
