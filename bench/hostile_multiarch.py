"""Hostile cases of issue 19's class (several platforms) against the real engine: platform
strings the grammar must refuse on every task that takes one, a tag too long for its platform
suffix, a platform's image that is missing or mislabelled (an amd64 image tagged as the
arm64 one: the index would lie), and an index push to a registry that is not there. Each
case is one `inv` call that must end in exactly one `error:` line naming what it says.

cases(tmp, canary, image) tags IMAGE:latest under hz-ma-* tags for the mislabelled case;
cleanup() removes those tags (never the image) and runs at exit as well. Run through
bench/hostile_pass.py (`--only multiarch`).
"""
import atexit
import uuid

CLASSES = ("multiarch",)
BAD_PLATFORMS = ("linux/arm64/v9", "LINUX/ARM/V6", "windows/amd64", "linux/amd64,darwin/arm64",
                 "linux/ amd64", "linux/arm64\x1b[31m", "linux/arm64\nlinux/amd64",
                 "linux/arm64;rm -rf /", "amd64", "linux/" + "a" * 300, "linux/mips64le")
TASKS = (("build", "--offline"), ("verify",), ("push", "--registry", "local"),
         ("release", "--registry", "local"), ("bases",), ("run",), ("layers",))
_made = {"tags": []}


def cases(tmp, canary, image):
    """{name: (argv for inv, extra env, text the error line must name)}."""
    import docker

    engine = docker.from_env()
    tag = f"hz-ma-{uuid.uuid4().hex[:6]}"
    latest = engine.images.get(f"{image}:latest")
    for platform in ("linux-amd64", "linux-arm64"):   # both hold the engine's amd64 image
        latest.tag(image, f"{tag}-{platform}")
        _made["tags"].append(f"{image}:{tag}-{platform}")
    found = {}
    for number, bad in enumerate(BAD_PLATFORMS):
        task = TASKS[number % len(TASKS)]
        found[f"multiarch: inv {task[0]} --platform {bad[:24]!r}"] = (
            [*task, "--platform", bad], {}, "--platform")
    both = "linux/amd64,linux/arm64"
    found.update({
        "multiarch: a tag too long for its platform suffix": (
            ["build", "--offline", "--tag", "t" * 120, "--platform", both], {},
            "shorten the tag"),
        "multiarch: an amd64 image tagged as the arm64 one is not pushed into an index": (
            ["push", "--registry", "local", "--tag", tag, "--platform", both], {},
            "not linux/arm64"),
        "multiarch: verify of a platform never built": (
            ["verify", "--tag", f"{tag}-none", "--platform", "linux/arm64"], {},
            "not found"),
        "multiarch: run of a platform never built": (
            ["run", "--tag", tag, "--platform", "linux/s390x", "--port", "0"], {},
            "no linux/s390x image"),
    })
    return found


def cleanup():
    import docker

    engine = docker.from_env()
    while _made["tags"]:
        try:
            engine.images.remove(_made["tags"].pop(), noprune=True)
        except docker.errors.DockerException:
            pass


atexit.register(cleanup)
