"""ops.image.gomod's pure parts, and the proxy builder's hashing and file selection."""
import subprocess

import pytest

from ops.core import redact
from ops.core.errors import OpsError
from ops.image import gomod, vendor
from ops.settings.config import Settings
from tests.integration import goproxy

REQUIRING = "module example.com/a\n\ngo 1.19\n\nrequire (\n\tgithub.com/gorilla/mux v1.8.0\n)\n"

# Go 1.19's own words, captured from the builder image on this machine.
GO_OFF = ("github.com/gorilla/mux@v1.8.0: module lookup disabled by GOPROXY=off")
GO_DNS = ('github.com/gorilla/mux@v1.8.0: Get "https://proxy.example/github.com/gorilla/mux/'
          '@v/v1.8.0.info": dial tcp: lookup proxy.example on 10.0.0.53:53: no such host')
GO_MISSING = ("github.com/felixge/httpsnoop@v1.0.1: reading file:///srv/goproxy/github.com/"
              "felixge/httpsnoop/@v/v1.0.1.mod: no such file or directory")
GO_SUMDB = ("go: github.com/felixge/httpsnoop@v1.0.1: verifying go.mod: github.com/felixge/"
            'httpsnoop@v1.0.1/go.mod: Get "https://sum.example/lookup/github.com/felixge/'
            'httpsnoop@v1.0.1": dial tcp: lookup sum.example on 10.0.0.53:53: connect: '
            "network is unreachable")
GO_SUM = ("verifying github.com/gorilla/mux@v1.8.0: checksum mismatch\n"
          "\tdownloaded: h1:AAA=\n\tgo.sum:     h1:BBB=\n\nSECURITY ERROR")


# --- which Go variables reach the builder ----------------------------------------------

def test_go_settings_take_the_shells_go_variables_and_the_argument_wins():
    shell = {"GOPROXY": "https://mirror.example", "GOFLAGS": "-mod=mod", "GONOSUMDB": "corp/*",
             "GOSUMDB": "", "HOME": "/root", "GOPATH": "/go"}
    assert gomod.go_settings(environ=shell) == {
        "GOPROXY": "https://mirror.example", "GOFLAGS": "-mod=mod", "GONOSUMDB": "corp/*"}
    assert gomod.go_settings("file:///srv/p", environ=shell)["GOPROXY"] == "file:///srv/p"


def test_file_proxies_are_mounted_read_only_at_the_same_path(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    mounts = gomod.proxy_mounts(f"https://a.example|file://{mirror},direct")
    assert mounts == {str(mirror): {"bind": str(mirror), "mode": "ro"}}
    assert gomod.proxy_mounts("https://a.example,direct") == {}
    assert gomod.proxy_mounts(None) == {}


def test_a_file_proxy_that_is_not_a_folder_fails_before_any_container(tmp_path):
    with pytest.raises(OpsError) as raised:
        gomod.proxy_mounts(f"file://{tmp_path}/absent")
    assert raised.value.anchor == "go-modules-offline"
    assert f"{tmp_path}/absent is not a folder here" in raised.value.message


def test_proxy_passwords_never_shown():
    shown = gomod.shown_proxy("https://bob:tok-123@goproxy.example/,direct")
    assert "tok-123" not in shown and "bob" in shown and shown.endswith(",direct")
    line = redact.redact_text('reading https://bob:tok-123@goproxy.example/x/@v/list: 410 Gone')
    assert "tok-123" not in line and "410 Gone" in line
    assert gomod.shown_proxy("") == "Go's default proxy (GOPROXY unset)"


def test_shell_only_variables_are_named_when_the_build_cannot_see_them():
    note = gomod.shell_only({}, {"GOPATH": "/go"}, environ={"GOPROXY": "file:///m"})
    assert note.startswith("this shell's GOPROXY is not passed to the build")
    assert gomod.shell_only({"GOPROXY": "file:///m"}, {}, environ={"GOPROXY": "file:///m"}) \
        is None


# --- reading Go's failures --------------------------------------------------------------

@pytest.mark.parametrize("text, cause", [
    (GO_OFF, "GOPROXY=off"),
    (GO_DNS, "cannot be reached"),
    (GO_MISSING, "does not have a required module version"),
    (GO_SUM, "different files than go.sum"),
    (GO_SUMDB, "checksum database is unreachable"),
    (GO_MISSING.replace("no such file or directory", "permission denied"), "may not read or write"),
    ("go: updates to go.mod needed; missing go.sum entry for module providing package x",
     "go.sum lacks entries"),
    ("something new", "the go command failed"),
])
def test_explain_names_the_cause(text, cause):
    assert cause in gomod.explain(text.splitlines())[0]


def test_last_error_skips_progress_lines():
    lines = ["go: downloading github.com/gorilla/mux v1.8.0", GO_DNS, "",
             "go: downloading github.com/joho/godotenv v1.5.1"]
    assert gomod.last_error(lines) == GO_DNS


def test_json_error_is_gos_error_field():
    lines = ["{", '\t"Path": "github.com/gorilla/mux",', '\t"Version": "v1.8.0",',
             '\t"Error": "github.com/gorilla/mux@v1.8.0: module lookup disabled by GOPROXY=off"',
             "}"]
    assert gomod.json_error(lines) == GO_OFF
    assert gomod.json_error(["not json"]) is None


# --- vendor/ state and git --------------------------------------------------------------

def write_module(folder, modules_txt=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "go.mod").write_text(REQUIRING)
    if modules_txt is not None:
        (folder / "vendor").mkdir()
        (folder / "vendor" / "modules.txt").write_text(modules_txt)
    return folder


def test_vendor_state_compares_versions_not_only_names(tmp_path):
    assert gomod.vendor_state(write_module(tmp_path / "none"))[0] is None
    good = write_module(tmp_path / "good", "# github.com/gorilla/mux v1.8.0\n## explicit\n")
    assert gomod.vendor_state(good) == (
        True, "1 modules vendored (vendor/modules.txt matches go.mod)")
    old = write_module(tmp_path / "old", "# github.com/gorilla/mux v1.7.4\n## explicit\n")
    consistent, detail = gomod.vendor_state(old)
    assert consistent is False and "github.com/gorilla/mux v1.8.0" in detail


def git(folder, *args):
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)


