"""Tables for people, JSON for machines."""
import json
from pathlib import Path

import pytest

from ops.core import console


def parse_table(text):
    """Split a tabulate 'simple' table into (headers, rows) using its dashes line."""
    lines = text.splitlines()
    dashes = lines[1]
    assert set(dashes) <= {"-", " "}, text
    spans, start = [], None
    for i, ch in enumerate(dashes + " "):
        if ch == "-" and start is None:
            start = i
        elif ch == " " and start is not None:
            spans.append((start, i))
            start = None
    spans[-1] = (spans[-1][0], None)  # the last column may be wider than its dashes

    def cells(line):
        return [line[a:b].strip() for a, b in spans]
    return cells(lines[0]), [cells(line) for line in lines[2:]]


COLUMNS = [("name", "image name"), ("ok", "passed"), ("missing", "value"), ("env", "env"),
           ("size", "MB"), ("tags", "tags")]


def test_table_renders_rows_under_the_given_headers():
    rows = [{"name": "tasky", "ok": True, "missing": None, "env": {"PORT": "8080", "A": "b"},
             "size": 15.5, "tags": ["abc1234", "latest"]},
            {"name": "other", "ok": False, "missing": "x", "env": {}, "size": 16.0, "tags": []}]
    headers, body = parse_table(console.table(rows, COLUMNS))
    assert headers == [header for _, header in COLUMNS]
    assert body[0] == ["tasky", "yes", "-", "PORT=8080, A=b", "15.5", "abc1234, latest"]
    assert body[1] == ["other", "no", "x", "-", "16", ""]


def test_table_ignores_keys_not_asked_for_and_marks_missing_ones():
    headers, body = console.table([{"a": "1", "secret": "hidden"}], [("a", "A"), ("b", "B")]), None
    assert "hidden" not in headers
    headers, body = parse_table(headers)
    assert headers == ["A", "B"]
    assert body == [["1", "-"]]


def test_table_keeps_numeric_looking_strings_as_written():
    _, body = parse_table(console.table([{"id": "0012", "v": "1e3"}], [("id", "id"), ("v", "v")]))
    assert body == [["0012", "1e3"]]


def test_emit_json_prints_valid_json_equal_to_the_data(capsys):
    data = {"image": "tasky", "tags": ["abc", "latest"], "size_mb": 15.2, "passed": True,
            "nested": {"n": None}}
    called = []
    returned = console.emit(data, True, lambda r: called.append(r) or "TABLE")
    out = capsys.readouterr().out
    assert json.loads(out) == data
    assert returned is data
    assert called == []  # the human renderer is not used for machines


def test_emit_json_serialises_paths_as_strings(capsys):
    console.emit({"root": Path("/srv/tasky")}, True, str)
    assert json.loads(capsys.readouterr().out) == {"root": "/srv/tasky"}


def test_emit_table_prints_the_rendering(capsys):
    console.emit([1, 2], False, lambda rows: f"{len(rows)} rows")
    captured = capsys.readouterr()
    assert captured.out == "2 rows\n"
    assert captured.err == ""


def test_progress_goes_to_stderr_so_stdout_stays_parseable(capsys):
    console.progress("Step 1/2 : FROM x")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "Step 1/2 : FROM x\n"


@pytest.mark.parametrize("text, width", [("short", 10), ("exactly10!", 10), ("", 5)])
def test_shorten_keeps_text_that_fits(text, width):
    assert console.shorten(text, width) == text


@pytest.mark.parametrize("width", [5, 10, 90])
def test_shorten_cuts_long_text_to_the_width_with_an_ellipsis(width):
    text = "COPY --from=build /src/tasky /app/tasky && " * 5
    shown = console.shorten(text, width)
    assert len(shown) == width
    assert shown.endswith("...")
    assert text.startswith(shown[:-3])


@pytest.mark.parametrize("value, expected", [(None, False), ("", False), ("0", False),
                                             ("false", False), ("No", False), ("true", True),
                                             ("1", True), ("yes", True)])
def test_in_ci_reads_the_ci_variable(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert console.in_ci() is expected
