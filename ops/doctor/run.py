"""`inv doctor`'s checks of the running app: the host port, the container, its health and
the variables it needs. Values of variables are never read into a row.
"""
import re

from ops.core.errors import OpsError
from ops.doctor.inputs import display_path
from ops.doctor.rows import needs_engine, row
from ops.engine import ownership
from ops.run import containers, ports
from ops.run import health as app_health
from ops.settings import envvars


def host_port(engine, settings):
    port, name = settings.port, settings.container
    ledger = ownership.Ledger.of(settings)
    holder = ports.container_holding(engine, port) if engine is not None else None
    if holder is not None and holder.name == name and ledger.owns_container(holder):
        exposed = ports.exposure(*ports.published_on(holder, port))
        return [row("run", "port", "ok", f"{port} is published by our container {name} on "
                    f"{exposed}")]
    if engine is not None:
        who = ports.describe_holder(engine, port, settings.host_ip, ledger)
    elif ports.port_in_use(port, settings.host_ip):
        who = "process " + (ports.process_holding(port) or "of another user")
    else:
        who = None
    if who is None:
        return [row("run", "port", "ok", f"{port} is free; inv run publishes it on "
                    f"{ports.exposure(settings.host_ip)}")]
    if holder is not None:
        stop = (f"inv stop --name {holder.name}" if ledger.owns_container(holder)
                else f"docker rm -f {holder.name}")
    else:
        stop = "stop that process"
    return [row("run", "port", "fail", f"{port} is held by {who}: inv run cannot publish there",
                f"{stop}, or run elsewhere: inv run --port {port + 1}", anchor="port-in-use")]


# What a crashed container's last lines usually mean, whatever the app: (pattern, cause, fix).
CAUSES = (
    (re.compile(r"cannot listen|address already in use"), "the app could not listen on its port",
     "inv logs --name {name}, then inv stop --name {name} and inv run"),
    (re.compile(r"exec format error"), "the binary was built for another CPU (GOARCH)",
     "rebuild for this machine: inv build, then inv stop --name {name} and inv run"),
)
# A log line that names a variable and calls it wrong or missing.
VARIABLE_TROUBLE = re.compile(r"\b([A-Z][A-Z0-9_]{2,})\b[^\n]*?\b(is invalid|invalid|must be|must "
                              r"start|not set|is required|required|missing|is empty)\b")


def variable_cause(lines, known):
    """(cause, fix) when the log blames one of the app's variables (tasky.app), else None."""
    for line in lines:
        for match in VARIABLE_TROUBLE.finditer(line):
            key = match.group(1)
            if key in known:
                return (f"an invalid or missing {key} (the app's log says so)",
                        f"fix {key}, then inv stop --name {{name}} and inv run -e {key}=... "
                        "(or --env-file)")
    return None


def likely_cause(lines, oom, code, known=()):
    """(cause, fix template) for a container that stopped; {name} is filled in later.
    known: the variable names the app profile lists."""
    if oom or code == 137:
        return ("killed: out of memory" if oom else "killed (SIGKILL: out of memory or docker "
                "kill)", "raise the memory limit, then inv stop --name {name} and inv run")
    for pattern, cause, fix in CAUSES:
        if any(pattern.search(line) for line in lines):
            return cause, fix
    blamed = variable_cause(lines, known)
    if blamed:
        return blamed
    if code == 0:
        return ("it was stopped (exit 0), not a crash",
                "inv stop --name {name} removes it; inv run starts a new one")
    return ("not recognised: read the log",
            "inv logs --name {name} shows all of it; inv stop --name {name}, then inv run")


def container(engine, settings):
    import docker

    if engine is None:
        return [needs_engine("run", "container")]
    name = settings.container
    try:
        found = engine.containers.get(name)
    except docker.errors.NotFound:
        return [row("run", "container", "skip", f"no container named {name} (inv run starts it)")]
    state = found.attrs["State"]
    status, restarts = state["Status"], found.attrs.get("RestartCount", 0)
    image = found.attrs["Config"].get("Image", "?")
    if not ownership.Ledger.of(settings).owns_container(found):
        return [row("run", "container", "warn", f"{name} ({status}) was not started by "
                    "tasky-ops from this checkout: inv run cannot use the name",
                    f"inv run --name other, or remove it yourself: docker rm -f {name}",
                    anchor="name-taken")]
    if status == "running":
        summary = (f"{name} running {image} since {state['StartedAt'][:19]}, "
                   f"restarts {restarts}")
        if restarts:
            return [row("run", "container", "warn", summary + ": it crashed and was restarted",
                        f"inv logs --name {name} says why", anchor="container-wont-start"),
                    health(found, settings)]
        return [row("run", "container", "ok", summary), health(found, settings)]
    if status == "paused":
        return [row("run", "container", "warn", f"{name} is paused", f"docker unpause {name}",
                    anchor="container-wont-start")]
    lines = containers.tail_logs(found, settings, lines=5)   # masked by value and URL
    app = settings.app
    cause, fix = likely_cause(lines, state.get("OOMKilled"), state.get("ExitCode"),
                              {*app.required_env, *app.secret_env, *app.public_env,
                               *containers.passed_env(found)})
    detail = (f"{name} {status} (exit code {state.get('ExitCode')}"
              f"{', out of memory' if state.get('OOMKilled') else ''}, restarts {restarts}); "
              f"likely cause: {cause}")
    if lines:
        detail += "\nlast log lines:\n" + "\n".join("  " + line for line in lines)
    return [row("run", "container", "fail", detail, fix.format(name=name),
                anchor="container-wont-start", autofix="remove-stale-container")]


