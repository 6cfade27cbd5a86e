"""Issue 17's hostile cases for three classes, in bench/hostile_pass.py's shape: each case an
`inv` command line that must end in exit 1 and one `error:` line naming its source, never the
canary, before any engine call.

    python3 bench/hostile_input_interrupts.py [--image NAME]   (as hostile_pass.py)

input: control characters in -e values (also from the shell), env-file values, --build-arg
(name or value), the shell's Go variables and --version. build args: credentials in a URL in
a --build-arg or a Go variable the build would take, for both builders and every task that
builds. interrupts: nothing of that shape (a signal is not a refusal);
tests/integration/test_interrupts.py sends them to real runs.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CLASSES = ("input", "build args", "interrupts")


def cases(tmp, canary, image):
    """{case name: (argv for `inv`, extra environment, text the one `error:` line names)}."""
    tmp = Path(tmp)
    found = {}

    def env_file(name, data):
        path = tmp / f"{name}.env"
        path.write_bytes(data)
        return str(path)

    secret = canary.encode()
    # --- input: control characters, refused by position -----------------------------------
    for label, char in (("form feed", "\x0c"), ("line feed", "\n"), ("carriage return", "\r"),
                        ("vertical tab", "\x0b"), ("escape", "\x1b"), ("DEL", "\x7f"),
                        ("NEL", "\x85"), ("C1 CSI", "\x9b"), ("U+2028", "\u2028"),
                        ("U+2029", "\u2029"), ("unit separator", "\x1f")):
        found[f"input: run -e with a {label}"] = (
            ["run", "-e", f"JWT_SECRET={canary}{char}{canary}"], {}, "-e JWT_SECRET")
    found["input: verify -e with a form feed"] = (
        ["verify", "-e", f"A={canary}\x0cB={canary}"], {}, "-e A")
    found["input: dev -e with a line feed"] = (["dev", "-e", f"X={canary}\nY=1"], {}, "-e X")
    found["input: bare -e from the shell with a form feed"] = (
        ["run", "-e", "TASKY_HOSTILE_VAR"], {"TASKY_HOSTILE_VAR": f"{canary}\x0c{canary}"},
        "-e TASKY_HOSTILE_VAR")
    found["input: -e name with a control character"] = (
        ["run", "-e", f"A\x0cB={canary}"], {}, "-e (its name)")
    found["input: env file, form feed on line 2"] = (
        ["run", "--env-file", env_file("feed", b"A=1\nB=" + secret + b"\x0c" + secret + b"\n")],
        {}, "line 2")
    found["input: env file, lone CR mid-value on line 3"] = (
        ["run", "--env-file", env_file("cr", b"# c\n\nC=" + secret + b"\r" + secret + b"\n")],
        {}, "line 3")
    found["input: env file, NEL in UTF-8 on line 1"] = (
        ["run", "--env-file", env_file("nel", b"N=" + secret + "\x85".encode() + secret)],
        {}, "line 1")
    found["input: env file, U+2028 with CRLF line ends"] = (
        ["verify", "--env-file", env_file("ls", b"A=1\r\nL=" + secret + "\u2028".encode()
                                          + secret + b"\r\n")], {}, "line 2")
    found["input: env file, NUL on line 2"] = (
        ["run", "--env-file", env_file("nul", b"A=1\nK=" + secret + b"\x00" + secret)],
        {}, "line 2")
    found["input: --build-arg value with a line feed"] = (
        ["build", "--build-arg", f"GOFLAGS=-x\n{canary}"], {}, "--build-arg GOFLAGS")
    found["input: --build-arg name with an escape"] = (
        ["build", "--build-arg", f"GO\x1bFLAGS={canary}"], {}, "--build-arg")
    found["input: shell GONOSUMDB with a line feed"] = (
        ["build", "--offline"], {"GONOSUMDB": f"example.com\n{canary}"}, "GONOSUMDB")
    found["input: shell GOFLAGS with a form feed, inv demo"] = (
        ["demo"], {"GOFLAGS": f"-mod=mod\x0c{canary}"}, "GOFLAGS")
    found["input: --version with a vertical tab"] = (
        ["build", "--version", f"v1\x0b{canary}"], {}, "--version")
    found["input: --version with U+2029"] = (
        ["build", "--version", f"{canary}\u2029"], {}, "--version")
    # --- build args: credentials in a URL, refused before the engine --------------------------
    proxy = f"https://ci-bot:{canary}@goproxy.corp.example/"
    for builder in ("classic", "buildkit", "auto"):
        found[f"build args: shell GOPROXY with user:token@, builder {builder}"] = (
            ["build", "--offline"], {"GOPROXY": proxy, "INVOKE_TASKY_BUILDER": builder},
            "GOPROXY")
        found[f"build args: --build-arg GOPROXY with user:token@, builder {builder}"] = (
            ["build", "--offline", "--build-arg", f"GOPROXY={proxy}"],
            {"INVOKE_TASKY_BUILDER": builder}, "--build-arg GOPROXY")
    found["build args: token@ only, in a GOPROXY list"] = (
        ["build"], {"GOPROXY": f"off,https://{canary}@goproxy.corp.example|direct"}, "GOPROXY")
    found["build args: password holding '/'"] = (
        ["build", "--build-arg", f"REPO=https://u:{canary}/x@git.example/r"], {},
        "--build-arg REPO")
    found["build args: git+https URL in any build arg"] = (
        ["build", "--build-arg", f"SRC=git+https://u:{canary}@git.example/r.git"], {},
        "--build-arg SRC")
    found["build args: GOSUMDB with a credentialed URL"] = (
        ["build"], {"GOSUMDB": f"sum.example+key https://u:{canary}@sum.example/"}, "GOSUMDB")
    found["build args: GOPRIVATE with a URL, inv release"] = (
        ["release", "--registry", "local"], {"GOPRIVATE": f"https://u:{canary}@x.example"},
        "GOPRIVATE")
    found["build args: GOPROXY with a token, inv demo"] = (["demo"], {"GOPROXY": proxy},
                                                           "GOPROXY")
    found["build args: GOPROXY with a token, inv dev"] = (["dev"], {"GOPROXY": proxy},
                                                          "GOPROXY")
    found["build args: file:// GOPROXY with a user"] = (
        ["build"], {"GOPROXY": f"file://u:{canary}@localhost/srv/goproxy"}, "GOPROXY")
    return found


def main():
    """Each case run twice, four at a time, and judged as bench/hostile_pass.py judges (held,
    traceback, hang, leak, race, orphan)."""
    import argparse
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    import docker
    import hostile_pass as bench  # beside this file: run as python3 bench/<this>.py

    parser = argparse.ArgumentParser()
    parser.add_argument("--image", default="hz-harden")
    image = parser.parse_args().image
    engine = docker.from_env()
    before = bench.snapshot(engine, image)
    counts = dict.fromkeys(("tried", "held", "traceback", "hang", "leak", "orphan", "race",
                            "wrong"), 0)
    failures = []
    with tempfile.TemporaryDirectory(prefix="hz-t17-") as tmp:
        found = cases(tmp, bench.CANARY, image)
        with ThreadPoolExecutor(max_workers=4) as pool:
            runs = [dict(zip(found, pool.map(lambda k: bench.run(found[k][0], found[k][1], image),
                                             found))) for _ in range(2)]
        for name, (_, _, source) in found.items():
            counts["tried"] += 1
            verdict = bench.classify(runs[0][name], source)
            if verdict == "held" and (bench.classify(runs[1][name], source) != "held"
                                      or runs[0][name].stderr != runs[1][name].stderr):
                verdict = "race"
            counts[verdict] += 1
            if verdict != "held":
                failures.append(f"{verdict}: {name}: {getattr(runs[0][name], 'stderr', '')[-300:]}")
    after = bench.snapshot(engine, image)
    orphans = [*(after[0] - before[0]), *(after[1] - before[1])]
    counts["orphan"] = len(orphans)
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    for line in failures + [f"orphan: {o}" for o in orphans]:
        print(line)
    return 0 if counts["held"] == counts["tried"] and not orphans else 1


if __name__ == "__main__":
    sys.exit(main())
