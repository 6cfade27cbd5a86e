"""Two `inv promote` to one tag at once, against a real registry (Debian's docker-registry,
as `inv registry` runs it). Between them sits a relay that holds each PUT of the tag until
both have arrived and then lets them through one after the other: the two moves surely
overlap, as two engineers' at 3 a.m. might. Exactly one says "moved"; the other says it
lost and names where the tag is now. Without the relay, one after the other, both move (the
second from the first's digest), and "already there" is said only when it was.

The images are two tiny manifests uploaded straight through the registry API (no engine).
"""
import hashlib
import http.client
import http.server
import json
import subprocess
import threading

import pytest

from ops.registry import http_api
from tests.integration.helpers import RUN_ID

REPOSITORY = f"tasky-it-{RUN_ID}-race"
TAG = "latest"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def upload_blob(addr, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    connection = http.client.HTTPConnection(addr, timeout=10)
    connection.request("POST", f"/v2/{REPOSITORY}/blobs/uploads/")
    response = connection.getresponse()
    response.read()
    location = response.getheader("Location")
    path = location.split(addr, 1)[-1]
    joiner = "&" if "?" in path else "?"
    connection.request("PUT", f"{path}{joiner}digest={digest}", body=data,
                       headers={"Content-Type": "application/octet-stream"})
    response = connection.getresponse()
    response.read()
    assert response.status == 201, response.status
    return digest, len(data)


def image(addr, name):
    """A manifest of its own (config naming `name`) under tag `name`; its digest."""
    layer, layer_size = upload_blob(addr, b"layer of " + name.encode())
    config, config_size = upload_blob(addr, json.dumps(
        {"architecture": "amd64", "os": "linux", "config": {"Labels": {"it": name}},
         "rootfs": {"type": "layers", "diff_ids": [layer]}}).encode())
    body = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_TYPE,
                       "config": {"mediaType": CONFIG_TYPE, "size": config_size,
                                  "digest": config},
                       "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar"
                                   ".gzip", "size": layer_size, "digest": layer}]}).encode()
    http_api.put_manifest(addr, REPOSITORY, name, body, MANIFEST_TYPE)
    return "sha256:" + hashlib.sha256(body).hexdigest()


class Relay(http.server.ThreadingHTTPServer):
    """Relays to the registry; PUTs of the tag wait until `together` have arrived, then go
    through in arrival order, each answered before the next is sent."""

    def __init__(self, upstream, together=2):
        self.upstream, self.together = upstream, together
        self.arrived, self.turn = [], threading.Condition()
        self.sent = 0
        super().__init__(("127.0.0.1", 0), Handler)
        self.addr = f"127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def forward(self, method, path, headers, body):
        connection = http.client.HTTPConnection(self.upstream, timeout=30)
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()

    def put_in_turn(self, headers, body, path):
        with self.turn:
            me = len(self.arrived)
            self.arrived.append(me)
            self.turn.notify_all()
            assert self.turn.wait_for(lambda: len(self.arrived) >= self.together, timeout=30)
            self.turn.wait_for(lambda: self.sent == me, timeout=30)
            answer = self.forward("PUT", path, headers, body)
            self.sent += 1
            self.turn.notify_all()
        return answer


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def relay(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        if self.command == "PUT" and self.path == f"/v2/{REPOSITORY}/manifests/{TAG}":
            status, answer_headers, answer = self.server.put_in_turn(headers, body, self.path)
        else:
            status, answer_headers, answer = self.server.forward(self.command, self.path,
                                                                 headers, body)
        self.send_response(status)
        for key, value in answer_headers:
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    do_GET = do_PUT = do_HEAD = do_POST = do_PATCH = do_DELETE = relay


@pytest.fixture(scope="module")
def registry(plain_registry):
    return plain_registry


@pytest.fixture
def images(registry):
    """Three images; the tag on the first ("the release before")."""
    digests = {name: image(registry, name) for name in ("it-before", "it-a", "it-b")}
    body, media_type, _ = http_api.get_manifest(registry, REPOSITORY, "it-before")
    http_api.put_manifest(registry, REPOSITORY, TAG, body, media_type)
    return digests


def promote(inv, addr, src):
    return subprocess.Popen(inv.command("promote", src, TAG, "--registry", "local", "--json"),
                            cwd=inv.cwd, env={**inv.env, "INVOKE_TASKY_ECR_LOCAL_REGISTRY": addr,
                                              "INVOKE_TASKY_ECR_REPOSITORY": REPOSITORY},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc):
    out, err = proc.communicate(timeout=120)
    return proc.returncode, json.loads(out), err


def test_two_promotes_at_once_exactly_one_moves_and_the_other_says_it_lost(
        inv, registry, images):
    relay = Relay(registry)
    try:
        procs = [promote(inv, relay.addr, "it-a"), promote(inv, relay.addr, "it-b")]
        results = [finish(proc) for proc in procs]
    finally:
        relay.shutdown()
    moved = [r for r in results if r[0] == 0]
    lost = [r for r in results if r[0] != 0]
    assert len(moved) == 1 and len(lost) == 1, results
    (_, report, _), (code, refusal, stderr) = moved[0], lost[0]
    now = http_api.manifest_digest(registry, REPOSITORY, TAG)
    assert report["status"] == "moved" and report["new"] == now
    assert report["old"] == images["it-before"]          # it moved the tag from where it was
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert code == 1 and len(errors) == 1, stderr
    assert f"was moved by someone else at the same time: now {now[7:19]}" in errors[0]
    assert "RUNBOOK.md#tag-moved-at-the-same-time" in errors[0]
    assert refusal["ok"] is False and "already there" not in stderr
    # Only the move that won recorded history: the tag's previous digest is the one before.
    assert http_api.manifest_digest(registry, REPOSITORY, f"previous-{TAG}") == \
        images["it-before"]


def test_one_after_the_other_both_move_and_already_there_only_when_it_was(
        inv, registry, images):
    first = finish(promote(inv, registry, "it-a"))
    assert first[0] == 0 and (first[1]["status"], first[1]["old"]) == (
        "moved", images["it-before"])
    again = finish(promote(inv, registry, "it-a"))
    assert again[0] == 0 and again[1]["status"] == "already there"
    second = finish(promote(inv, registry, "it-b"))
    assert second[0] == 0 and (second[1]["status"], second[1]["old"]) == (
        "moved", images["it-a"])
