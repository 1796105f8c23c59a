"""hardbox.net against real sockets on 127.0.0.1: retries honouring Retry-After (capped),
timeouts and the body deadline (slow-loris), conditional fetch, redirects that drop
credentials, plain HTTP only to loopback, TLS from certs.d (CA and client certificate),
proxies from the environment."""

from __future__ import annotations

import itertools
import ssl
import threading
import time
from pathlib import Path

import pytest
from helpers.httpserver import Req, dribble, send, send_head, serve
from helpers.tlsca import CA

from hardbox.net import NetError, NetTimeout, Session, Timeouts, TLSFailure

pytestmark = pytest.mark.network


def test_retries_503_honouring_retry_after() -> None:
    calls: list[float] = []

    def handle(req: Req) -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            send(req, 503, b"busy", {"Retry-After": "1"})
        else:
            send(req, 200, b"ok")

    with serve(handle) as base, Session().request("GET", base + "/x") as resp:
        assert resp.status == 200
        assert resp.read_all(10) == b"ok"
    assert len(calls) == 2
    assert calls[1] - calls[0] >= 0.9


def test_retry_after_is_capped_and_retries_end() -> None:
    calls: list[float] = []

    def handle(req: Req) -> None:
        calls.append(time.monotonic())
        send(req, 429, b"slow down", {"Retry-After": "3600"})

    session = Session(retries=2, timeouts=Timeouts(retry_after_max=0.2))
    with serve(handle) as base, session.request("GET", base + "/x") as resp:
        assert resp.status == 429
    assert len(calls) == 3
    # Waited the configured cap (0.2 s), neither the 3600 s asked nor the 30 s default cap:
    # the bound is 50 times the cap, so a loaded machine does not make it fail.
    assert all(later - earlier < 10 for earlier, later in itertools.pairwise(calls))


def test_slow_loris_body_hits_the_deadline() -> None:
    def handle(req: Req) -> None:
        # A byte every 0.2 s: always under the read timeout, so only the deadline stops it.
        dribble(req, b"x" * 1000, chunk=1, pause=0.2)

    session = Session(timeouts=Timeouts(read=1.0, body=1.5))
    # The error names the deadline: the read timeout alone (never reached) would not.
    with serve(handle) as base, session.request("GET", base + "/x") as resp, \
            pytest.raises(NetTimeout, match="deadline"):
        resp.read_all(10_000)


def test_stalled_body_read_times_out() -> None:
    def handle(req: Req) -> None:
        send_head(req, 200, 10)
        req.wfile.flush()
        time.sleep(3)

    session = Session(retries=0, timeouts=Timeouts(read=0.5))
    with serve(handle) as base, session.request("GET", base + "/x") as resp, \
            pytest.raises(NetTimeout):
        resp.read_all(100)


def test_read_all_refuses_an_oversized_body() -> None:
    with serve(lambda req: send(req, 200, b"y" * 5000)) as base, \
            Session().request("GET", base) as resp, pytest.raises(NetError, match="larger than"):
        resp.read_all(4096)


def test_fetch_is_conditional_and_atomic(tmp_path: Path) -> None:
    def handle(req: Req) -> None:
        if req.headers.get("If-None-Match") == '"v1"':
            send(req, 304)
        else:
            send(req, 200, b"feed data", {"ETag": '"v1"', "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"})

    dest = tmp_path / "feed.zip"
    session = Session()
    with serve(handle) as base:
        first = session.fetch(base + "/feed", dest)
        assert first.modified and first.etag == '"v1"' and dest.read_bytes() == b"feed data"
        dest.write_bytes(b"kept")
        second = session.fetch(base + "/feed", dest, etag=first.etag)
        assert not second.modified
        assert dest.read_bytes() == b"kept"
        with pytest.raises(NetError, match="larger than"):
            session.fetch(base + "/feed", tmp_path / "small", max_bytes=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feed.zip"]


def test_redirect_to_another_host_drops_authorization() -> None:
    seen: dict[str, str | None] = {}

    def target(req: Req) -> None:
        seen["auth"] = req.headers.get("Authorization")
        send(req, 200, b"blob")

    with serve(target) as other:
        def origin(req: Req) -> None:
            seen["origin_auth"] = req.headers.get("Authorization")
            send(req, 307, b"", {"Location": other + "/storage/blob"})

        with serve(origin) as base, \
                Session().follow(base + "/v2/x", {"Authorization": "Bearer secret"}) as resp:
            assert resp.read_all(100) == b"blob"
    assert seen == {"origin_auth": "Bearer secret", "auth": None}


def test_plain_http_only_to_loopback() -> None:
    with pytest.raises(NetError, match="plain HTTP"):
        Session().request("GET", "http://registry.example.invalid/v2/")
    with pytest.raises(NetError, match="plain HTTP"):
        Session().request("GET", "http://10.255.255.1/v2/")


def _tls_server(ca: CA, *, client_ca: bool) -> ssl.SSLContext:
    pair = ca.issue("server", server=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pair.cert, pair.key)
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(ca.pem))
    return ctx


