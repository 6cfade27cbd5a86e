"""Hostile cases of issue 17's ownership class against the real engine: objects that carry our
labels (copied, or inherited from an image committed from a container that has them) and must
never be treated as ours, a spoofed cache scope, and an ownership record that is damaged or
cannot be written. Each case is one `inv` call that must end in exactly one `error:` line
naming what it says, remove nothing and leak no canary.

    python3 bench/hostile_ownership.py [--image NAME]   (NAME:latest must exist; default
                                                         hz-harden)

cases(tmp, canary, image) makes the engine objects the cases need (containers and images
named hz-own-*, never carrying `image` in their names); cleanup() removes them and runs at
exit as well. Standalone, main() runs every case twice, checks the objects all survived and
that no container or tag carrying the image name appeared, and prints the counts.
"""
import argparse
import atexit
import io
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLASSES = ("ownership",)
LABELS = ("org.tasky-ops.managed", "org.tasky-ops.role", "org.tasky-ops.image",
          "org.tasky-ops.started", "org.tasky-ops.invocation")
_made = {"containers": [], "images": []}


def cases(tmp, canary, image):
    """{name: (argv for inv, extra env, text the error line must name)}."""
    import docker

    from ops.engine import ownership

    engine = docker.from_env()
    tag = uuid.uuid4().hex[:8]
    copied = {**ownership.for_container("app", image), ownership.INVOCATION: canary}

    def container(name, ref, labels=None):
        made = engine.containers.create(ref, name=f"hz-own-{tag}-{name}", labels=labels or {},
                                        entrypoint=["sleep", "600"], detach=True)
        _made["containers"].append(made.id)
        made.start()
        return made.name

    # Someone's container with every label of ours copied, the invocation one set to the
    # canary; an image committed from it; a container of that commit (labels inherited);
    # an image built FROM ours with its labels; a container of that.
    look_alike = container("copied-labels", f"{image}:latest", copied)
    committed = engine.containers.get(look_alike).commit(repository=f"hz-own-{tag}",
                                                         tag="commit")
    _made["images"].append(committed.id)
    of_commit = container("of-commit", committed.id)
    derived, _ = engine.images.build(fileobj=io.BytesIO(
        f"FROM {image}:latest\nLABEL org.example.derived=yes\n".encode()),
        tag=f"hz-own-{tag}:from", rm=True)
    _made["images"].append(derived.id)
    of_derived = container("of-from", derived.id)
    atexit.register(cleanup)

    damaged = tmp / "damaged-state"
    record = ownership.Ledger(damaged, ROOT).path
    record.parent.mkdir(parents=True)
    record.write_text('{"key": "' + canary + '", "container": {')   # cut short
    not_a_folder = tmp / "state-is-a-file"
    not_a_folder.write_text(canary)

    found = {}
    for what, name in (("with our labels copied", look_alike),
                       ("of an image committed from that one", of_commit),
                       ("of an image built FROM ours", of_derived)):
        found[f"stop: a container {what}"] = (["stop", "--name", name], {},
                                              "not started by tasky-ops")
        found[f"run: the name of a container {what}"] = (
            ["run", "--name", name], {}, f"container name {name} is taken by another")
    found["build with a spoofed cache scope"] = (
        ["build", "--offline", "--build-arg", f"TASKY_CACHE={canary}"], {},
        "--build-arg TASKY_CACHE")
    for argv in (["clean", "--dry-run"], ["stop", "--name", look_alike]):
        found[f"{argv[0]}: damaged record"] = (
            argv, {"INVOKE_TASKY_BASES_CACHE_DIR": str(damaged)}, str(record))
    found["run: record folder is a file"] = (
        ["run"], {"INVOKE_TASKY_BASES_CACHE_DIR": str(not_a_folder)}, "ownership record")
    found["build: record folder is a file"] = (
        ["build", "--offline"], {"INVOKE_TASKY_BASES_CACHE_DIR": str(not_a_folder)},
        "ownership record")
    return found


def cleanup():
    """Remove what cases() made (by id; nothing else)."""
    import docker

    engine = docker.from_env()
    for container_id in _made["containers"]:
        try:
            engine.api.remove_container(container_id, force=True)
        except docker.errors.APIError:
            pass
    for image_id in reversed(_made["images"]):
        try:
            engine.api.remove_image(image_id, force=True)
        except docker.errors.APIError:
            pass
    _made["containers"].clear()
    _made["images"].clear()


def surviving(engine):
    """The objects cases() made that are gone: none may be."""
    have_c = {c["Id"] for c in engine.api.containers(all=True)}
    have_i = {i["Id"] for i in engine.api.images(all=True)}
    return [i for i in _made["containers"] if i not in have_c] + \
        [i for i in _made["images"] if i not in have_i]


def main():
    import docker
    import hostile_pass  # beside this file (bench/ is on sys.path when run as a script)

    parser = argparse.ArgumentParser()
    parser.add_argument("--image", default="hz-harden")
    image = parser.parse_args().image
    engine = docker.from_env()
    canary = "canary-" + uuid.uuid4().hex[:10]
    hostile_pass.CANARY = canary   # classify() looks for this pass's canary
    before = hostile_pass.snapshot(engine, image)
    counts = {k: 0 for k in ("tried", "held", "traceback", "hang", "leak", "wrong", "race")}
    failures = []
    with tempfile.TemporaryDirectory(prefix="hz-own-") as tmp:
        found = cases(Path(tmp), canary, image)
        for key, (argv, env, source) in found.items():
            counts["tried"] += 1
            first = hostile_pass.run(argv, env, image)
            again = hostile_pass.run(argv, env, image)
            verdict = hostile_pass.classify(first, source)
            if verdict == "held" and hostile_pass.classify(again, source) != "held":
                verdict = "race"
            counts[verdict] += 1
            if verdict != "held":
                failures.append(f"{verdict}: {key}: {first.stderr[-300:] if first else ''}")
    gone = surviving(engine)
    cleanup()
    after = hostile_pass.snapshot(engine, image)
    orphans = (after[0] - before[0]) | (after[1] - before[1])
    print(" ".join(f"{k}={v}" for k, v in counts.items()) +
          f" removed-theirs={len(gone)} orphan={len(orphans)}")
    for line in failures + [f"removed: {i}" for i in gone] + [f"orphan: {o}" for o in orphans]:
        print(line)
    return 0 if counts["held"] == counts["tried"] and not gone and not orphans else 1


if __name__ == "__main__":
    sys.exit(main())
