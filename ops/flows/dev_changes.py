"""What a save means to `inv dev`: which changed files need a rebuild, which are served from the
mount, which the image never sees; and the one line a cycle prints."""
import itertools
import os
from pathlib import PurePosixPath

MOUNTED = "assets"   # what `inv run --dev` mounts over /app/assets: served live, no rebuild
# Files the image never sees but docker_build.context_tar leaves out by itself.
ALWAYS_IGNORED = ("Dockerfile",)


def ignore_patterns(context):
    """The context's .dockerignore patterns: files they match never reach the image."""
    from ops.image import dockerignore

    return dockerignore.read_dockerignore(context / ".dockerignore")


def classify(paths, context, patterns):
    """Sort changed paths (absolute, as the watcher gives them) by what they need.

    Returns {"rebuild": [...], "mounted": [...], "ignored": [...]}, each a sorted list of
    paths relative to the context: mounted files are served live, ignored ones are outside
    the context or excluded by .dockerignore, anything else is copied into the image.
    """
    from ops.image import dockerignore

    matcher = dockerignore.Matcher([*patterns, *ALWAYS_IGNORED])
    found = {"rebuild": set(), "mounted": set(), "ignored": set()}
    root = PurePosixPath(str(context))
    for path in paths:
        try:
            relative = PurePosixPath(str(path)).relative_to(root)
        except ValueError:
            found["ignored"].add(str(path))
            continue
        text = relative.as_posix()
        if relative.parts[:1] == (MOUNTED,):
            found["mounted"].add(text)
        elif text == ".dockerignore" or not matcher.excludes(text):
            found["rebuild"].add(text)   # a new .dockerignore changes what is copied
        else:
            found["ignored"].add(text)
    return {kind: sorted(items) for kind, items in found.items()}


def image_needed(changed):
    """Why these changed files need the image rebuilt, not only `go build` (None when every one
    is Go source outside vendor/: the fast path's to take)."""
    for path in changed:
        if not path.endswith(".go") or PurePosixPath(path).parts[0] == "vendor":
            return f"{path} is not Go source outside vendor/"
    return None


def hidden_go_source(context, patterns):
    """Why the fast path must not compile the mounted folder now: a .go file there that the
    patterns (.dockerignore, the env file, .git) keep out of the image, which the image's go
    build never sees and a go build of the folder would compile. None when there is none."""
    from ops.image import dockerignore

    if not patterns:
        return None
    matcher = dockerignore.Matcher(patterns)
    for folder, subfolders, names in os.walk(context):
        subfolders[:] = [name for name in subfolders if name != ".git"]
        for name in names:
            if name.endswith(".go"):
                relative = os.path.relpath(os.path.join(folder, name), context)
                if matcher.excludes(relative.replace(os.sep, "/")):
                    return (f"{relative} is left out of the image by .dockerignore, and a go "
                            "build of the folder would compile it")
    return None


def cycle_version(base, cycle):
    """The version cycle N bakes in: semver build metadata on the tree's version."""
    return f"{base}+dev.{cycle}"


def named(paths, limit=3):
    """'a.go', 'a.go, b.go' or 'a.go, b.go, c.go and 2 more'."""
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def render(record):
    """One line for a person: what changed, what was done, how long it took."""
    what = "start" if record["changed"] is None else f"{named(record['changed'])} changed"
    head = f"dev {record['cycle']}: {what}: " if record.get("cycle") else f"dev: {what}: "
    action = record["action"]
    if action == "mounted":
        return head + "served from the mount, no rebuild (reload the page)"
    built = f"built in {record['build_s']:.2f}s"
    serving = f"serving {record['serving']}" if record.get("serving") else "nothing serving"
    if action == "build-failed":
        return (head + f"build FAILED after {record['build_s']:.2f}s: {record['error']}; "
                + (f"still {serving}" if record.get("serving") else "fix and save to retry"))
    if action == "start-failed":
        return (head + f"{built}, but the new container failed: {record['error']}; "
                + (f"back to {serving}" if record.get("serving") else "fix and save to retry"))
    builder = record["builder"].split(" (")[0]   # BuildKit, classic, go build; why: --json
    restart = ", restarted in place" if record.get("path") == "go build" else ""
    return (head + f"{built} ({builder}){restart}, healthy in {record['healthy_s']:.2f}s "
            f"({record['total_s']:.2f}s in all); {serving} at {record['url']}")


def watch(context, *more):
    """Sets of changed paths under context, as they settle (watchfiles: inotify, debounced).

    Watching starts here, not at the first iteration: a save made while the first build
    runs is kept and starts the next cycle."""
    from watchfiles import DefaultFilter
    from watchfiles import watch as watch_files

    # step: a save that writes several times arrives as one set 50 ms after it ends.
    # rust_timeout: an empty set every 0.2 s, so the first next() below returns.
    batches = watch_files(context, *more, watch_filter=DefaultFilter(), step=50, rust_timeout=200,
                          yield_on_timeout=True, raise_interrupt=True)
    first = next(batches, set())

    def paths():
        for changes in itertools.chain([first], batches):
            found = lasting(changes)
            if found:
                yield found
    return paths()


def lasting(changes):
    """The changed paths of one settled batch of (Change, path), without the files that were
    made and removed within it (an editor's probe, vim's 4913, sed -i's temporary): the image
    could never hold them, and they would turn a Go save into an image build."""
    from watchfiles import Change

    kinds = {}
    for change, path in changes:
        kinds.setdefault(path, set()).add(change)
    return {path for path, seen in kinds.items()
            if not ({Change.added, Change.deleted} <= seen and not os.path.lexists(path))}
