"""Where a no-change task spends its time: interpreter start, imports, cProfile phases."""
import pstats

from common import ENV, PY, ROOT, BenchError, median, r3, run, tabulate, tail

TASKS_PY = str(ROOT / "tasks.py")
# Phases: (label, file suffix, function); cumulative times, so nested rows overlap.
PROGRAM = ("whole Invoke program (inside python)", "invoke/program.py", "run")
ENGINE_PHASES = [
    ("    engine(): import docker + from_env + ping", "ops/engine/connection.py", "client"),
    ("      docker.from_env", "docker/client.py", "from_env"),
    ("      ping", "docker/api/daemon.py", "ping"),
    ("    git_info(): gitinfo.read", "ops/image/gitinfo.py", "read"),
]
BUILD_PHASES = [   # the build path speaks to the engine through socket_api, not docker-py
    PROGRAM,
    ("  task body: tasks.build", TASKS_PY, "build"),
    # "connect" there is also UnixConnection.connect: calls counts the sockets opened too
    ("    socket_api.connect (precheck + ping)", "ops/engine/socket_api.py", "connect"),
    ("    git_info(): gitinfo.read", "ops/image/gitinfo.py", "read"),
    ("    build.build", "ops/image/docker_build.py", "build"),
    ("      context_tar (ops/image/context_tar.py)", "ops/image/docker_build.py", "context_tar"),
    ("      choose_bases (stand-in checks)", "ops/image/docker_build.py", "choose_bases"),
    ("      buildkit.build (POST /build?version=2)", "ops/image/buildkit.py", "build"),
    ("        _recognisable (gzip the context)", "ops/image/buildkit.py", "_recognisable"),
    ("        _follow (read the trace stream)", "ops/image/buildkit.py", "_follow"),
    ("    SocketApi.request (all engine requests)", "ops/engine/socket_api.py", "request"),
    ("    console.table (tabulate)", "ops/core/console.py", "table"),
]
PUSH_PHASES = [
    PROGRAM,
    ("  task body: tasks.push", TASKS_PY, "push"),
    *ENGINE_PHASES,
    ("    ops.registry.push.push", "ops/registry/push.py", "push"),
    ("      image_or_fail (images.get)", "ops/engine/connection.py", "image_or_fail"),
    ("      api.tag", "docker/api/image.py", "tag"),
    ("      push_with_retries", "ops/registry/push.py", "push_with_retries"),
    ("        api.push (until the response headers)", "docker/api/image.py", "push"),
    ("        follow (read the push stream)", "ops/registry/push.py", "follow"),
    ("      registry.manifest_digest (HEAD)", "ops/registry/http_api.py", "manifest_digest"),
    ("    subprocess.run (all git calls)", "subprocess.py", "run"),
    ("    console.emit (JSON)", "ops/core/console.py", "emit"),
]


def import_times(stderr):
    """Top-level modules of a `-X importtime` log: {name: cumulative seconds}."""
    times = {}
    for line in stderr.splitlines():  # "import time: self [us] | cumulative | name"
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and \
                not parts[2].startswith("  ") and parts[1].strip().isdigit():
            times[parts[2].strip()] = int(parts[1]) / 1e6
    return times


def phase_times(path, phases):
    """{label: (cumulative seconds, calls)} from a cProfile dump."""
    stats = pstats.Stats(str(path)).stats
    found = {}
    for label, suffix, func in phases:
        total, ncalls = 0.0, 0
        for (filename, _, name), (_, nc, _, ct, _) in stats.items():
            if name == func and filename.replace("\\", "/").endswith(suffix):
                total += ct
                ncalls += nc
        found[label] = (total, ncalls)
    return found


def profile(name, task_args, phases, n, workdir, env=None, check=None,
            modules=("invoke", "docker", "tabulate")):
    """Profile `python -m invoke TASK_ARGS` n times; check(proc) may raise BenchError."""
    env = env or ENV
    startup = median([run([PY, "-c", "pass"], timeout=60, env=env)[0] for _ in range(n)])
    imports = {mod: r3(median([run([PY, "-c", f"import {mod}"], timeout=60, env=env)[0]
                               for _ in range(n)]) - startup) for mod in modules}
    tasks_import = median([run([PY, "-c", "import tasks"], timeout=60, env=env)[0]
                           for _ in range(n)]) - startup
    walls, per_phase, calls, importtimes = [], {label: [] for label, _, _ in phases}, {}, {}
    for i in range(n):
        out = workdir / f"{name}{i}.prof"
        seconds, proc = run([PY, "-X", "importtime", "-m", "cProfile", "-o", str(out), "-m",
                             "invoke", *task_args], timeout=600, env=env)
        if proc.returncode != 0:
            raise BenchError(f"profiled inv {name} failed: " + tail(proc))
        if check:
            check(proc)
        walls.append(seconds)
        for module, cum in import_times(proc.stderr).items():
            importtimes.setdefault(module, []).append(cum)
        for label, (total, ncalls) in phase_times(out, phases).items():
            per_phase[label].append(total)
            calls[label] = ncalls
    top = sorted(((k, median(v)) for k, v in importtimes.items()), key=lambda kv: -kv[1])[:8]
    return {"task": f"inv {' '.join(task_args)}", "n": n,
            "wall_profiled_s": r3(median(walls)), "python_startup_s": r3(startup),
            "import_alone_s": imports, "import_tasks_py_s": r3(tasks_import),
            "phases": [{"phase": label, "seconds": r3(median(per_phase[label])),
                        "calls": calls[label]} for label, _, _ in phases],
            "top_level_imports_s": [{"module": k, "seconds": r3(v)} for k, v in top],
            "note": "phase times come from cProfile (inflated by its overhead, ~1.5-2x for "
                    "Python-heavy code); startup and import_alone are plain subprocess "
                    "timings minus python startup"}


def nested(label):
    """Indentation tabulate keeps: '    ping' -> '. . ping'."""
    depth = (len(label) - len(label.lstrip())) // 2
    return ". " * depth + label.strip()


def render(prof):
    if isinstance(prof, str):
        return [f"\n== profile failed: {prof}"]
    return [f"\n== profile of a no-change {prof['task']} (median of {prof['n']})",
            f"python startup (python -c pass): {prof['python_startup_s']} s; import alone: "
            + ", ".join(f"{k} {v} s" for k, v in prof["import_alone_s"].items())
            + f"; import tasks (tasks.py + ops.settings.config/console + invoke): "
              f"{prof['import_tasks_py_s']} s",
            f"profiled wall (cProfile + importtime on): {prof['wall_profiled_s']} s",
            tabulate([[nested(p["phase"]), p["seconds"], p["calls"]] for p in prof["phases"]],
                     headers=["phase (cumulative, cProfile)", "s", "calls"],
                     disable_numparse=True),
            "top-level imports (importtime, cumulative): " + ", ".join(
                f"{i['module']} {i['seconds']} s" for i in prof["top_level_imports_s"]),
            prof["note"]]
