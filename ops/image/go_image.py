"""The Go builder image as a tool: Go (vet, test, gofmt) on the app, no Go on the host."""
from ops.engine import throwaway
from ops.image import standins


def choose(engine, settings, progress):
    """The document's golang:1.19 when this engine has it, else the offline stand-in."""
    import docker

    try:
        engine.images.get(settings.bases.go)
        return settings.bases.go
    except docker.errors.ImageNotFound:
        standins.ensure(engine, settings.bases, only_missing=True, progress=progress)
        return settings.bases.offline_go


def run_in_builder(engine, settings, script, progress=print):
    """Run a shell script over a read-only app/ in the builder image: (image, lines, ok)."""
    image = choose(engine, settings, progress)
    cache = settings.bases.cache_path / "go-build"
    cache.mkdir(parents=True, exist_ok=True)
    code, output = throwaway.run(
        engine, image, ["/bin/sh", "-c", script], role="app-test", progress=progress,
        working_dir="/src",
        # A read-only mount: tests must not write into the checkout.
        volumes={str(settings.context_path): {"bind": "/src", "mode": "ro"},
                 # Go's build cache kept between runs: a warm run skips compiling the stdlib.
                 str(cache): {"bind": "/go-cache", "mode": "rw"}},
        environment={"CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false", "GOPROXY": "off",
                     "GOCACHE": "/go-cache"})
    return image, output, code == 0