def health(found, settings):
    """Docker's recorded health and a live run of the image's own probe (`docker exec`), judged
    by the one rule (ops.run.health.verdict): ok only when it says healthy."""
    report = app_health.health_report(found, settings)
    probe = report["live_probe"]
    recorded = f"docker says {report['docker_status']}"
    if report["failing_streak"]:
        recorded += f" (failing streak {report['failing_streak']})"
    last = report["last_probes"][-1]["output"] if report["last_probes"] else ""
    if report["healthy"]:
        note = (": the first probe runs one interval after start" if
                report["docker_status"] == "starting" else "")
        said = (f"live probe passed in {probe['seconds']}s" if probe["ok"] else report["why"])
        return row("run", "health", "ok", f"{said}; {recorded}{note}")
    if probe["ok"] is None and not report.get("app"):
        return row("run", "health", "skip", f"{probe['output']}, and no published port and "
                   "probe path to ask the app")
    output = " ".join(probe["output"].split())[:200]
    if probe["ok"]:   # the rule's other word: Docker's record outweighs one pass now
        said = f"live probe passes now, but {recorded}"
    elif probe["ok"] is None:
        said = f"{output}; {report['why']}; {recorded}"
    else:
        exited = (f"exited {probe['exit_code']}" if probe["exit_code"] is not None
                  else "failed")
        said = (f"live probe (the image's HEALTHCHECK via docker exec) {exited}: {output}; "
                f"{recorded}")
    return row("run", "health", "fail", said + (f"; last recorded: {last}" if last else ""),
               f"inv logs --name {found.name} says why the app does not answer; inv health "
               f"--name {found.name} shows Docker's record", anchor="health-check-failing")


def _container_env_names(engine, settings):
    """Names (never values) of the variables our container runs with, or None."""
    import docker

    if engine is None:
        return None
    try:
        found = engine.containers.get(settings.container)
    except docker.errors.NotFound:
        return None
    if not ownership.Ledger.of(settings).owns_container(found):
        return None
    return {item.split("=", 1)[0] for item in found.attrs["Config"].get("Env") or []}


def mongo_uri_problem(value):
    """Why the app would refuse this MONGODB_URI, or None (the value is never returned)."""
    scheme, sep, rest = value.strip().partition("://")
    if not sep or scheme.lower() not in ("mongodb", "mongodb+srv"):
        return "it must start with mongodb:// or mongodb+srv://"
    host = re.split(r"[/?]", rest, maxsplit=1)[0].rpartition("@")[2]
    return None if host else "it names no host"


def variables(engine, settings):
    """The variables the app profile names (tasky.app.required_env, secret_env): set or not
    in the profile's env file and in the running container; values never shown."""
    app, name = settings.app, settings.container
    names = _container_env_names(engine, settings)
    path = settings.env_file_path
    try:
        in_file = envvars.read_env_file(path) if path and path.is_file() else {}
    except OpsError as error:
        return [row("run", "env file", "fail", error.message, error.fix, error.anchor)]
    shown_file = display_path(path, settings.root) if path else "no env file"
    rows = []
    for key in dict.fromkeys([*app.required_env, *app.secret_env]):
        where = f"{'set' if in_file.get(key) else 'not set'} in {shown_file}"
        if names is not None:
            where += f"; {'set' if key in names else 'not set'} in container {name}"
        required = key in app.required_env
        if required and names is not None and key not in names:
            rows.append(row("run", key, "fail", where + ": the app needs it (required_env)",
                            f"inv stop --name {name}, then inv run -e {key}=... (or write it in "
                            f"{shown_file})", anchor="bad-env"))
        elif required and not in_file.get(key) and names is None:
            rows.append(row("run", key, "warn", where + ": inv run refuses to start without it "
                            "(required_env)", f"write {key}=... in {shown_file}, or pass "
                            f"inv run -e {key}=...", anchor="bad-env"))
        elif key == "MONGODB_URI" and in_file.get(key) and mongo_uri_problem(in_file[key]):
            rows.append(row("run", key, "warn", f"{where}, but invalid: "
                            f"{mongo_uri_problem(in_file[key])}", "write it as "
                            "mongodb://USER:PASSWORD@HOST/DB", anchor="container-wont-start"))
        else:
            rows.append(row("run", key, "ok", where))
    return rows or [row("run", "variables", "ok", "the app profile (tasky.app) names none")]


def app_log(engine, settings):
    """Does the app print a secret it was given? Its raw log goes to every log shipper."""
    import docker

    if engine is None:
        return [needs_engine("run", "app log")]
    try:
        found = engine.containers.get(settings.container)
    except docker.errors.NotFound:
        return []   # the container row says there is none
    text = found.logs(tail=500).decode("utf-8", "replace")
    names = containers.raw_log_secrets(found, settings, text)
    if not names:
        return [row("run", "app log", "ok", "the app's own log holds none of the secret values "
                    "it was given")]
    return [row("run", "app log", "warn", f"the app prints the value of {', '.join(names)} in "
                "its own log (docker logs and log shippers see it unmasked)",
                "make the app redact it before logging, rebuild, run again",
                anchor="app-logs-a-secret")]
