"""A fake Docker engine on a real unix socket, for the EngineApi implementations' tests."""
import socket
import threading


class FakeEngine:
    """Answers each connection with the next canned reply; keeps what it was sent.

    A reply is the bytes to send, or a callable given the connection to answer on."""

    def __init__(self, path, replies):
        self.path, self.replies, self.requests = str(path), list(replies), []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(4)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        replies = iter(self.replies)
        reply = next(replies, None)
        while reply is not None:
            conn, _ = self.server.accept()
            with conn:
                request = self.read_request(conn)
                if request is None:
                    continue   # a connect-only probe (engine.precheck): no reply used
                self.requests.append(request)
                if callable(reply):
                    reply(conn)
                else:
                    conn.sendall(reply)
            reply = next(replies, None)

    @staticmethod
    def read_request(conn):
        data = b""
        while b"\r\n\r\n" not in data:
            block = conn.recv(65536)
            if not block:
                return None
            data += block
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        while len(body) < int(headers.get("Content-Length", 0)):
            body += conn.recv(65536)
        return {"line": lines[0], "headers": headers, "body": body}

    def close(self):
        self.server.close()


def fake_engines(tmp_path, monkeypatch):
    """The `fake` fixture's body: start(*replies) serves them where DOCKER_HOST points."""
    started = []

    def start(*replies):
        engine = FakeEngine(tmp_path / "engine.sock", replies)
        started.append(engine)
        monkeypatch.setenv("DOCKER_HOST", f"unix://{engine.path}")
        return engine

    yield start
    for engine in started:
        engine.close()


def http(status, body=b"", headers=(), chunked=None, last_chunk=True):
    """An HTTP/1.1 answer; chunked: its pieces, then the 0-chunk unless last_chunk is False."""
    head = [f"HTTP/1.1 {status} X", *headers]
    if chunked is None:
        head.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body
    head.append("Transfer-Encoding: chunked")
    out = ("\r\n".join(head) + "\r\n\r\n").encode()
    for piece in chunked:
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return out + (b"0\r\n\r\n" if last_chunk else b"")


PING = http(200, b"OK", ["Api-Version: 1.41", "Ostype: linux", "Builder-Version: 2"])
