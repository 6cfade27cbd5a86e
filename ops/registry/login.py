"""`inv login`: prove an ECR token works against the registry, storing it nowhere by default."""
import base64
import json
import os
import subprocess
from pathlib import Path

from ops.core import answers, files
from ops.core.answers import MapOf, Maybe
from ops.core.console import table
from ops.core.errors import OpsError
from ops.registry import ecr, http_api


def docker_config_path():
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"


def store_for_docker_cli(host, token):
    """Store the credentials the way the docker CLI would: its helper if set, else the file."""
    path = docker_config_path()
    config = read_docker_config(path)
    helper = (config.get("credHelpers") or {}).get(host) or config.get("credsStore")
    if helper:
        secret = json.dumps({"ServerURL": host, "Username": token.username,
                             "Secret": token.password})
        try:
            proc = subprocess.run([f"docker-credential-{helper}", "store"], input=secret,
                                  capture_output=True, text=True)
        except FileNotFoundError as exc:
            raise OpsError(f"credential helper docker-credential-{helper} is configured in "
                           f"{path} but not installed", fix="install it, or remove it from "
                           "the config", anchor="push-denied") from exc
        if proc.returncode != 0:
            raise OpsError(f"docker-credential-{helper} refused to store the token",
                           fix="check the helper", anchor="push-denied")
        return f"credential helper {helper}"
    pair = f"{token.username}:{token.password}".encode()
    config.setdefault("auths", {})[host] = {"auth": base64.b64encode(pair).decode()}
    files.make_folder(path.parent, mode=0o700)
    # Whole or not at all: a full disk must not leave the user's other logins truncated.
    files.write_atomically(path, json.dumps(config, indent=2) + "\n", mode=0o600)
    return f"{path} (plain base64: readable by anyone who can read that file)"


# What the docker CLI's config.json must look like for this tool to add an entry to it.
DOCKER_CONFIG = {"auths": Maybe(MapOf(dict)), "credHelpers": Maybe(MapOf(str)),
                 "credsStore": Maybe(str)}


def read_docker_config(path):
    """The docker CLI's config.json ({} when there is none), one line when it is unreadable."""
    fix = f"repair {path} or move it aside (the docker CLI cannot read it either)"
    try:
        config = files.read_json(path, "docker config", "docker-config", fix)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise OpsError(f"cannot read docker config {path}: {exc.strerror or exc}", fix=fix,
                       anchor="docker-config") from None
    return answers.check(config, DOCKER_CONFIG, f"docker config {path}", "docker-config", fix)


def login(settings, docker_config=False, now=None):
    token = ecr.fetch_token(settings)
    endpoint_host = token.endpoint.split("//")[-1].rstrip("/")
    host, _ = ecr.push_host(settings, endpoint_host)
    http_api.check_login(host, token.auth_config())
    now = now or ecr.utcnow()
    expires = token.expires_at
    result = {"registry": host, "account": token.account, "region": settings.ecr.resolved_region,
              "expires_at": expires.isoformat() if expires else "unknown",
              "expires_in": _left(expires, now), "stored": "nowhere (push fetches its own)"}
    if docker_config:
        result["stored"] = store_for_docker_cli(host, token)
    return result


def _left(expires, now):
    if expires is None:
        return "unknown"
    seconds = int((expires - now).total_seconds())
    if seconds <= 0:
        return "already expired (is the clock right?)"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def render(result):
    return table([result], [("registry", "registry"), ("account", "account"),
                            ("region", "region"), ("expires_at", "expires"),
                            ("expires_in", "left"), ("stored", "token stored")])
