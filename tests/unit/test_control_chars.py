"""Issue 17, class "input": a control character in a value is refused by every parser that
takes one, by its position, never its content; a value without one passes unchanged.

The characters refused (ops.settings.validate.CONTROL): every C0 control but tab, DEL, every
C1 control (NEL U+0085 among them), and U+2028 / U+2029: a superset of the boundaries
str.splitlines() breaks at (checked below over all of Unicode).

The parsers: -e KEY=VALUE, a bare -e KEY whose value comes from this shell, an env file's
line, --build-arg KEY=VALUE, the shell's Go variables a build passes on, --version.

What the refusal may say of the value: its shape (where the control character is, which one,
how many more), nothing else. Stated as a property: the message is the one a value of the
same shape with every other character replaced gives, so no 4-character piece of the value
reaches it except one that the message's own words hold whatever the value (a value that
happens to contain "line" may meet the word "line"); and the value itself never appears.
"""
import sys

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from ops.core import redact
from ops.core.errors import OpsError
from ops.image import build_args
from ops.settings import envvars, validate
from ops.settings.config import Settings

CONTROLS = ([chr(c) for c in range(0x20) if c != 0x09] + ["\x7f"]
            + [chr(c) for c in range(0x80, 0xA0)] + ["\u2028", "\u2029"])
PLAIN = st.one_of(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), st.just("\t"))
NEUTRAL = "\u00b7"   # stands for every character that is not a control character

KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
SETTINGS = Settings()
BUILD_KEYS = KEYS.filter(lambda k: k not in build_args.RESERVED and not redact.looks_secret(k)
                         and k not in SETTINGS.app.secret_env)


ANY_CONTROL = st.sampled_from(CONTROLS)


def with_control(controls=ANY_CONTROL, plain=PLAIN):
    """Text holding at least one control character, anywhere, among any other characters."""
    return st.builds(lambda head, char, tail: head + char + tail, st.text(plain, max_size=12),
                     controls, st.text(st.one_of(plain, controls), max_size=12))


def shape(value):
    return "".join(c if validate.CONTROL.match(c) else NEUTRAL for c in value)


def refusal(parse, value):
    with pytest.raises(OpsError) as caught:
        parse(value)
    return caught.value.line()


def assert_says_only_its_shape(parse, value, *words):
    line = refusal(parse, value)
    template = refusal(parse, shape(value))
    assert line == template   # nothing of the value but where its control characters are
    assert value not in line
    pieces = {value[i:i + 4] for i in range(len(value) - 3)}
    leaked = {piece for piece in pieces if piece in line and piece not in template}
    assert not leaked, line
    assert "\n" not in line and not validate.CONTROL.search(line)
    first = validate.CONTROL.search(value).start() + 1
    for word in (f"character {first}", *words):
        assert word in line, line
    return line


def test_every_line_boundary_of_splitlines_is_refused():
    breaks = [chr(c) for c in range(sys.maxunicode + 1)
              if not 0xD800 <= c <= 0xDFFF and len(f"a{chr(c)}b".splitlines()) > 1]
    assert breaks and all(validate.CONTROL.match(c) for c in breaks)
    assert not validate.CONTROL.match("\t")
    assert [c for c in CONTROLS if not validate.CONTROL.match(c)] == []


# --- -e KEY=VALUE, and a bare -e KEY from this shell -------------------------------------

@settings(max_examples=300)
@given(key=KEYS, value=with_control())
@example(key="A", value="1\x0c2")                 # the form feed that split a variable in two
@example(key="DB", value="hunter2\u2028hunter2")
def test_an_env_value_with_a_control_character_is_refused_by_its_position(key, value):
    line = assert_says_only_its_shape(lambda v: envvars.parse_assignment(f"{key}={v}"), value,
                                      f"-e {key}")
    assert "RUNBOOK.md#bad-env" in line


@settings(max_examples=200)
@given(key=KEYS, value=st.text(PLAIN, max_size=30))
def test_an_env_value_without_one_is_returned_unchanged(key, value):
    assert envvars.parse_assignment(f"{key}={value}") == (key, value)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=KEYS, value=with_control(st.sampled_from([c for c in CONTROLS if c != "\x00"])))
def test_a_value_from_this_shell_is_held_to_the_same_rule(monkeypatch, key, value):
    def parse(text):
        monkeypatch.setenv(key, text)
        return envvars.parse_assignment(key)

    assert_says_only_its_shape(parse, value, "from this shell")


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=KEYS, value=st.text(PLAIN, max_size=30))
def test_a_clean_value_from_this_shell_is_unchanged(monkeypatch, key, value):
    monkeypatch.setenv(key, value)
    assert envvars.parse_assignment(key) == (key, value)


# --- env files -----------------------------------------------------------------------------

