"""A registry on loopback that answers wrongly in one chosen way, for tests and the bench.

    with FakeRegistry("self-link") as registry:   # registry.addr is 127.0.0.1:PORT
        ...

/v2/ always answers 200 (so a login check passes); the tag list (and, for "bad-manifest",
the manifest) answers as the behaviour says. `requests` counts what it was asked.
"""
import http.server
import json
import threading
import urllib.parse

BEHAVIOURS = {
    "self-link": "a Link header pointing at the page itself",
    "cycle": "two pages whose Link headers point at each other",
    "elsewhere": "a Link header pointing at another host",
    "endless": "a new next page on every answer",
    "html": "an HTML login page",
    "malformed": "JSON cut short",
    "wrong-shape": "JSON whose tags are not a list",
    "bad-manifest": "a good tag list, then HTML for the manifest",
    "stall": "the tag list never answered",
}


class FakeRegistry:
    def __init__(self, behaviour, stall_seconds=120):
        assert behaviour in BEHAVIOURS, behaviour
        self.behaviour, self.stall_seconds, self.requests = behaviour, stall_seconds, 0
        self.stop = threading.Event()
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):   # noqa: N802 (http.server's name)
                registry.requests += 1
                status, headers, body = registry.answer(self.path)
                if status is None:
                    return
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET   # noqa: N815

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def close(self):
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def answer(self, path):
        parts = urllib.parse.urlsplit(path)
        query = urllib.parse.parse_qs(parts.query)
        plain = {"Content-Type": "application/json"}
        if parts.path == "/v2/":
            return 200, plain, b"{}"
        if "/manifests/" in parts.path:
            return 200, {"Content-Type": "text/html"}, b"<!DOCTYPE html><html>sign in</html>"
        if not parts.path.endswith("/tags/list"):
            return 404, plain, b'{"errors": []}'
        page = json.dumps({"name": "x", "tags": ["a"]}).encode()
        first = f"{parts.path}?n=100"
        link = lambda target: {**plain, "Link": f'<{target}>; rel="next"'}   # noqa: E731
        kind = self.behaviour
        if kind == "self-link":
            return 200, link(path), page
        if kind == "cycle":
            return 200, link(first if "last" in query else f"{first}&last=a"), page
        if kind == "elsewhere":
            return 200, link(f"http://registry.invalid{first}&last=a"), page
        if kind == "endless":
            after = int(query.get("last", ["0"])[0]) + 1
            return 200, link(f"{first}&last={after}"), page
        if kind == "html":
            return 200, {"Content-Type": "text/html"}, b"<!DOCTYPE html><html>sign in</html>"
        if kind == "malformed":
            return 200, plain, b'{"name": "x", "tags": ["a",'
        if kind == "wrong-shape":
            return 200, plain, b'{"name": "x", "tags": "a,b"}'
        if kind == "stall":
            self.stop.wait(self.stall_seconds)
            return None, None, None
        return 200, plain, page   # bad-manifest: the list is fine
