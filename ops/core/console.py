"""How results reach a person (tables) or a machine (--json)."""
import json
import os
import sys
import time


def table(rows, columns):
    """A tabulate table of dict rows; columns is [(key, header), ...]."""
    from tabulate import tabulate

    body = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    return tabulate(body, headers=[header for _, header in columns], tablefmt="simple",
                    disable_numparse=True)


def _cell(value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


class Stdout:
    """What this task has written on stdout: once its result is there, a failure after it
    prints no second JSON document."""
    has_result = False


STDOUT = Stdout()


def emit(result, as_json, render):
    """Print result as JSON, or through render(result) for people. Returns result."""
    STDOUT.has_result = True
    if as_json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(render(result))
    return result


def in_ci():
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


class Shown:
    """When stderr last showed a person something, or (until then) when the task began: the
    silence every heartbeat (ops/core/heartbeat.py) measures."""

    def __init__(self):
        self.at = time.monotonic()


SHOWN = Shown()


def progress(line):
    """Progress for people goes to stderr so stdout stays parseable."""
    print(line, file=sys.stderr, flush=True)
    SHOWN.at = time.monotonic()


def shorten(text, width):
    return text if len(text) <= width else text[:width - 3] + "..."


class Steps:
    """The rows of a multi-step task (demo, release): each step's result and its seconds."""

    def __init__(self, task, progress):
        self.task, self.progress, self.rows = task, progress, []
        self.started = time.monotonic()

    def done(self, name, result):
        """Record a step that ran since the previous one (or since the task began)."""
        now = time.monotonic()
        self.rows.append({"step": name, "result": result,
                          "seconds": round(now - self.started, 2)})
        self.progress(f"{self.task}: {name}: {result}")
        self.started = now
