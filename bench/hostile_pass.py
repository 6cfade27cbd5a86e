"""A hostile pass over the `inv` surface against the real engine: every bad flag, variable and
env file of tests/unit/test_inputs.py, plus secret-carrying inputs, and the cases of each class
of issue 17 that the bench/hostile_*.py modules give, each classified and counted by class.

    python3 bench/hostile_pass.py [--image NAME] [--only CLASS]
    (NAME:latest must exist; default hz-harden)

A class module exposes CLASSES and cases(tmp, canary, image) -> {"class: case": (argv, env,
what the one error line must name)}; a case whose name does not start with one of its
classes counts under the first.

held: exit 1, one `error:` line naming the source; traceback: a Python traceback; hang: no
exit within 60 s; leak: a canary value in stdout or stderr; orphan: a container or image
tag that did not exist before the pass; race: the same case answering differently on a
second, concurrent run. Prints one line of counts and, for each failure, the case.
"""
import argparse
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))   # tests/ is not installed with ops; its input table is read

from tests.unit import test_inputs as table  # noqa: E402

CANARY = "canary-" + uuid.uuid4().hex[:10]


BOUNDARY = "boundary"   # the flags, variables and env files of tests/unit/test_inputs.py


def class_modules():
    """The bench/hostile_*.py modules, each giving the cases of its classes."""
    import importlib.util

    for path in sorted(Path(__file__).parent.glob("hostile_*.py")):
        if path.name == "hostile_pass.py":
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module


MODULES = []   # the class modules whose cases ran: their cleanup() runs before the count


def all_cases(tmp, image, only=None):
    """{case: (class, argv, env, source)} of every class, or of `only`."""
    found = {key: (BOUNDARY, *case) for key, case in cases(tmp).items()}
    for module in class_modules():
        if only and only not in module.CLASSES:
            continue
        MODULES.append(module)
        for key, case in module.cases(tmp, CANARY, image).items():
            named = key.split(":", 1)[0]
            found[key] = (named if named in module.CLASSES else module.CLASSES[0], *case)
    return {key: case for key, case in found.items() if not only or case[0] == only}


def cases(tmp):
    found = {}
    for key, (argv, source, _) in table.FLAG_CASES.items():
        found[key] = (argv, {}, source)
    for key, (argv, source, _, env) in table.VARIABLE_CASES.items():
        found[key] = (argv, env, source)
    binary = tmp / "binary.env"
    binary.write_bytes(b"K=\x00" + CANARY.encode())
    bom = tmp / "bom.env"
    bom.write_bytes(b"\xef\xbb\xbf1BAD=" + CANARY.encode() + b"\n")
    found["env file: binary with a canary"] = (["run", "--env-file", str(binary)], {},
                                               str(binary))
    found["env file: BOM then a bad key"] = (["run", "--env-file", str(bom)], {}, "line 1")
    for flag in ("-e", "--build-arg"):
        task = "run" if flag == "-e" else "build"
        for text in (f"PASSWORD:{CANARY}", f"1X={CANARY}", f"A B={CANARY}"):
            found[f"{task} {flag} {text.split(CANARY)[0]}<canary>"] = (
                [task, flag, text], {}, flag)
    found["DOCKER_HOST with a password"] = (["layers"], {
        "DOCKER_HOST": f"tcp://u:{CANARY}@127.0.0.1:1"}, "DOCKER_HOST")
    found["ECR_REGISTRY with a password"] = (["push"], {
        "ECR_REGISTRY": f"https://u:{CANARY}@host/"}, "ECR_REGISTRY")
    return found


def run(argv, env, image):
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("INVOKE_TASKY_", "AWS_")) and k != "ECR_REGISTRY"}
    full.update({"INVOKE_TASKY_IMAGE": image, "INVOKE_TASKY_CONTAINER": f"{image}-hostile",
                 **env})
    try:
        return subprocess.run([sys.executable, "-m", "invoke", *argv], cwd=ROOT, env=full,
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None


def classify(proc, source):
    if proc is None:
        return "hang"
    if "Traceback" in proc.stderr:
        return "traceback"
    if CANARY in proc.stdout or CANARY in proc.stderr:
        return "leak"
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    if proc.returncode == 1 and len(lines) == 1 and source in lines[0]:
        return "held"
    return "wrong"


def snapshot(engine, image):
    """Containers and tags that carry the pass's image name (the engine is shared)."""
    return ({c["Id"] for c in engine.api.containers(all=True)
             if image in c.get("Image", "") or any(image in n for n in c.get("Names") or [])},
            {tag for found in engine.api.images() for tag in found.get("RepoTags") or []
             if image in tag})


def main():
    import tempfile

    import docker

    parser = argparse.ArgumentParser()
    parser.add_argument("--image", default="hz-harden")
    parser.add_argument("--only", help="one class (boundary, or a class a module names)")
    args = parser.parse_args()
    image = args.image
    engine = docker.from_env()
    before = snapshot(engine, image)
    counts = {k: 0 for k in ("tried", "held", "traceback", "hang", "leak", "orphan", "race",
                             "wrong")}
    failures, by_class = [], {}
    with tempfile.TemporaryDirectory(prefix="hz-hostile-") as tmp:
        found = all_cases(Path(tmp), image, args.only)
        with ThreadPoolExecutor(max_workers=4) as pool:
            first = dict(zip(found, pool.map(lambda k: run(found[k][1], found[k][2], image),
                                             found)))
            again = dict(zip(found, pool.map(lambda k: run(found[k][1], found[k][2], image),
                                             found)))
        for key, (kind, _, _, source) in found.items():
            counts["tried"] += 1
            verdict = classify(first[key], source)
            if verdict == "held" and classify(again[key], source) != "held":
                verdict = "race"
            if verdict == "held" and first[key].stderr != again[key].stderr:
                verdict = "race"
            counts[verdict] += 1
            tally = by_class.setdefault(kind, {"tried": 0, "held": 0})
            tally["tried"] += 1
            tally["held"] += verdict == "held"
            if verdict != "held":
                said = first[key].stderr[-300:] if first[key] else ""
                failures.append(f"{verdict}: {key}: {said}")
    for module in MODULES:   # what a module set up for its cases is its own, not an orphan
        if hasattr(module, "cleanup"):
            module.cleanup()
    after = snapshot(engine, image)
    orphans = (after[0] - before[0], after[1] - before[1])
    counts["orphan"] = len(orphans[0]) + len(orphans[1])
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    for kind, tally in sorted(by_class.items()):
        print(f"  {kind}: tried {tally['tried']}, held {tally['held']}")
    for line in failures + [f"orphan: {o}" for group in orphans for o in group]:
        print(line)
    return 0 if counts["held"] == counts["tried"] and not counts["orphan"] else 1


if __name__ == "__main__":
    sys.exit(main())
