"""1. `inv --list`, 3. time to verified healthy, 4. image size."""
import json
import shutil
import time

from common import (
    CONTAINER,
    DOC_CONTAINER,
    DOC_PORT,
    ENV,
    IMAGE,
    INV,
    ROOT,
    TARGETS,
    BenchError,
    container_image,
    docker,
    fmt,
    info_row,
    interleaved,
    is_bench_image,
    log,
    median,
    r3,
    ratio_row,
    rounded,
    run,
    tabulate,
    tail,
)

# ---- 1. inv --list ---------------------------------------------------------------------


def measure_list(n, empty_dir):
    """`inv --list` as a user types it: without the INVOKE_TASKY_* variables the bench sets
    for its other rows (with them, tasks.py checks their values first: shown as info)."""
    (empty_dir / "tasks.py").write_text("")
    ours_cmd = INV + ["--list"]
    base_cmd = INV + ["--search-root", str(empty_dir), "--list"]
    plain = {k: v for k, v in ENV.items() if not k.startswith("INVOKE_TASKY_")}
    shim = shutil.which("inv")
    ours, base, with_vars, via_shim = [], [], [], []
    for i in range(n + 1):  # the first round warms the page cache and is not counted
        for kind, cmd, cwd in interleaved(i, [("ours", ours_cmd, ROOT),
                                              ("base", base_cmd, empty_dir),
                                              ("vars", ours_cmd, ROOT)]):
            seconds, proc = run(cmd, cwd=cwd, timeout=60, env=ENV if kind == "vars" else plain)
            if kind != "base" and proc.returncode != 0:
                raise BenchError("inv --list failed: " + tail(proc))
            if kind == "base" and proc.returncode not in (0, 1):  # 1: "No tasks found"
                raise BenchError("invoke --search-root failed: " + tail(proc))
            if i:
                {"ours": ours, "base": base, "vars": with_vars}[kind].append(seconds)
        if shim and i:
            via_shim.append(run([shim, "--list"], timeout=60, env=plain)[0])
    return {"ours_s": ours, "baseline_s": base, "with_vars_s": with_vars,
            "via_path_inv_s": via_shim,
            "ours_cmd": "python -m invoke --list (same interpreter as the baseline; no "
                        "INVOKE_TASKY_* set)",
            "baseline_cmd": f"python -m invoke --search-root {empty_dir} --list (empty tasks.py)",
            "via_path_inv": shim}


def list_rows(lst):
    out = [ratio_row("1. inv --list (s)", median(lst["ours_s"]), median(lst["baseline_s"]),
                     TARGETS["list"])]
    if lst.get("with_vars_s"):
        out.append(info_row("· with INVOKE_TASKY_* set, their values checked (s, info)",
                            median(lst["with_vars_s"]), median(lst["baseline_s"])))
    if lst["via_path_inv_s"]:
        out.append(info_row("· inv --list via PATH `inv` (s, info)",
                            median(lst["via_path_inv_s"])))
    return out


def list_render(lst):
    return [f"\n== 1. inv --list  (median of {len(lst['ours_s'])}, interleaved)",
            f"ours:     {lst['ours_cmd']}", f"baseline: {lst['baseline_cmd']}",
            f"samples ours {rounded(lst['ours_s'])}", f"samples base {rounded(lst['baseline_s'])}"]


# ---- 3. time to verified healthy -------------------------------------------------------

def clear_leftover(name, wait=90):
    """A container with a bench name left by an earlier bench run is removed; another is
    waited for (someone else may be using the name briefly), then reported, never touched."""
    deadline = time.perf_counter() + wait
    while True:
        image = container_image(name)
        if image is None:
            return
        if is_bench_image(image):
            log(f"  removing a leftover {name} (image {image}) from an earlier bench run")
            docker("rm", "-f", name, timeout=60)
            return
        if time.perf_counter() > deadline:
            raise BenchError(f"a container named {name} (image {image}) exists and is not the "
                             f"benchmark's (waited {wait} s): the benchmark will not touch it; "
                             "is someone else using the tasky-bench names?")
        log(f"  a container named {name} (image {image}) is not ours: waiting for it to go")
        time.sleep(5)


def doc_procedure(i, doc_poll, errors):
    """The document: docker run -d ...; sleep 10; docker inspect ...Health.Status.
    Returns (seconds, status after the sleep, seconds until Docker said healthy or None)."""
    started = time.perf_counter()
    _, proc = docker("run", "-d", "--name", DOC_CONTAINER, "-p", f"{DOC_PORT}:8080",
                     f"{IMAGE}:latest", timeout=120)
    if proc.returncode != 0:
        errors.append(f"doc repeat {i}: docker run: {tail(proc, 300)}")
        docker("rm", "-f", DOC_CONTAINER, timeout=60)
        return None, None, None
    time.sleep(10)
    _, proc = docker("inspect", "--format={{.State.Health.Status}}", DOC_CONTAINER,
                     timeout=30)  # the document's command, as written
    status = proc.stdout.strip()
    if not status:  # gone: someone else removed it (see the errors)
        errors.append(f"doc repeat {i}: docker inspect after sleep 10: "
                      + (proc.stderr.strip().splitlines() or ["no output"])[-1])
        status = "?"
    seconds, seen = time.perf_counter() - started, status
    # How long Docker itself takes to say healthy (its first probe waits the interval).
    while doc_poll and status != "healthy" and time.perf_counter() - started < doc_poll:
        time.sleep(0.25)
        status = docker("container", "inspect", "--format={{.State.Health.Status}}",
                        DOC_CONTAINER, timeout=30)[1].stdout.strip()
    healthy = time.perf_counter() - started if status == "healthy" else None
    docker("rm", "-f", DOC_CONTAINER, timeout=60)
    return seconds, seen, healthy