def file_parser(tmp_path, key):
    """An env file whose third line is KEY=value (a comment and a blank line before it)."""
    def parse(value):
        path = tmp_path / "app.env"
        path.write_bytes(f"# made by the test\n\n{key}={value}\nLAST=1\n".encode())
        return envvars.read_env_file(path)
    return parse


# '\n' is the file's own line end, and a '\r' before it its Windows form: neither can be
# inside a value written to a file. A NUL makes it a binary file, refused as such.
IN_FILES = [c for c in CONTROLS if c not in ("\n", "\x00")]


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=KEYS, value=with_control(st.sampled_from(IN_FILES)))
@example(key="A", value="1\x0c2")
@example(key="A", value="1\r2")
def test_an_env_file_value_with_a_control_character_is_refused_by_line_and_position(
        tmp_path, key, value):
    assume(not value.endswith("\r") and not value.rstrip(" \t").endswith("\r"))
    line = assert_says_only_its_shape(file_parser(tmp_path, key), value, "line 3", key)
    assert "RUNBOOK.md#bad-env" in line


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=KEYS, head=st.text(PLAIN, max_size=8), tail=st.text(PLAIN, max_size=8))
def test_a_nul_in_an_env_file_is_a_binary_file_on_its_line_never_quoted(tmp_path, key, head,
                                                                         tail):
    value = head + "\x00" + tail
    line = refusal(file_parser(tmp_path, key), value)
    assert "binary" in line and "line 3" in line
    assert line == refusal(file_parser(tmp_path, key), shape(value))


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=KEYS, value=st.text(PLAIN, max_size=30))
def test_an_env_file_value_without_one_is_returned_unchanged(tmp_path, key, value):
    assume(value == value.rstrip(" \t"))   # a line's trailing blanks are no part of it
    assert file_parser(tmp_path, key)(value) == {key: value, "LAST": "1"}


def test_crlf_line_ends_are_line_ends_and_a_lone_form_feed_line_is_blank(tmp_path):
    path = tmp_path / "windows.env"
    path.write_bytes(b"A=1\r\n\x0c\r\nB=two words\r\n")
    assert envvars.read_env_file(path) == {"A": "1", "B": "two words"}


# --- build args: --build-arg and the shell's Go variables ------------------------------------

def build_arg_parser(key):
    return lambda value: build_args.parse_build_args([f"{key}={value}"], SETTINGS, environ={})


@settings(max_examples=200)
@given(key=BUILD_KEYS, value=with_control())
@example(key="GOFLAGS", value="-mod=vendor\n-x")   # the newline --build-arg once accepted
def test_a_build_arg_with_a_control_character_is_refused_by_its_position(key, value):
    line = assert_says_only_its_shape(build_arg_parser(key), value, f"--build-arg {key}")
    assert "RUNBOOK.md#bad-flag" in line


@settings(max_examples=200)
@given(key=BUILD_KEYS, value=st.text(PLAIN, max_size=30))
def test_a_build_arg_without_one_is_returned_unchanged(key, value):
    assume(not validate.URL_USERINFO.search(value))   # credentials: the next class's refusal
    assert build_args.parse_build_args([f"{key}={value}"], SETTINGS, environ={}) == {key: value}


GO_NAMES = st.sampled_from(["GOPROXY", "GOSUMDB", "GONOSUMDB", "GOFLAGS", "GOPRIVATE"])


@settings(max_examples=150)
@given(name=GO_NAMES, value=with_control(st.sampled_from([c for c in CONTROLS if c != "\x00"])))
def test_a_go_variable_of_this_shell_with_one_is_refused_before_the_build(name, value):
    assert_says_only_its_shape(
        lambda v: build_args.parse_build_args((), SETTINGS, environ={name: v}), value, name)


@settings(max_examples=150)
@given(name=GO_NAMES, value=st.text(PLAIN, min_size=1, max_size=30))
def test_a_clean_go_variable_of_this_shell_is_passed_on_unchanged(name, value):
    assume(not validate.URL_USERINFO.search(value) and "file://" not in value)
    assert build_args.shell_go_args({}, environ={name: value}) == ({name: value}, False)


# --- --version -----------------------------------------------------------------------------

@settings(max_examples=200)
@given(value=with_control(plain=st.sampled_from("abcXYZ019._+-")))
@example(value="v1.2\n3")
def test_a_version_with_a_control_character_is_refused_by_its_position(value):
    line = assert_says_only_its_shape(lambda v: validate.version(v, "--version"), value,
                                      "--version")
    assert "RUNBOOK.md#bad-flag" in line


@given(value=st.from_regex(validate.VERSION, fullmatch=True))
def test_a_version_without_one_is_returned_unchanged(value):
    assert validate.version(value, "--version") == value
