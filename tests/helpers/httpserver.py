"""A small HTTP(S) server on 127.0.0.1 whose handler each test writes, run in a thread, and the
ways of answering that the network tests share: a whole body (``send``), a body that stops
short of the length it declared (``send_truncated``), one that trickles in (``dribble``), or
only the head (``send_head``), the body then the handler's own business.

The net, registry and token tests all serve from here, so a handler is only what differs.
"""

from __future__ import annotations

import http.server
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Req = http.server.BaseHTTPRequestHandler
Handler = Callable[[Req], None]


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


@contextmanager
def serve(handle: Handler, *, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Serve ``handle`` for every GET/HEAD; yields the base URL (``http(s)://127.0.0.1:PORT``)."""

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            handle(self)

        do_HEAD = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = _Server(("127.0.0.1", 0), H)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def send_head(req: Req, status: int, length: int, headers: dict[str, str] | None = None) -> None:
    """The status line and headers, promising a body of ``length`` bytes."""
    req.send_response(status)
    for k, v in (headers or {}).items():
        req.send_header(k, v)
    req.send_header("Content-Length", str(length))
    req.end_headers()


def send(req: Req, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
    """A whole answer (the body left out for HEAD, as a server must)."""
    send_head(req, status, len(body), headers)
    if req.command != "HEAD":
        req.wfile.write(body)


def send_truncated(req: Req, body: bytes, cut: int) -> None:
    """Promise all of ``body``, send its first ``cut`` bytes, then close: a broken download."""
    send_head(req, 200, len(body))
    req.wfile.write(body[:cut])
    req.wfile.flush()
    req.close_connection = True


def dribble(req: Req, body: bytes, *, chunk: int, pause: float) -> None:
    """Promise all of ``body`` and send it ``chunk`` bytes at a time, ``pause`` seconds apart
    (a slow loris), until done or the client hangs up."""
    send_head(req, 200, len(body))
    for start in range(0, len(body), chunk):
        try:
            req.wfile.write(body[start:start + chunk])
            req.wfile.flush()
        except OSError:
            return
        time.sleep(pause)
