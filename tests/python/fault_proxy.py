#!/usr/bin/env python3
"""A loopback HTTP proxy that injects transient faults, seeded, in front of the test emulators.

Usage:  fault_proxy.py UPSTREAM_URL [UPSTREAM_URL ...]
Each upstream (an `http://127.0.0.1:PORT[/path]` URL of moto, azurite, the GCS, Unity Catalog or
Hub emulator) gets a proxy on 127.0.0.1; one JSON line lists the proxies' URLs in the same order
(same path as the upstream), then the proxy serves until its standard input closes (the test that
started it holds the pipe). It only ever connects to 127.0.0.1.

Requests are forwarded as they are (Host header included, so signatures and self-links keep
working). Faults, decided per request from a hash of (seed, method, path+query, Range, attempt
number of that same request) so a failure reproduces whatever the request order:
  503     `503 SlowDown` (S3's XML error body), request not forwarded
  500     `500 InternalError`, not forwarded
  429     `429` with `Retry-After: <retry_after>`, not forwarded
  reset   the connection closed with no answer, not forwarded
  cut     GET only: forwarded, the answer's headers and half its body, then the connection closed
  slow    forwarded after `slow_seconds`
A request is faulted at most `max_faults` times in a row (the faults stay transient). With
`match` (a regex over "METHOD path?query") only matching requests are faulted, and each of them is
recorded with its arrival time in `times` (to check how long a client waited before a retry).

Control, on every proxy port (state shared by all proxies of the process):
  POST /_fault/setup  JSON merged into the config: seed, rate (0..1), kinds, max_faults,
                      slow_seconds, retry_after, fail_all (true: every request answered 503
                      SlowDown with Retry-After; a list of methods: only those), drop (a list of {method, path: regex, count}: the
                      request is forwarded and applied, then the connection is closed without
                      its answer, `count` times; with `then_error: CODE`, the next matching
                      request after each drop is answered `404 CODE` (S3's XML error) without
                      being forwarded: a store that no longer knows the request it applied, as S3
                      answers `NoSuchUpload` to a completed multipart upload); resets the counters
  GET  /_fault/stats  {requests, faults: {kind: n}, dropped: [method path], log: [...],
                      times: [[seconds, method, path, fault or null], ...]}
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

DEFAULT = {
    "seed": 0,
    "rate": 0.0,
    "kinds": ["503", "500", "429", "reset", "cut", "slow"],
    "max_faults": 2,
    "slow_seconds": 1.0,
    "retry_after": 1,
    "fail_all": False,
    "drop": [],
    "match": None,
}
CONFIG = dict(DEFAULT)
STATS = {"requests": 0, "faults": {}, "dropped": [], "log": [], "times": []}
ATTEMPTS: dict[str, int] = {}
LOCK = threading.Lock()
HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-authorization", "proxy-authenticate"}
SLOWDOWN = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
            b"<Message>Please reduce your request rate.</Message></Error>")
INTERNAL = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
            b"<Message>We encountered an internal error. Please try again.</Message></Error>")


def decide(method: str, target: str, rng: str) -> str | None:
    """The fault for this request, or None (called with LOCK held)."""
    key = f"{method} {target} {rng}"
    attempt = ATTEMPTS.get(key, 0)
    ATTEMPTS[key] = attempt + 1
    fail = CONFIG["fail_all"]
    if fail is True or (isinstance(fail, list) and method in fail):
        return "fail_all"
    for rule in CONFIG["drop"]:
        if rule.get("method", method) != method or not re.search(rule["path"], target):
            continue
        if rule.get("count", 1) > 0:
            rule["count"] = rule.get("count", 1) - 1
            if rule.get("then_error"):
                rule["pending"] = rule.get("pending", 0) + 1
            return "drop"
        if rule.get("pending", 0) > 0:
            rule["pending"] -= 1
            return "then_error:" + rule["then_error"]
    if attempt >= CONFIG["max_faults"] or CONFIG["rate"] <= 0:
        return None
    if CONFIG["match"] and not re.search(CONFIG["match"], f"{method} {target}"):
        return None
    h = hashlib.sha256(f"{CONFIG['seed']}|{key}|{attempt}".encode()).digest()
    if int.from_bytes(h[:8], "big") / 2**64 >= CONFIG["rate"]:
        return None
    kinds = [k for k in CONFIG["kinds"] if k != "cut" or method == "GET"]
    return kinds[int.from_bytes(h[8:16], "big") % len(kinds)] if kinds else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream: tuple[str, int] = ("127.0.0.1", 0)

    def log_message(self, *args):  # quiet
        pass

    def read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status: int, body: bytes, headers: dict | None = None, cut: bool = False):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.command != "HEAD" or not any(k.lower() == "content-length" for k in (headers or {})):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body[: len(body) // 2] if cut else body)
        if cut:
            self.wfile.flush()
            self.hang_up()

    def hang_up(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def control(self, body: bytes) -> bool:
        if not self.path.startswith("/_fault/"):
            return False
        with LOCK:
            if self.path == "/_fault/setup":
                CONFIG.clear()
                CONFIG.update(json.loads(json.dumps(DEFAULT)))
                CONFIG.update(json.loads(body or b"{}"))
                ATTEMPTS.clear()
                STATS.update({"requests": 0, "faults": {}, "dropped": [], "log": [], "times": []})
                reply = CONFIG
            else:
                reply = STATS
            data = json.dumps(reply).encode()
        self.send(200, data, {"Content-Type": "application/json"})
        return True

    def forward(self, body: bytes):
        conn = http.client.HTTPConnection(*self.upstream, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP and k.lower() != "content-length"}
        if body or self.command in ("PUT", "POST", "PATCH"):
            headers["Content-Length"] = str(len(body))
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        out = {k: v for k, v in resp.getheaders() if k.lower() not in HOP and k.lower() != "content-length"}
        if self.command == "HEAD" and resp.getheader("content-length") is not None:
            out["Content-Length"] = resp.getheader("content-length")
        conn.close()
        return resp.status, data, out

    def handle_any(self):
        body = self.read_body()
        if self.control(body):
            return
        with LOCK:
            STATS["requests"] += 1
            fault = decide(self.command, self.path, self.headers.get("range", ""))
            if CONFIG["match"] and re.search(CONFIG["match"], f"{self.command} {self.path}"):
                if len(STATS["times"]) < 2000:
                    STATS["times"].append([time.monotonic(), self.command, self.path, fault])
            if fault:
                STATS["faults"][fault] = STATS["faults"].get(fault, 0) + 1
                if len(STATS["log"]) < 2000:
                    STATS["log"].append(f"{fault} {self.command} {self.path}")
            retry_after = str(CONFIG["retry_after"])
            slow = CONFIG["slow_seconds"]
        if fault == "fail_all":
            return self.send(503, SLOWDOWN, {"Content-Type": "application/xml", "Retry-After": retry_after})
        if fault == "503":
            return self.send(503, SLOWDOWN, {"Content-Type": "application/xml"})
        if fault == "500":
            return self.send(500, INTERNAL, {"Content-Type": "application/xml"})
        if fault == "429":
            return self.send(429, b"Too Many Requests", {"Content-Type": "text/plain", "Retry-After": retry_after})
        if fault == "reset":
            return self.hang_up()
        if fault and fault.startswith("then_error:"):
            code = fault.split(":", 1)[1]
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                    f"<Message>{code} (fault_proxy)</Message></Error>").encode()
            return self.send(404, body, {"Content-Type": "application/xml"})
        if fault == "slow":
            time.sleep(slow)
        try:
            status, data, headers = self.forward(body)
        except OSError as e:
            return self.send(502, f"upstream: {e}".encode(), {"Content-Type": "text/plain"})
        if status >= 400 and len(STATS["log"]) < 2000:
            with LOCK:
                hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("authorization",)}
                STATS["log"].append(f"upstream {status} {self.command} {self.path} {hdrs} {len(body)}B "
                                    f"{data[:300]!r}")
        if fault == "drop":
            with LOCK:
                STATS["dropped"].append(f"{self.command} {self.path}")
            return self.hang_up()
        self.send(status, data, headers, cut=fault == "cut" and len(data) > 1)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = handle_any


def proxy_for(url: str) -> str:
    u = urlparse(url)
    if u.hostname not in ("127.0.0.1", "localhost"):
        sys.exit(f"fault_proxy.py: {url} is not on loopback")
    handler = type("H", (Handler,), {"upstream": (u.hostname, u.port or 80)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}{u.path.rstrip('/')}"


def main():
    urls = [proxy_for(u) for u in sys.argv[1:]]
    print(json.dumps(urls), flush=True)
    sys.stdin.read()  # until the test closes the pipe (or dies)


if __name__ == "__main__":
    main()
