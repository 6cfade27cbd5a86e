"""Container environment: parsed strictly like docker -e / --env-file, shown only masked."""
import os

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ops.core import redact
from ops.core.errors import OpsError
from ops.settings import envvars

SECRET_VALUE = "hunter2-Sup3r-s3cret"


# --- parse_assignment -------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("KEY=VAL", ("KEY", "VAL")),
    ("MONGODB_URI=mongodb://u:p@h/db?a=b", ("MONGODB_URI", "mongodb://u:p@h/db?a=b")),
    ("EQUATION=a=b=c", ("EQUATION", "a=b=c")),
    ("K=", ("K", "")),
    ("_private1=x y", ("_private1", "x y")),
    ("lower=ok", ("lower", "ok")),
])
def test_parse_assignment_splits_at_the_first_equals(text, expected):
    assert envvars.parse_assignment(text) == expected


def test_bare_key_takes_the_value_from_this_shell(monkeypatch):
    monkeypatch.setenv("TASKY_UNIT_BARE", "from the shell")
    assert envvars.parse_assignment("TASKY_UNIT_BARE") == ("TASKY_UNIT_BARE", "from the shell")


def test_bare_key_set_to_empty_in_the_shell_is_empty(monkeypatch):
    monkeypatch.setenv("TASKY_UNIT_BARE", "")
    assert envvars.parse_assignment("TASKY_UNIT_BARE") == ("TASKY_UNIT_BARE", "")


def test_bare_key_not_set_in_the_shell_is_an_error(monkeypatch):
    monkeypatch.delenv("TASKY_UNIT_UNSET", raising=False)
    with pytest.raises(OpsError) as caught:
        envvars.parse_assignment("TASKY_UNIT_UNSET")
    assert caught.value.anchor == "bad-env"
    assert "TASKY_UNIT_UNSET" in caught.value.message


@pytest.mark.parametrize("key", ["", "1A", "A-B", "A B", "A.B", " A", "K\u00e9Y"])
def test_malformed_key_is_an_error_that_never_shows_the_value(key):
    with pytest.raises(OpsError) as caught:
        envvars.parse_assignment(f"{key}={SECRET_VALUE}")
    error = caught.value
    assert error.anchor == "bad-env"
    assert SECRET_VALUE not in error.line()
    assert SECRET_VALUE not in " ".join(error.details)
    if key.strip():
        assert key in error.message  # the user sees which key is wrong


def test_malformed_key_error_names_its_source():
    with pytest.raises(OpsError) as caught:
        envvars.parse_assignment("1A=x", source="vars.env line 7")
    assert "vars.env line 7" in caught.value.message


@pytest.mark.parametrize("text", [f"DB_PASSWORD:{SECRET_VALUE}", f"DB_PASSWORD: {SECRET_VALUE}",
                                  f"DB_PASSWORD {SECRET_VALUE}"])
def test_key_value_typo_without_equals_never_shows_the_value(text):
    with pytest.raises(OpsError) as caught:
        envvars.parse_assignment(text)
    assert SECRET_VALUE not in caught.value.line()


# --- read_env_file ----------------------------------------------------------------------

