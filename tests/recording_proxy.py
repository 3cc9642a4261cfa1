"""A recording HTTP proxy in front of the test S3 server: what a client sent, on the wire.

Clients are pointed at the proxy's endpoint instead of the server's; every request is
forwarded unchanged (the ``Host`` header included, which SigV4 signs) over a keep-alive
connection, and its method and path are recorded. So a test can say which requests a
store sent, not only what the server ended up holding.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Hop-by-hop headers are the proxy's own business; the body is re-sent whole.
_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te"}
READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass
class Recording:
    """The requests seen so far, as (method, path with query) pairs."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, method: str, path: str) -> None:
        with self.lock:
            self.requests.append((method, path))

    def mutating(self) -> list[tuple[str, str]]:
        """Every request that is not a read (GET or HEAD)."""
        with self.lock:
            return [r for r in self.requests if r[0] not in READ_METHODS]


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0], 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _handler(upstream: tuple[str, int], recording: Recording) -> type[BaseHTTPRequestHandler]:
    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes: with Nagle on, each response waited for a
        # delayed ACK (~40 ms), and the Delta wire test took 13 s instead of 6 s.
        disable_nagle_algorithm = True
        upstream_conn: http.client.HTTPConnection | None = None

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _forward(self) -> None:
            recording.add(self.command, self.path)
            body = _read_body(self)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            if body or self.command not in READ_METHODS:
                headers["Content-Length"] = str(len(body))
            if self.upstream_conn is None:
                self.upstream_conn = http.client.HTTPConnection(*upstream, timeout=60)
            try:
                self.upstream_conn.request(self.command, self.path, body or None, headers)
                response = self.upstream_conn.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException):
                self.upstream_conn.close()
                self.upstream_conn = None
                self.send_error(502)
                return
            self.send_response_only(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in _HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            length = response.getheader("Content-Length")
            if self.command == "HEAD" and length is not None:
                self.send_header("Content-Length", length)
            else:
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = _forward

    return Forward


@contextmanager
def recording_proxy(endpoint: str) -> Iterator[tuple[str, Recording]]:
    """Serve a proxy to ``endpoint`` on a free loopback port: (its endpoint, its recording)."""
    target = urlsplit(endpoint)
    recording = Recording()
    upstream = (target.hostname or "127.0.0.1", target.port or 80)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream, recording))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recording
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
