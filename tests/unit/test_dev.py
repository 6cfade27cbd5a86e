"""ops.flows.dev's pure parts: which saves rebuild, the per-cycle version, the cycle lines, and the
loop's decisions with the engine side faked (the real loop: tests/integration/test_dev.py)."""
import pytest

from ops.flows import dev, dev_changes
from ops.flows.dev_changes import classify
from ops.settings.config import Settings

PATTERNS = [".git", "tasky", "*.test", "README.md", "Dockerfile", ".dockerignore"]


@pytest.fixture
def context(tmp_path):
    root = tmp_path / "app"
    (root / "assets").mkdir(parents=True)
    (root / ".dockerignore").write_text("# comment\n.git\n\ntasky\n*.test\nREADME.md\n")
    return root


def changed(context, *names):
    return {str(context / name) for name in names}


def test_go_sources_rebuild_assets_are_mounted_and_ignored_files_do_nothing(context):
    found = classify(changed(context, "store.go", "go.mod", "assets/app.js", "README.md",
                                 "tasky", "assets/img/logo.svg"), context, PATTERNS)
    assert found == {"rebuild": ["go.mod", "store.go"],
                     "mounted": ["assets/app.js", "assets/img/logo.svg"],
                     "ignored": ["README.md", "tasky"]}


def test_a_new_go_file_in_a_package_directory_rebuilds(context):
    assert classify(changed(context, "internal/db/db.go"), context, [])["rebuild"] == \
        ["internal/db/db.go"]


def test_editing_the_dockerignore_rebuilds_even_though_it_is_not_copied(context):
    assert classify(changed(context, ".dockerignore"), context, PATTERNS)["rebuild"] == \
        [".dockerignore"]


def test_a_dockerfile_inside_the_context_never_reaches_the_image(context):
    # build.context_tar always leaves the context's own Dockerfile out.
    assert classify(changed(context, "Dockerfile"), context, [])["ignored"] == ["Dockerfile"]


def test_paths_outside_the_context_are_ignored(context, tmp_path):
    found = classify({str(tmp_path / "elsewhere.go")}, context, [])
    assert found["rebuild"] == [] and found["ignored"] == [str(tmp_path / "elsewhere.go")]


def test_ignore_patterns_read_the_context_dockerignore(context, tmp_path):
    assert dev_changes.ignore_patterns(context) == [".git", "tasky", "*.test", "README.md"]
    assert dev_changes.ignore_patterns(tmp_path) == []


def test_each_cycle_bakes_a_version_of_its_own():
    version = dev_changes.cycle_version("v1.2.0-3-gabc1234-dirty", 7)
    assert version == "v1.2.0-3-gabc1234-dirty+dev.7"
    assert dev_changes.cycle_version("dev", 1) != dev_changes.cycle_version("dev", 2)


def test_named_lists_a_few_changed_files_then_counts():
    assert dev_changes.named(["a.go"]) == "a.go"
    many = ["a.go", "b.go", "c.go", "d.go", "e.go"]
    assert dev_changes.named(many) == "a.go, b.go, c.go and 2 more"


RECORD = {"cycle": 4, "changed": ["store.go"], "version": "dev+dev.4", "build_s": 1.234,
          "builder": "BuildKit (Engine API, version=2)", "healthy_s": 0.31, "total_s": 1.61,
          "url": "http://localhost:8080/", "serving": "dev+dev.4", "action": "rebuilt"}


def test_a_rebuild_line_says_what_changed_the_build_time_and_the_time_to_healthy():
    assert dev_changes.render(RECORD) == (
        "dev 4: store.go changed: built in 1.23s (BuildKit), healthy in 0.31s (1.61s in all); "
        "serving dev+dev.4 at http://localhost:8080/")


def test_the_first_cycle_says_start():
    assert dev_changes.render({**RECORD, "cycle": 1, "changed": None, "action": "started"}) \
        .startswith("dev 1: start: built in")


def test_a_failed_build_line_names_the_error_and_what_is_still_served():
    line = dev_changes.render({**RECORD, "action": "build-failed",
                               "error": "build failed at [build 6/6] RUN go build: exit code: 2",
                               "serving": "dev+dev.3"})
    assert "build FAILED after 1.23s" in line and "exit code: 2" in line
    assert line.endswith("still serving dev+dev.3")
    first = dev_changes.render({**RECORD, "action": "build-failed", "error": "x", "serving": None})
    assert first.endswith("fix and save to retry")


def test_a_container_that_fails_to_start_says_the_previous_one_is_back():
    line = dev_changes.render({**RECORD, "action": "start-failed", "error": "exited at start with "
                       "code 1", "serving": "dev+dev.3"})
    assert "the new container failed: exited at start with code 1" in line
    assert line.endswith("back to serving dev+dev.3")


def test_an_asset_change_says_no_rebuild():
    line = dev_changes.render({"cycle": None, "changed": ["assets/app.js"], "action": "mounted"})
    assert line == "dev: assets/app.js changed: served from the mount, no rebuild (reload the page)"


# --- the loop's decisions, engine side faked -------------------------------------------------