def test_tls_trusts_the_ca_from_certs_d(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = CA(tmp_path / "ca")
    certs_d = tmp_path / "certs.d"
    monkeypatch.setenv("HARDBOX_CERTS_D", str(certs_d))
    with serve(lambda req: send(req, 200, b"tls ok"), tls=_tls_server(ca, client_ca=False)) as base:
        with pytest.raises(TLSFailure, match="TLS failed"):
            Session(retries=0).request("GET", base + "/")
        with Session(tls_verify=False).request("GET", base + "/") as resp:
            assert resp.read_all(100) == b"tls ok"
        host = base.removeprefix("https://")
        (certs_d / host).mkdir(parents=True)
        (certs_d / host / "ca.crt").write_bytes(ca.pem.read_bytes())
        with Session().request("GET", base + "/") as resp:
            assert resp.read_all(100) == b"tls ok"


def test_tls_client_certificate_from_certs_d(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = CA(tmp_path / "ca")
    client = ca.issue("client", server=False)
    certs_d = tmp_path / "certs.d"
    monkeypatch.setenv("HARDBOX_CERTS_D", f"{tmp_path / 'none'}:{certs_d}")
    with serve(lambda req: send(req, 200, b"mtls ok"), tls=_tls_server(ca, client_ca=True)) as base:
        folder = certs_d / base.removeprefix("https://")
        folder.mkdir(parents=True)
        (folder / "ca.crt").write_bytes(ca.pem.read_bytes())
        with pytest.raises(NetError), Session(retries=0).request("GET", base + "/") as resp:
            resp.read_all(100)
        (folder / "client.cert").write_bytes(client.cert.read_bytes())
        (folder / "client.key").write_bytes(client.key.read_bytes())
        with Session().request("GET", base + "/") as resp:
            assert resp.read_all(100) == b"mtls ok"


def test_proxy_from_environment_and_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    lock = threading.Lock()

    def proxy(req: Req) -> None:
        with lock:
            seen.append(req.path)
        send(req, 200, b"via proxy")

    for var in ("no_proxy", "NO_PROXY", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with serve(proxy) as proxy_url:
        monkeypatch.setenv("http_proxy", proxy_url)
        with Session().request("GET", "http://127.0.0.1:9/target") as resp:
            assert resp.read_all(100) == b"via proxy"
        assert seen == ["http://127.0.0.1:9/target"]
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        with pytest.raises(NetError):
            Session(retries=0).request("GET", "http://127.0.0.1:9/target")
        assert len(seen) == 1


def test_refused_connection_is_not_a_timeout() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(NetError, match="cannot connect") as caught:
        Session(retries=0).request("GET", f"http://127.0.0.1:{port}/")
    assert not isinstance(caught.value, NetTimeout)


def test_https_goes_through_a_connect_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS_PROXY: a CONNECT tunnel, TLS end to end with the target (its CA from certs.d)."""
    import select
    import socket
    import socketserver

    tunnels: list[str] = []

    class Proxy(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            head = b""
            while b"\r\n\r\n" not in head:
                head += self.request.recv(4096)
            target = head.split(b" ")[1].decode()
            tunnels.append(target)
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            with upstream:
                while True:
                    ready, _, _ = select.select([self.request, upstream], [], [], 5)
                    if not ready:
                        return
                    for sock in ready:
                        data = sock.recv(65536)
                        if not data:
                            return
                        (upstream if sock is self.request else self.request).sendall(data)

    proxy = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Proxy)
    proxy.daemon_threads = True
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    ca = CA(tmp_path / "ca")
    certs_d = tmp_path / "certs.d"
    monkeypatch.setenv("HARDBOX_CERTS_D", str(certs_d))
    for var in ("no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    try:
        with serve(lambda req: send(req, 200, b"tunnelled"), tls=_tls_server(ca, client_ca=False)) as base:
            host = base.removeprefix("https://")
            (certs_d / host).mkdir(parents=True)
            (certs_d / host / "ca.crt").write_bytes(ca.pem.read_bytes())
            monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy.server_address[1]}")
            with Session().request("GET", base + "/x") as resp:
                assert resp.read_all(100) == b"tunnelled"
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert tunnels == [host]