def measure_health(n, doc_poll, created):
    clear_leftover(CONTAINER)
    clear_leftover(DOC_CONTAINER)
    ours, split, doc_status, doc_healthy, doc_run, errors = [], [], [], [], [], []
    for i in range(1, n + 1):
        log(f"  repeat {i}/{n}: inv run + inv health --wait, then the document's procedure")
        created.add(CONTAINER)
        started = time.perf_counter()
        run_s, proc = run(INV + ["run"], timeout=120)
        if proc.returncode == 0:
            health_s, proc = run(INV + ["health", "--wait"], timeout=120)
        seconds = time.perf_counter() - started
        if proc.returncode == 0:
            ours.append(seconds)
            split.append((run_s, health_s))
        else:
            errors.append(f"ours repeat {i}: " + tail(proc, 400))
        run(INV + ["stop"], timeout=120)

        created.add(DOC_CONTAINER)
        seconds, status, healthy = doc_procedure(i, doc_poll, errors)
        if seconds is not None:
            doc_run.append(seconds)
            doc_status.append(status)
        if healthy is not None:
            doc_healthy.append(healthy)
    return {"ours_s": ours, "ours_run_s": [a for a, _ in split],
            "ours_health_s": [b for _, b in split], "doc_procedure_s": doc_run,
            "doc_status_after_10s": doc_status,
            "doc_docker_healthy_after_s": doc_healthy, "doc_poll_limit_s": doc_poll,
            "errors": errors}


def health_rows(hl):
    ours = median(hl["ours_s"])
    base = median(hl["doc_docker_healthy_after_s"]) or median(hl["doc_procedure_s"])
    statuses = hl["doc_status_after_10s"]
    seen = ", ".join(f"{s} x{statuses.count(s)}" for s in dict.fromkeys(statuses))
    return [{"metric": "3. time to verified healthy (s)", "ours": r3(ours),
             "baseline": r3(base), "ratio": r3(ours / base) if ours and base else None,
             "target": f"ours < {TARGETS['healthy_s']:g} s",
             "ok": ours is not None and ours < TARGETS["healthy_s"]},
            info_row("· status seen after the doc's sleep 10",
                     "healthy" if hl["ours_s"] else "-", seen or "-")]


def health_render(hl):
    out = [f"\n== 3. time to verified healthy  (median of {len(hl['ours_s'])})",
           f"ours:     inv run; inv health --wait  samples {rounded(hl['ours_s'])}"]
    if hl["ours_run_s"]:
        out.append(f"  medians: inv run {fmt(r3(median(hl['ours_run_s'])), ' s')}, "
                   f"inv health --wait {fmt(r3(median(hl['ours_health_s'])), ' s')}")
    out += [f"document: docker run -d --name {DOC_CONTAINER} -p {DOC_PORT}:8080 {IMAGE}:latest;"
            f" sleep 10; docker inspect --format='{{{{.State.Health.Status}}}}' {DOC_CONTAINER}",
            f"  status after sleep 10: {hl['doc_status_after_10s']}",
            f"  Docker reports healthy after (s, polled up to {hl['doc_poll_limit_s']} s): "
            f"{[round(x, 1) for x in hl['doc_docker_healthy_after_s']]}"]
    out += ["  error: " + error for error in hl["errors"]]
    return out


# ---- 4. image size ---------------------------------------------------------------------

def measure_size(budget):
    _, proc = run(INV + ["layers", "--json"], timeout=120)
    if proc.returncode != 0:
        raise BenchError("inv layers failed: " + tail(proc))
    result = json.loads(proc.stdout)
    return {"image": result["image"], "size_mb": result["size_mb"], "budget_mb": budget,
            "project_budget_mb": result.get("budget_mb"), "layers": result["layers"]}


def size_rows(size):
    return [{"metric": "4. image size (MB)", "ours": size["size_mb"],
             "baseline": size["budget_mb"],
             "ratio": round(size["size_mb"] / size["budget_mb"], 3),
             "target": f"<= {size['budget_mb']:g} MB",
             "ok": size["size_mb"] <= size["budget_mb"]}]


def size_render(size):
    return [f"\n== 4. layers of {size['image']}",
            tabulate([[r["layer"], r["size_mb"], r["cumulative_mb"], r["created_by"][:80]]
                      for r in size["layers"]],
                     headers=["#", "MB", "total MB", "created by"], disable_numparse=True),
            f"{size['image']}: {size['size_mb']} MB; bench budget {size['budget_mb']:g} MB"
            f" (project's tasky.size_budget_mb: {size['project_budget_mb']})"]