def test_env_file_skips_comments_and_blank_lines(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKY_UNIT_FROM_SHELL", "shell value")
    path = tmp_path / "app.env"
    path.write_text("# a comment\n"
                    "\n"
                    "   \n"
                    "   # an indented comment\n"
                    "PORT=8080\n"
                    "MONGODB_URI=mongodb://u:p@h/db?x=1&y=2\n"
                    "EMPTY=\n"
                    "TASKY_UNIT_FROM_SHELL\n"
                    "HASH=not#a#comment\n")
    assert envvars.read_env_file(str(path)) == {
        "PORT": "8080", "MONGODB_URI": "mongodb://u:p@h/db?x=1&y=2", "EMPTY": "",
        "TASKY_UNIT_FROM_SHELL": "shell value", "HASH": "not#a#comment"}


def test_env_file_later_lines_win(tmp_path):
    path = tmp_path / "app.env"
    path.write_text("A=first\nA=second\n")
    assert envvars.read_env_file(str(path)) == {"A": "second"}


def test_missing_env_file_is_an_error(tmp_path):
    path = tmp_path / "nope.env"
    with pytest.raises(OpsError) as caught:
        envvars.read_env_file(str(path))
    assert caught.value.anchor == "bad-env"
    assert str(path) in caught.value.message


def test_env_file_that_is_a_directory_is_an_error(tmp_path):
    with pytest.raises(OpsError) as caught:
        envvars.read_env_file(str(tmp_path))
    assert caught.value.anchor == "bad-env"
    assert str(tmp_path) in caught.value.message


def test_env_file_that_is_not_utf8_is_an_error(tmp_path):
    path = tmp_path / "latin1.env"
    path.write_bytes(b"NAME=caf\xe9\xff\n")
    with pytest.raises(OpsError) as caught:
        envvars.read_env_file(str(path))
    assert caught.value.anchor == "bad-env"
    assert str(path) in caught.value.message


def test_bad_env_file_line_reports_its_line_number_not_its_value(tmp_path):
    path = tmp_path / "app.env"
    lines = ["# header", "", "PORT=8080", f"BAD-KEY={SECRET_VALUE}", "OK=1"]
    path.write_text("\n".join(lines) + "\n")
    bad_line = lines.index(f"BAD-KEY={SECRET_VALUE}") + 1
    with pytest.raises(OpsError) as caught:
        envvars.read_env_file(str(path))
    error = caught.value
    assert error.anchor == "bad-env"
    assert f"{path} line {bad_line}" in error.message
    assert "BAD-KEY" in error.message
    assert SECRET_VALUE not in error.line()


def test_env_file_bare_key_not_in_shell_reports_its_line(tmp_path, monkeypatch):
    monkeypatch.delenv("TASKY_UNIT_UNSET", raising=False)
    path = tmp_path / "app.env"
    path.write_text("A=1\nTASKY_UNIT_UNSET\n")
    with pytest.raises(OpsError) as caught:
        envvars.read_env_file(str(path))
    assert "line 2" in caught.value.message
    assert "TASKY_UNIT_UNSET" in caught.value.message


# --- collect ----------------------------------------------------------------------------

def test_collect_flags_win_over_the_file(tmp_path):
    path = tmp_path / "app.env"
    path.write_text("PORT=8080\nMODE=file\n")
    env = envvars.collect(["MODE=flag", "EXTRA=1"], str(path))
    assert env == {"PORT": "8080", "MODE": "flag", "EXTRA": "1"}


def test_collect_without_inputs_is_empty():
    assert envvars.collect(None, None) == {}
    assert envvars.collect([], None) == {}


def test_collect_reports_a_bad_flag():
    with pytest.raises(OpsError) as caught:
        envvars.collect(["GOOD=1", f"=oops{SECRET_VALUE}"])
    assert caught.value.anchor == "bad-env"
    assert SECRET_VALUE not in caught.value.line()


# --- mask / redact_uri ------------------------------------------------------------------

@pytest.mark.parametrize("key", ["JWT_SECRET", "DB_PASSWORD", "AWS_SECRET_ACCESS_KEY", "API_TOKEN",
                                 "jwt_secret", "GITHUB_TOKEN", "PRIVATE_KEY", "SESSION_SALT"])
def test_secret_looking_keys_are_masked(key):
    shown = redact.mask(key, SECRET_VALUE)
    assert SECRET_VALUE not in shown
    assert shown == redact.MASK


PUBLIC = ("PORT", "GIN_MODE")


@pytest.mark.parametrize("key, value", [("PORT", "8080"), ("GIN_MODE", "release"),
                                        ("EMPTY", "")])
def test_allow_listed_and_empty_values_are_shown(key, value):
    assert redact.mask(key, value, PUBLIC) == value


@pytest.mark.parametrize("key, value", [("DB_PWD", "hunter2hunter2"), ("API_CREDS", "c-r-e-d-s"),
                                        ("APP_NAME", "tasky"), ("port", "not-public-case")])
def test_every_other_value_is_masked_whatever_its_name(key, value):
    assert redact.mask(key, value, ("PORTS",)) == redact.MASK


def test_a_password_in_a_url_query_is_masked():
    shown = redact.mask("DATABASE_URL", "postgres://db/x?user=u&password=Qu3ryPw", PUBLIC)
    assert "Qu3ryPw" not in shown and "postgres://db/x?user=u&password=****" == shown


def test_the_log_masker_hides_every_passed_value_and_url_passwords():
    masker = redact.Masker({"MONGODB_URI": "mongodb://tasky:Pw0rd-1@db:27017/t",
                             "SECRET_KEY": "sk-123456", "PORT": "8080"}, public=PUBLIC)
    line = ("Connecting to MongoDB at mongodb://tasky:Pw0rd-1@db:27017/t (secret sk-123456) "
            "on 8080; other redis://:Other9@cache/0")
    shown = masker.text(line)
    for secret in ("Pw0rd-1", "sk-123456", "Other9"):
        assert secret not in shown
    assert "8080" in shown


URIS = [
    # (uri, user, host, password)
    ("mongodb://tasky:{pw}@db.example.com/tasky", "tasky", "db.example.com/tasky"),
    ("mongodb://tasky:{pw}@db.example.com:27017/tasky?authSource=admin", "tasky",
     "db.example.com:27017/tasky?authSource=admin"),
    ("mongodb+srv://tasky:{pw}@cluster0.example.net", "tasky", "cluster0.example.net"),
    ("mongodb://tasky:{pw}@h1.example.com:27017,h2.example.com:27017/tasky?replicaSet=rs0",
     "tasky", "h1.example.com:27017,h2.example.com:27017/tasky?replicaSet=rs0"),
    ("postgres://tasky:{pw}@pg.example.com:5432/app", "tasky", "pg.example.com:5432/app"),
]
PASSWORDS = ["Plain5ecret", "p@ssw0rd", "pa/ss/wd", "pa?ss=wd", "pa#sswd", "pa:ss:wd",
             "x@y/z?w#v:u", "@@//??##::", "pass%40word"]


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize("template, user, host", URIS)
def test_uri_password_is_masked_user_and_host_kept(template, user, host, password):
    uri = template.format(pw=password)
    shown = redact.mask("MONGODB_URI", uri)
    assert password not in shown
    assert shown.startswith(uri.split("://")[0] + "://" + user + ":")
    assert shown.endswith("@" + host)
    assert redact.redact_uri(uri) == shown


@pytest.mark.parametrize("uri", ["mongodb://db.example.com:27017/tasky",
                                 "mongodb+srv://cluster0.example.net/tasky?retryWrites=true",
                                 "http://localhost:8080/healthz",
                                 "mongodb://tasky@db.example.com/tasky",
                                 "not a uri at all", "mailto:someone@example.com"])
def test_values_without_a_uri_password_are_unchanged(uri):
    assert redact.redact_uri(uri) == uri
    if "://" in uri:   # a URI keeps its host on show; any other value is masked
        assert redact.mask("MONGODB_URI", uri) == uri


def test_password_only_userinfo_is_masked():
    shown = redact.redact_uri("redis://:Sekr1t@cache.example.com:6379/0")
    assert "Sekr1t" not in shown
    assert shown.endswith("@cache.example.com:6379/0")


def test_secret_key_wins_even_for_a_uri():
    uri = "mongodb://tasky:pw@db.example.com/tasky"
    assert redact.mask("DB_PASSWORD_URI", uri) == redact.MASK


def test_masked_keeps_every_key_and_hides_every_secret():
    env = {"PORT": "8080", "JWT_SECRET": SECRET_VALUE,
           "MONGODB_URI": f"mongodb://tasky:{SECRET_VALUE}@db.example.com/tasky"}
    shown = redact.masked(env, ("PORT",))
    assert list(shown) == list(env)
    assert shown["PORT"] == "8080"
    assert SECRET_VALUE not in repr(shown)
    assert "db.example.com/tasky" in shown["MONGODB_URI"]


def test_raw_log_secrets_names_a_passed_value_the_app_printed_in_any_form_never_a_public_one():
    from ops.run import containers
    from ops.settings.config import App, Settings

    class Image:
        attrs = {"Config": {"Env": ["PATH=/bin"]}}

    class Container:
        image = Image()
        attrs = {"Config": {"Env": ["PATH=/bin", "MONGODB_URI=mongodb://u:p%40ss-word@db/x",
                                    "TZ=Europe/Paris", "API_KEY=key-12345"]}}

    settings = Settings(app=App(public_env=("TZ",), secret_env=()))
    log = "connected with p@ss-word to db; zone Europe/Paris"
    assert containers.raw_log_secrets(Container(), settings, log) == ["MONGODB_URI"]
    assert containers.raw_log_secrets(Container(), settings, "nothing here") == []
    # A name in secret_env is never public, even when public_env lists it too.
    both = Settings(app=App(public_env=("TZ",), secret_env=("TZ",)))
    assert containers.raw_log_secrets(Container(), both, log) == ["MONGODB_URI", "TZ"]


@given(text=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="="),
                    min_size=4, max_size=30))
def test_a_value_given_without_its_name_is_never_echoed(text):
    """`-e s3cr3t-value` (the NAME= forgotten): nothing of it reaches the error, unless what
    precedes the first odd character is a conventional NAME, which alone is shown."""
    import re

    prefix = re.match(r"[A-Za-z0-9_]*", text).group()
    windows = {text[i:i + 4] for i in range(len(text) - 3)}
    # Words of the messages themselves ("with", "name") say nothing of the value.
    template = " ".join(refusal(example) for example in ("(x", "zz9", "\x01zz", "zz\x01"))
    assume(text not in os.environ and not envvars.looks_like_a_name(prefix))
    assume(not any(window in template for window in windows))
    said = refusal(text)
    assert not [window for window in windows if window in said]


def refusal(text):
    with pytest.raises(OpsError) as caught:
        envvars.parse_assignment(text)
    return caught.value.line()
