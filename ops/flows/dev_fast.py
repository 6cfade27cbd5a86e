"""`inv dev`'s fast path: a save of Go source is compiled with the Dockerfile's own `go build`
line (its flags, -X version) in a builder container kept for the session (the Dockerfile's Go
base, the context mounted read-only, Go's build cache warm), and the new binary takes the
place of the running one inside the app's container: the image's release stage, its user,
its env. The container runs a small supervisor (built once per session in the builder, static)
that starts the binary from a host folder mounted read-only, restarts it on SIGHUP, passes
SIGTERM on, and writes "<generation> running <pid>" or "<generation> exited <code>" to a state
file the loop reads. A cycle is then: incremental go build, process restart, health.

Everything else (the image, the container, the builder) is made through ownership.Owned and
the ledger; the host folder (under tasky.bases.cache_dir, one per container name and engine)
is removed by close(), and by the next loop on that name when a killed one could not.
"""
import os
import re
import shutil
import time
from pathlib import Path

from ops.core.errors import OpsError
from ops.core.waiting import wait_until
from ops.engine import locks, ownership
from ops.image import context_tar, dockerfile
from ops.run import app_probe, containers, health

MOUNT = "/tasky-dev"
BIN, STATE = f"{MOUNT}/bin", f"{MOUNT}/state"
ROLE = "dev-builder"
GO_IMAGE_ARG = re.compile(r"^\$\{?GO_IMAGE\}?$")
SUPERVISOR = """package main

// tasky-ops dev supervisor: PID 1 of an `inv dev` container. Runs the app binary, restarts
// it on SIGHUP, passes SIGTERM and SIGINT on and exits as the app did.
import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

func note(path, text string) {
	if os.WriteFile(path+".new", []byte(text+"\\n"), 0o644) == nil {
		os.Rename(path+".new", path)
	}
}

func status(state *os.ProcessState) int {
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return state.ExitCode()
}

func main() {
	state, binary, args := os.Args[1], os.Args[2], os.Args[3:]
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	for generation := 1; ; generation++ {
		child := exec.Command(binary, args...)
		child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
		exited := make(chan int, 1)
		if err := child.Start(); err != nil {
			fmt.Fprintf(os.Stderr, "tasky-ops dev: cannot start %s: %v\\n", binary, err)
			exited <- 127
		} else {
			go func() { child.Wait(); exited <- status(child.ProcessState) }()
			note(state, fmt.Sprintf("%d running %d", generation, child.Process.Pid))
		}
		select {
		case code := <-exited:
			note(state, fmt.Sprintf("%d exited %d", generation, code))
			if s := <-signals; s != syscall.SIGHUP {
				os.Exit(code)
			}
		case s := <-signals:
			child.Process.Signal(syscall.SIGTERM)
			select {
			case code := <-exited:
				if s != syscall.SIGHUP {
					os.Exit(code)
				}
			case <-time.After(5 * time.Second):
				child.Process.Kill()
				<-exited
				if s != syscall.SIGHUP {
					os.Exit(143)
				}
			}
		}
	}
}
"""


def plan(settings, go_image):
    """(the Dockerfile's go build step, None) when the fast path can take this app's Go saves,
    else (None, the one-line reason every save rebuilds the image)."""
    name = settings.dockerfile_path.name
    try:
        step = dockerfile.go_build_step(dockerfile.read(settings.dockerfile_path))
    except ValueError as exc:
        return None, f"{name}: {exc}"
    if not GO_IMAGE_ARG.match(step["base"]) and "$" in step["base"]:
        return None, f"{name}'s build stage is FROM {step['base']}, which names no image plainly"
    step["image"] = go_image if GO_IMAGE_ARG.match(step["base"]) else step["base"]
    mod = settings.context_path / "go.mod"
    requires = mod.is_file() and re.search(r"^\s*require\b", mod.read_text(errors="replace"),
                                           re.MULTILINE)
    if requires and not (settings.context_path / "vendor" / "modules.txt").is_file():
        return None, ("go.mod requires modules and there is no vendor/: only the image build "
                      "can reach them (inv vendor makes the fast path possible)")
    return step, None


