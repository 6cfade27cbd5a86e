"""The README's map of ops/ against the tree, and the shape the map promises: every module
listed once, every task where the map says, packages importing only those below them, no
circle, no module too long to read at once."""
import ast
import re

import pytest
from invoke import Collection

import tasks
from tests.unit.unit_support import ROOT

OPS = ROOT / "ops"
ORDER = ["core", "settings", "engine", "image", "run", "registry", "gates", "flows", "doctor",
         "cli"]
ROW = re.compile(r"^\| `(ops/[^`]+)` \| ([^|]+) \|([^|]*)\|$")
MAX_LINES = 320   # "about 300": a file read at once


def map_rows():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Layout"):]
    rows = []
    for line in section.splitlines():
        found = ROW.match(line)
        if found:
            path, owns, names = found.groups()
            rows.append((path, owns.strip(),
                         [name.strip(" `") for name in names.split(",") if name.strip()]))
    return rows


def modules():
    """{dotted name: path} of every module in ops/."""
    found = {}
    for path in OPS.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path, dotted):
    """The ops modules `path` imports, at any depth (function-level imports count too)."""
    package = dotted if path.name == "__init__.py" else dotted.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
    known = modules()
    return {name for name in names if name in known and name != dotted}


def rank(dotted):
    parts = dotted.split(".")
    return ORDER.index(parts[1]) if len(parts) > 1 and parts[1] in ORDER else None


def test_the_map_lists_every_module_once_and_nothing_else():
    listed = [path for path, _, _ in map_rows()]
    assert len(listed) == len(set(listed)), "a module is listed twice"
    tree = {str(path.relative_to(ROOT)) for path in OPS.rglob("*.py")
            if path.name != "__init__.py" or path.parent.name == "doctor"}
    assert set(listed) == tree


def test_every_task_lives_where_the_map_says():
    ns = Collection.from_module(tasks)
    placed = {}
    for path, _, names in map_rows():
        for name in names:
            placed.setdefault(name, []).append(path)
    assert set(placed) == set(ns.task_names) - {"test"}
    for name, paths in placed.items():
        body = ast.get_source_segment(
            (ROOT / "tasks.py").read_text(),
            next(node for node in ast.parse((ROOT / "tasks.py").read_text()).body
                 if isinstance(node, ast.FunctionDef) and node.name == name.replace("-", "_")))
        for path in paths:
            package, _, module = path[:-3].replace("/__init__", "").rpartition("/")
            dotted = package.replace("/", ".")
            assert re.search(rf"from {re.escape(dotted)} import [^\n]*\b{module}\b", body) or \
                f"from {dotted}.{module} import" in body or \
                re.search(rf"from ops import [^\n]*\b{module}\b", body), (name, path)


def test_ops_has_at_most_twelve_entries_and_no_module_too_long_to_read_at_once():
    entries = [p for p in OPS.iterdir() if p.name != "__pycache__"]
    assert len(entries) <= 12, sorted(p.name for p in entries)
    long = {str(p.relative_to(ROOT)): n for p in OPS.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long


def test_no_import_runs_back_up_the_package_order():
    upward = []
    for dotted, path in modules().items():
        mine = rank(dotted)
        for target in imports(path, dotted):
            theirs = rank(target)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(f"{dotted} -> {target}")
    assert not upward


def test_no_circle_among_the_modules():
    graph = {dotted: imports(path, dotted) for dotted, path in modules().items()}
    # A package's __init__ reached through its children is not an import of the child.
    graph = {name: {t for t in targets if not name.startswith(t + ".")}
             for name, targets in graph.items()}
    state, circles = {}, []

    def visit(node, trail):
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                circles.append(" -> ".join(trail[trail.index(target):] + [target]))
            elif target not in state:
                visit(target, trail + [target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not circles


@pytest.mark.parametrize("heavy", ["docker", "boto3", "botocore", "requests"])
def test_inv_list_imports_no_heavy_library(heavy):
    import subprocess
    import sys

    code = ("import sys; sys.argv = ['inv', '--list']\nfrom invoke import Program\n"
            "import io, contextlib\nout = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            "    try:\n        Program().run(['inv', '--list'])\n"
            "    except SystemExit:\n        pass\n"
            f"print({heavy!r} in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.stdout.strip().splitlines()[-1] == "False", proc.stderr
