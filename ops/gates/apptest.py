"""`inv app-test`: the Go app's vet and unit tests, run inside the builder image."""
import time

from ops.core.console import table
from ops.core.errors import OpsError
from ops.image.go_image import run_in_builder

SCRIPT = "go version && go vet ./... && go test -count=1 {flags} ./..."


def app_test(engine, settings, verbose=False, progress=print):
    """Run go vet and go test on app/ in a throwaway builder container."""
    started = time.monotonic()
    image, _, ok = run_in_builder(engine, settings,
                                  SCRIPT.format(flags="-v" if verbose else ""), progress)
    if not ok:
        raise OpsError("Go vet or tests failed in the builder image",
                       fix="read the output above, fix the app, run inv app-test again",
                       anchor="build-fails")
    return {"image": image, "result": "passed",
            "seconds": round(time.monotonic() - started, 1)}


def render(result):
    return table([result], [("image", "builder"), ("result", "go vet + go test"),
                            ("seconds", "seconds")])