def prepare(fast, engine, settings, offline, ledger, progress):
    """(the FastPath for this app as it is now, or None; why not, or None): `fast` kept when
    its builder still fits, else closed, and a new one started when the app allows it."""
    go_image = settings.bases.offline_go if offline else settings.bases.go
    step, reason = plan(settings, go_image)
    if fast and (reason or (step["image"], step["workdir"]) != (fast.step["image"],
                                                                fast.step["workdir"])):
        fast.close()
        fast = None
    if step and not fast:
        import docker

        fast = FastPath(engine, settings, step, ledger, progress)
        try:
            seconds = fast.start()
        except (OpsError, docker.errors.DockerException) as error:   # no such image, say
            fast.close()
            said = error.line() if isinstance(error, OpsError) else " ".join(
                str(getattr(error, "explanation", None) or error).split())[:200]
            return None, f"its builder did not start in {step['image']}: {said}"
        progress(f"dev: fast path on: a Go save runs the `go build` of "
                 f"{settings.dockerfile_path.name} line {step['line']} in {step['image']} "
                 f"and restarts the binary in the container (builder ready in {seconds:.1f}s)")
    if fast:
        fast.refresh(step, ledger)
    return fast, reason


class FastPath:
    """The session's builder container and host folder (bin/: the supervisor and the app
    binary, app.prev the last one that served; state/: the supervisor's word)."""

    def __init__(self, engine, settings, step, ledger, progress):
        self.engine, self.settings, self.step, self.progress = engine, settings, step, progress
        # One per container name, whose lock the loop holds: what a killed loop left there is
        # removed by the next. The cache dir (and /root) keeps host users out; the mounts
        # reach the container anyway.
        held = Path(locks.lock_file(settings.container)).name   # the name on this engine
        self.folder = settings.bases.cache_path / "dev" / held.removesuffix(".lock")
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, mode=0o700)
        self.bin, self.state_dir = self.folder / "bin", self.folder / "state"
        self.bin.mkdir(mode=0o755)
        self.state_dir.mkdir()
        self.state_dir.chmod(0o777)   # the supervisor writes as the image's user
        self.owned = ownership.Owned(engine, ROLE, settings.image, progress, ledger)
        self.builder, self.build_args = None, {}

    def start(self):
        """The builder container, and the supervisor built in it: seconds."""
        started = time.monotonic()
        cache = self.settings.bases.cache_path / "go-build"   # shared with app-test: warm
        cache.mkdir(parents=True, exist_ok=True)
        workdir = self.step["workdir"]
        volumes = [f"{self.settings.context_path}:{workdir}:ro", f"{self.bin}:{BIN}:rw",
                   f"{cache}:/go-cache:rw"]
        tmpfs = {}
        for relative in context_tar.left_out(self.settings):   # as the image build: never seen
            inside = f"{workdir}/{relative}"
            if (self.settings.context_path / relative).is_dir():
                tmpfs[inside] = "ro,size=1k"
            else:
                volumes.append(f"/dev/null:{inside}:ro")
        self.builder = self.owned.create(
            self.step["image"], ["infinity"], entrypoint=["sleep"], detach=True,
            working_dir=workdir, volumes=volumes, tmpfs=tmpfs, network_disabled=True,
            environment={"GOCACHE": "/go-cache", "GOPROXY": "off", "CGO_ENABLED": "0"})
        self.builder.start()
        (self.bin / "supervise.go").write_text(SUPERVISOR)
        code, lines = self.exec(f"go build -trimpath -ldflags '-s -w' -o {BIN}/supervise "
                                f"{BIN}/supervise.go", {"GOFLAGS": "-buildvcs=false"}, "/")
        if code != 0:
            raise OpsError("the dev supervisor did not build in the builder (exit code "
                           f"{code})", fix="read the lines above", anchor="build-fails",
                           details=lines)
        return round(time.monotonic() - started, 2)

    def refresh(self, step, ledger):
        """The step and build args as the last image build saw them."""
        from ops.image import build_args

        self.step = step
        self.build_args = {**build_args.go_build_args(self.settings, {}, lambda _: None),
                           "TASKY_IMAGE": self.settings.image,
                           "TASKY_CACHE": ledger.cache_scope(self.settings.image)}

    def exec(self, script, env, workdir):
        api = self.engine.api
        made = api.exec_create(self.builder.id, ["/bin/sh", "-c", script], environment=env,
                               workdir=workdir)
        output = api.exec_start(made["Id"]).decode("utf-8", "replace")
        return api.exec_inspect(made["Id"])["ExitCode"], output.splitlines()

    def go_build(self, version):
        """The Dockerfile's go build line, run in the builder with the build args the stage
        declares (the image build's values, VERSION this cycle's), writing bin/.next."""
        step = self.step
        env = {k: v for k, v in step["args"].items() if v is not None}
        env.update({k: v for k, v in {**self.build_args, "VERSION": version}.items()
                    if k in step["args"] and v is not None})
        # The image build never sees .git: no VCS stamp there, none here.
        env["GOFLAGS"] = (env.get("GOFLAGS", "") + " -buildvcs=false").strip()
        command = dockerfile.with_output(step["command"], f"{BIN}/.next")
        code, lines = self.exec(command, env, step["workdir"])
        if code != 0:
            raise OpsError(f"go build (the {self.settings.dockerfile_path.name}'s line "
                           f"{step['line']}) failed with exit code {code}",
                           fix="fix the code and save again", anchor="build-fails",
                           details=lines)

    def install(self):
        """The new binary in place; the one that served kept as app.prev."""
        if (self.bin / "app").exists():
            os.replace(self.bin / "app", self.bin / "app.prev")
        os.replace(self.bin / ".next", self.bin / "app")

    def undo(self):
        """Back to the binary that served before install()."""
        if (self.bin / "app.prev").exists():
            os.replace(self.bin / "app.prev", self.bin / "app")

    def options(self):
        """What the app's container is created with: the supervisor as its entrypoint."""
        return {"entrypoint": [f"{BIN}/supervise"],
                "command": [f"{STATE}/state", f"{BIN}/app", *self.step["argv"]],
                "volumes": {str(self.bin): {"bind": BIN, "mode": "ro"},
                            str(self.state_dir): {"bind": STATE, "mode": "rw"}}}

    def state(self):
        """(generation, "running" or "exited", pid or exit code); (0, None, None) before."""
        try:
            generation, what, value = (self.state_dir / "state").read_text().split()
            return int(generation), what, int(value)
        except (OSError, ValueError):
            return 0, None, None

    def restart(self, container):
        """SIGHUP the supervisor and wait until the new process answers and is healthy by the
        one rule (health.verdict: the image's HEALTHCHECK run once): seconds. Raises OpsError
        when it exits at start, does not answer within start_grace or is not healthy."""
        settings = self.settings
        before = self.state()   # a new container's supervisor counts from 1 again: "other"
        started = time.monotonic()
        container.kill(signal="SIGHUP")
        port = containers.published_port(container, settings)

        def answering():
            generation, what, value = self.state()
            if generation in (0, before[0]):
                return None
            if what == "exited":
                raise OpsError(f"the new binary exited at start with code {value}",
                               fix="read its log above", anchor="container-wont-start",
                               details=containers.tail_logs(container, settings))
            if not settings.app.probe_path:
                return {"status": "healthcheck"}
            app = app_probe.http_health(port, settings.app.probe_path, timeout=0.5)
            return app if app_probe.answered(app) else None

        waited = wait_until(answering, timeout=settings.start_grace, first=0.01, most=0.05,
                            what=f"{container.name}: waiting for the new binary to answer")
        if not waited:
            raise OpsError(f"the new binary did not answer within {settings.start_grace:g}s",
                           fix="read its log above", anchor="container-wont-start",
                           details=containers.tail_logs(container, settings))
        report = health.health_report(container, settings)
        if not report["healthy"]:
            raise health.unhealthy(report)
        return round(time.monotonic() - started, 2)

    def close(self):
        """The builder removed (by id, through Owned) and the host folder."""
        self.owned.remove()
        shutil.rmtree(self.folder, ignore_errors=True)
