"""The one way out, as properties: any secret this invocation knows, in any form it takes,
embedded anywhere in any text and written in any pieces, never reaches the output; text
without secrets passes unchanged."""
import base64
import io
import json
from urllib.parse import quote, quote_plus

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ops.core.output import RedactingStream
from ops.core.redact import MASK, Secrets, forms

# Secrets as input allows them: printable, no control character (refused at input), 4 or more
# characters (shorter ones are refused unless public), not made of the mask's own stars.
SECRET = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
                 min_size=4, max_size=24).filter(lambda s: set(s) != {"*"})
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
# Text that cannot look like a URL password or a secret query value.
PLAIN = st.text(st.characters(blacklist_categories=("Cs",),
                              blacklist_characters=":@?&;="), max_size=60)


def variant(secret, how):
    return {"as given": secret, "percent-encoded": quote(secret, safe=""),
            "plus-encoded": quote_plus(secret), "json": json.dumps(secret)[1:-1],
            "json ascii": json.dumps(secret, ensure_ascii=False)[1:-1]}[how]


HOW = st.sampled_from(["as given", "percent-encoded", "plus-encoded", "json", "json ascii"])


def known(*values):
    secrets = Secrets()
    for value in values:
        secrets.add(value)
    return secrets


@settings(max_examples=300)
@given(secret=SECRET, how=HOW, before=TEXT, after=TEXT)
def test_a_secret_in_any_form_anywhere_never_reaches_the_output(secret, how, before, after):
    form = variant(secret, how)
    assume(len(form) >= 4)
    shown = known(secret).redact(before + form + after)
    assert form not in shown and secret not in shown


@settings(max_examples=200)
@given(secret=SECRET, user=st.from_regex(r"[a-z]{1,8}", fullmatch=True), host=PLAIN,
       before=TEXT, after=TEXT)
def test_a_url_password_is_masked_alone_decoded_and_as_base64_of_the_login(
        secret, user, host, before, after):
    uri = f"mongodb://{user}:{quote(secret, safe='')}@db.example/tasky"
    secrets = known(uri)
    secrets.add_login(user, secret)
    login = base64.b64encode(f"{user}:{secret}".encode()).decode()
    for text in (uri, secret, quote(secret, safe=""), login):
        assume(len(text) >= 4)
        shown = secrets.redact(before + text + after)
        assert secret not in shown and login not in shown


@settings(max_examples=300)
@given(secret=SECRET, how=HOW, before=TEXT, after=TEXT,
       cuts=st.lists(st.integers(0, 200), max_size=8), flushes=st.lists(st.booleans(),
                                                                         max_size=9))
def test_a_stream_never_lets_a_secret_through_however_the_writes_split_it(
        secret, how, before, after, cuts, flushes):
    form = variant(secret, how)
    assume(len(form) >= 4)
    text = before + form + after
    target = io.StringIO()
    stream = RedactingStream(target, known(secret))
    edges = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    for index, (start, end) in enumerate(zip(edges, edges[1:])):
        stream.write(text[start:end])
        if index < len(flushes) and flushes[index]:
            stream.flush()
    stream.drain()
    shown = target.getvalue()
    assert form not in shown and secret not in shown


@settings(max_examples=300)
@given(secret=SECRET, text=PLAIN, cuts=st.lists(st.integers(0, 80), max_size=6))
def test_text_without_secrets_passes_unchanged_whole_and_in_pieces(secret, text, cuts):
    assume(not any(form in text for form in forms(secret)))
    secrets = known(secret)
    assert secrets.redact(text) == text
    target = io.StringIO()
    stream = RedactingStream(target, secrets)
    edges = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    for start, end in zip(edges, edges[1:]):
        stream.write(text[start:end])
        stream.flush()
    stream.drain()
    assert target.getvalue() == text


def test_the_mask_is_what_replaces_a_secret():
    assert known("hunter2-pw").redact("password is hunter2-pw.") == f"password is {MASK}."


def test_nothing_in_ops_writes_around_the_one_way_out():
    """No raw file descriptor, no saved original stream, no child process printing straight
    to the terminal: everything reaches sys.stdout or sys.stderr, which the task redacts."""
    import ast

    from tests.unit.unit_support import ROOT

    around = []
    for path in (ROOT / "ops").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Attribute) and node.attr in ("__stdout__", "__stderr__"):
                around.append(where)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name = node.func.attr
                owner = getattr(node.func.value, "id", "")
                keywords = {k.arg for k in node.keywords}
                if (owner, name) == ("os", "write") and node.args and (
                        isinstance(node.args[0], ast.Constant) and node.args[0].value in (1, 2)
                        or "std" in ast.unparse(node.args[0])):
                    around.append(where)   # a write to the terminal's own descriptor
                if owner == "subprocess" and name in ("run", "Popen", "call", "check_call") \
                        and not keywords & {"capture_output", "stdout"}:
                    around.append(where)
    # The one exception: the third signal's exit, past all clean-up, says which signal
    # (a constant and a signal's name) on the raw descriptor, as sys.stderr may be mid-write.
    assert around == [where for where in around if where.startswith("ops/core/signals.py")]
    assert len(around) <= 1
