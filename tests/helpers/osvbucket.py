"""A local stand-in for osv.dev's bucket, served on loopback by the tests.

It serves a folder laid out as osv.dev publishes it (``<Ecosystem>/all.zip``) with real
ETag and Last-Modified validators, answers conditional GETs with 304 as Google Cloud
Storage does, and counts requests and body bytes so a test can prove that an unchanged
archive is not downloaded again. Faults are switched per test: ``fail_with`` (a status
for every request) and ``stall_after`` (send that many body bytes, then hang, so a client
can be killed mid-download).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Bucket:
    root: Path
    url: str = ""
    requests: list[tuple[str, int]] = field(default_factory=list)  # (path, status)
    body_bytes: int = 0
    fail_with: int | None = None
    stall_after: int | None = None
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


def _handler(bucket: Bucket) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def do_GET(self) -> None:
            if bucket.fail_with is not None:
                bucket.requests.append((self.path, bucket.fail_with))
                self.send_response(bucket.fail_with)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path = bucket.root / self.path.lstrip("/").replace("%20", " ")
            if not path.is_file():
                bucket.requests.append((self.path, 404))
                self.send_error(404)
                return
            data = path.read_bytes()
            etag = '"' + hashlib.md5(data).hexdigest() + '"'  # GCS's ETag is the MD5
            modified = formatdate(path.stat().st_mtime, usegmt=True)
            if self.headers.get("If-None-Match") == etag:
                bucket.requests.append((self.path, 304))
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            bucket.requests.append((self.path, 200))
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", modified)
            self.end_headers()
            if bucket.stall_after is not None:
                self.wfile.write(data[: bucket.stall_after])
                self.wfile.flush()
                bucket.body_bytes += bucket.stall_after
                bucket.stalled.set()
                bucket.release.wait(60)
                return
            self.wfile.write(data)
            bucket.body_bytes += len(data)

    return Handler


@contextmanager
def serve(root: Path) -> Iterator[Bucket]:
    bucket = Bucket(root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(bucket))
    server.daemon_threads = True
    bucket.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield bucket
    finally:
        bucket.release.set()
        server.shutdown()
        server.server_close()