class FakeLoop:
    """Stands in for dev.Loop: records what the loop asked of it."""
    made = []
    fast = None   # a fast path, when the test gives one

    def __init__(self, engine, settings, git, env, offline, progress):
        self.settings, self.serving, self.rebuilt, self.closed = settings, None, [], False
        self.quick_ones = []
        FakeLoop.made.append(self)

    def quick(self, changed):
        self.quick_ones.append(changed)
        return {"cycle": None, "changed": changed, "action": "rebuilt", "path": "go build"}

    def rebuild(self, changed):
        self.rebuilt.append(changed)
        self.serving = ("sha256:x", f"dev+dev.{len(self.rebuilt)}")
        return {"cycle": len(self.rebuilt), "changed": changed, "action": "rebuilt"}

    def close(self):
        self.closed = True
        return {"container_removed": "c", "kept": "i:dev", "removed_images": []}


@pytest.fixture
def faked(monkeypatch, context):
    FakeLoop.made = []
    monkeypatch.setattr(dev, "Loop", FakeLoop)
    monkeypatch.setattr(dev, "choose_offline", lambda *a: True)
    monkeypatch.setattr(dev.containers, "refuse_conflicts", lambda *a: None)
    monkeypatch.setattr(dev, "git_or_none", lambda s: None)
    monkeypatch.setattr(dev.docker_build, "check_inputs", lambda s: None)
    return Settings(root=context.parent, context="app", builder="classic")


def test_only_source_changes_rebuild_and_the_loop_cleans_up_when_the_watch_ends(faked, context):
    records = []
    batches = [changed(context, "assets/app.js"), changed(context, "README.md"),
               changed(context, "handlers.go", "assets/index.html")]
    done = dev.dev(None, faked, report=records.append, changes=batches, progress=lambda line: None)
    [loop] = FakeLoop.made
    assert loop.rebuilt == [None, ["handlers.go"]]
    assert [r["action"] for r in records] == ["rebuilt", "mounted", "rebuilt"]
    assert loop.settings.builder == "auto"   # BuildKit whenever the engine can
    assert loop.closed and done["kept"] == "i:dev"


def test_ctrl_c_cleans_up_and_still_raises(faked, context):
    def batches():
        yield changed(context, "main.go")
        raise KeyboardInterrupt

    said = []
    with pytest.raises(KeyboardInterrupt):
        dev.dev(None, faked, report=lambda r: None, changes=batches(), progress=said.append)
    assert FakeLoop.made[0].closed
    assert said[-1] == "dev: stopped; removed container c and 0 superseded image(s); kept i:dev"


def test_a_required_variable_missing_stops_before_any_build(faked, monkeypatch):
    import dataclasses

    from ops.core.errors import OpsError

    needs = dataclasses.replace(faked, app=dataclasses.replace(faked.app,
                                                               required_env=("MONGODB_URI",)))
    with pytest.raises(OpsError, match="MONGODB_URI"):
        dev.dev(None, needs, report=lambda r: None, changes=[])
    assert FakeLoop.made == []


def test_with_a_fast_path_go_saves_take_it_and_anything_else_rebuilds_the_image_saying_why(
        faked, context, monkeypatch):
    monkeypatch.setattr(FakeLoop, "fast", object())
    said = []
    batches = [changed(context, "handlers.go", "store.go"), changed(context, "go.mod"),
               changed(context, "vendor/x/y.go"), changed(context, "store.go")]
    dev.dev(None, faked, report=lambda r: None, changes=batches, progress=said.append)
    [loop] = FakeLoop.made
    assert loop.quick_ones == [["handlers.go", "store.go"], ["store.go"]]
    assert loop.rebuilt == [None, ["go.mod"], ["vendor/x/y.go"]]
    assert [line for line in said if "fast path cannot" in line] == [
        "dev: go.mod is not Go source outside vendor/: the fast path cannot take it; "
        "rebuilding the image",
        "dev: vendor/x/y.go is not Go source outside vendor/: the fast path cannot take it; "
        "rebuilding the image"]


def test_a_dockerfile_outside_the_context_rebuilds_the_image(faked, context, monkeypatch):
    monkeypatch.setattr(FakeLoop, "fast", object())
    dockerfile = faked.dockerfile_path
    dockerfile.write_text("FROM x\n")
    dev.dev(None, faked, report=lambda r: None, changes=[{str(dockerfile)}],
            progress=lambda line: None)
    assert FakeLoop.made[0].rebuilt == [None, [dockerfile.name]]


def test_a_fast_cycle_says_it_restarted_in_place():
    line = dev_changes.render({**RECORD, "path": "go build", "builder": "go build (Dockerfile "
                               "line 57, in the builder container)"})
    assert "(go build), restarted in place, healthy in" in line


def test_a_file_made_and_removed_within_one_save_is_no_change(context):
    from watchfiles import Change

    kept, probe = context / "main.go", context / "4913"   # vim's writability probe
    kept.write_text("package main\n")
    gone = context / "old.go"   # removed for good: a change the build must see
    batch = {(Change.added, str(probe)), (Change.deleted, str(probe)),
             (Change.modified, str(kept)), (Change.deleted, str(gone))}
    assert dev_changes.lasting(batch) == {str(kept), str(gone)}
