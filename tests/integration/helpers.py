"""What integration tests share: the session's names and a way to run `inv`."""
import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

from tests.support import free_port  # noqa: F401  (re-exported for the tests)

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = uuid.uuid4().hex[:8]
IMAGE = f"tasky-it-{RUN_ID}"
SECRET_MARKERS = ("jwt-" + RUN_ID, "pw-" + RUN_ID)


def docker_required():
    flag = os.environ.get("TASKY_REQUIRE_DOCKER") or os.environ.get("CI") or ""
    return flag.lower() not in ("", "0", "false", "no")


class Inv:
    """Runs `inv` as a user would, with this session's image, container and port."""

    def __init__(self):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_TASKY_")}
        self.env.pop("CI", None)  # tests read progress-free output either way
        self.env.update(INVOKE_TASKY_IMAGE=IMAGE, INVOKE_TASKY_CONTAINER=f"{IMAGE}-app",
                        INVOKE_TASKY_PORT=str(free_port()))

    cwd = ROOT

    @staticmethod
    def command(*args):
        return [sys.executable, "-m", "invoke", *args]

    def __call__(self, *args, env=None, cwd=ROOT, timeout=600):
        proc = subprocess.run(self.command(*args), cwd=cwd,
                              env={**self.env, **(env or {})}, capture_output=True,
                              text=True, timeout=timeout)
        proc.output = proc.stdout + proc.stderr
        return proc

    def json(self, *args, **kw):
        proc = self(*args, "--json", **kw)
        assert proc.returncode == 0, proc.output
        return json.loads(proc.stdout)

    @property
    def port(self):
        return int(self.env["INVOKE_TASKY_PORT"])

    @property
    def container(self):
        return self.env["INVOKE_TASKY_CONTAINER"]




class EngineRelay:
    """A tcp:// address for the real engine (dockerd here listens on its unix socket only).
    Each connection is relayed byte for byte to /var/run/docker.sock, unless `answer` (given
    the request's head) returns bytes to send back instead: an engine configured otherwise."""

    def __init__(self, answer=None):
        self.answer = answer or (lambda head: None)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.host = f"tcp://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(client,), daemon=True).start()

    def serve(self, client):
        head = b""
        while b"\r\n\r\n" not in head:
            block = client.recv(65536)
            if not block:
                client.close()
                return
            head += block
        reply = self.answer(head)
        if reply is not None:
            client.sendall(reply)
            client.close()
            return
        engine = socket.socket(socket.AF_UNIX)
        engine.connect("/var/run/docker.sock")
        engine.sendall(head)
        threading.Thread(target=self.relay, args=(engine, client), daemon=True).start()
        self.relay(client, engine)

    @staticmethod
    def relay(source, sink):
        try:
            while block := source.recv(65536):
                sink.sendall(block)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        self.server.close()
