"""OpsError: the one-line message every known failure ends as."""
from ops.core.errors import OpsError


def test_line_holds_message_fix_and_runbook_anchor():
    error = OpsError("the port is taken", fix="choose another with --port", anchor="port-in-use")
    line = error.line()
    assert "the port is taken" in line
    assert "Fix: choose another with --port" in line
    assert "RUNBOOK.md#port-in-use" in line
    assert "\n" not in line
    assert line.index("the port is taken") < line.index("Fix:") < line.index("RUNBOOK.md")


def test_line_ends_sentences_once():
    line = OpsError("it broke.", fix="do this.", anchor="x").line()
    assert ".." not in line
    assert line.startswith("it broke. Fix: do this. ")


def test_line_without_fix_or_anchor_is_just_the_message():
    line = OpsError("plain failure").line()
    assert "plain failure" in line
    assert "Fix:" not in line
    assert "RUNBOOK" not in line


def test_str_is_the_line():
    error = OpsError("m", fix="f", anchor="a")
    assert str(error) == error.line()


def test_details_are_kept_as_a_list_copy():
    lines = ("Step 3/9 : RUN go build", "compile error")
    error = OpsError("build failed", anchor="build-fails", details=lines)
    assert error.details == list(lines)
    assert OpsError("no details").details == []
    source = ["a"]
    error = OpsError("m", details=source)
    source.append("b")
    assert error.details == ["a"]


def test_attributes_are_kept():
    error = OpsError("message", fix="fix", anchor="anchor")
    assert (error.message, error.fix, error.anchor) == ("message", "fix", "anchor")
    assert isinstance(error, Exception)
