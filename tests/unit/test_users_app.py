"""The user's app as the build and doctor see it: its own Dockerfile's module download, a
file:// GOPROXY given to a build, its repository and its env file. No engine here; the
same paths run against the real engine in tests/integration/test_realapp.py."""
import dataclasses

from ops.settings.config import App, Settings
from tests.unit.unit_support import ROOT, git

FIXTURE = ROOT / "tests" / "fixtures" / "thirdparty-app"


# --- doctor reads the app's repository and env file -------------------------------------

def test_doctor_git_row_names_the_apps_repository_not_the_tools(git_repo):
    from ops.doctor import inputs

    settings = Settings(context=str(git_repo))
    short = git(git_repo, "rev-parse", "--short", "HEAD")
    [clean] = inputs.git_state(None, settings)
    assert clean["status"] == "ok" and clean["detail"].startswith(f"{short} (")
    (git_repo / "main.go").write_text("package main // changed\n")
    [dirty] = inputs.git_state(None, settings)
    assert dirty["status"] == "warn"
    assert dirty["detail"].startswith(f"{short} with uncommitted changes")
    assert git(ROOT, "rev-parse", "--short", "HEAD") not in dirty["detail"]


def test_the_env_file_is_the_apps_own_when_its_folder_has_one(tmp_path):
    from ops.doctor import run as doctor_run

    (tmp_path / "app").mkdir()
    (tmp_path / ".env").write_text("MONGODB_URI=mongodb://u:tool-pw-1234@db/x\n")
    app = App(required_env=("MONGODB_URI",), secret_env=("SECRET_KEY",), env_file=".env")
    settings = dataclasses.replace(Settings(), root=tmp_path, app=app)
    assert settings.env_file_path == tmp_path / ".env"      # none in the app's folder
    (tmp_path / "app" / ".env").write_text("SECRET_KEY=app-key-5678\n")
    assert settings.env_file_path == tmp_path / "app" / ".env"
    rows = {r["check"]: r for r in doctor_run.variables(None, settings)}
    assert rows["MONGODB_URI"]["detail"].startswith("not set in app/.env")
    assert rows["SECRET_KEY"] == {**rows["SECRET_KEY"], "status": "ok",
                                  "detail": "set in app/.env"}
    elsewhere = dataclasses.replace(settings, context=str(FIXTURE))
    assert elsewhere.env_file_path == FIXTURE / ".env"
    outside = dataclasses.replace(settings, app=App(env_file="/etc/app.env"))
    assert outside.env_file_path.as_posix() == "/etc/app.env"
    assert "tool-pw-1234" not in repr(rows) and "app-key-5678" not in repr(rows)