def test_warns_when_the_repositorys_gitignore_excludes_vendor(git_env, tmp_path):
    # Below tmp_path: git_env makes tmp_path a ceiling git never looks in from below.
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / ".gitignore").write_text("*.log\nvendor/\n")
    context = write_module(repo / "app", "# github.com/gorilla/mux v1.8.0\n")
    warning = gomod.ignore_warning(context)
    assert warning.startswith("git ignores vendor/ (.gitignore:2:vendor/)")
    assert "a CI clone will not have it" in warning


def test_no_warning_when_vendor_is_committed_or_not_ignored_or_no_repo(git_env, tmp_path):
    repo = tmp_path / "repo"
    context = write_module(repo / "app", "# github.com/gorilla/mux v1.8.0\n")
    assert gomod.ignore_warning(context) is None          # not a git repository
    git(repo, "init", "-q")
    assert gomod.ignore_warning(context) is None          # nothing ignores it
    (repo / ".gitignore").write_text("vendor/\n")
    assert gomod.ignore_warning(context) is not None      # the pattern alone would warn
    git(repo, "add", "-f", "app/vendor/modules.txt")
    assert gomod.ignore_warning(context) is None          # tracked despite the pattern


# --- module_access answers without a probe when it can ----------------------------------

def test_module_access_needs_no_engine_for_stdlib_or_vendored_modules(tmp_path):
    stdlib = tmp_path / "stdlib"
    stdlib.mkdir()
    (stdlib / "go.mod").write_text("module example.com/s\n\ngo 1.19\n")
    assert vendor.module_access(None, Settings(context=str(stdlib)))["ok"] is True
    # As Go writes it: a require without `## explicit` is "inconsistent vendoring".
    vendored = write_module(tmp_path / "v", "# github.com/gorilla/mux v1.8.0\n## explicit\n")
    assert vendor.module_access(None, Settings(context=str(vendored))) == {
        "ok": True, "source": "vendor",
        "reason": "1 modules vendored (vendor/modules.txt matches go.mod)"}


def test_module_access_is_false_without_go_mod_or_without_an_engine(tmp_path):
    result = vendor.module_access(None, Settings(context=str(tmp_path)))
    assert result["ok"] is False and "no go.mod" in result["reason"]
    needs = write_module(tmp_path / "needs")
    assert vendor.module_access(None, Settings(context=str(needs)))["ok"] is False


# --- the proxy builder (tests/integration/goproxy.py) -----------------------------------

def test_h1_matches_a_hash_go_itself_recorded():
    # From the go.sum Debian ships with logrus: go-spew has no go.mod, so the proxy
    # serves the module line alone.
    assert goproxy.h1([("go.mod", b"module github.com/davecgh/go-spew\n")]) == \
        "h1:J7Y8YcW2NihsgmVo/mv3lAwl/skON4iLHjSsI+c5H38="


def test_case_encoding():
    assert goproxy.escape("github.com/Sirupsen/logrus") == "github.com/!sirupsen/logrus"


def test_module_files_leave_out_vendor_nested_modules_and_symlinks(tmp_path):
    for name in ("go.mod", "a.go", "sub/b.go", "vendor/x/c.go", "nested/go.mod",
                 "nested/d.go", ".git/HEAD"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "link.go").symlink_to(tmp_path / "a.go")
    assert [rel for rel, _ in goproxy.module_files(tmp_path)] == ["a.go", "go.mod", "sub/b.go"]


# --- issue 17: vendor/ replaced whole, or not at all ---------------------------------------

def test_publish_replaces_vendor_whole_and_the_stage_goes(tmp_path):
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "old.txt").write_text("old")
    with vendor.staging(tmp_path) as stage:
        assert stage.name.startswith(".tasky-vendor-") and stage.parent == tmp_path
        (stage / "vendor").mkdir()
        (stage / "vendor" / "modules.txt").write_text("# example.com/m v1.0.0\n")
        vendor.publish(stage / "vendor", tmp_path / "vendor")
    assert sorted(p.name for p in (tmp_path / "vendor").iterdir()) == ["modules.txt"]
    assert not list(tmp_path.glob(".tasky-vendor-*"))


def test_no_dependencies_removes_vendor_as_go_does(tmp_path):
    (tmp_path / "vendor").mkdir()
    with vendor.staging(tmp_path) as stage:
        vendor.publish(stage / "vendor", tmp_path / "vendor")   # Go wrote nothing
    assert not (tmp_path / "vendor").exists()


def test_after_a_signal_vendor_is_left_as_it_was(tmp_path, monkeypatch):
    import signal

    from ops.core import signals

    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "old.txt").write_text("old")
    with pytest.raises(signals.Interrupted):
        with vendor.staging(tmp_path) as stage:
            (stage / "vendor").mkdir()
            (stage / "vendor" / "modules.txt").write_text("# example.com/m v1.0.0\n")
            monkeypatch.setattr(signals._State, "received", [signal.SIGTERM])
            vendor.publish(stage / "vendor", tmp_path / "vendor")
    assert [p.name for p in (tmp_path / "vendor").iterdir()] == ["old.txt"]
    assert not list(tmp_path.glob(".tasky-vendor-*"))
