"""Bearer tokens against a token service on 127.0.0.1: one request per scope while the token
lives, a new one after it expires; Basic credentials go to the realm; refusals are one line."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from hardbox.image.registry.auth import Authenticator, Challenge
from hardbox.image.registry.errors import AuthError
from hardbox.net import Session
from hardbox.net.authfile import Credentials

pytestmark = pytest.mark.network


@pytest.fixture
def token_service() -> Iterator[tuple[str, list[dict[str, object]]]]:
    seen: list[dict[str, object]] = []

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            seen.append({"scope": query.get("scope"), "auth": self.headers.get("Authorization")})
            lifetime = 1 if "short" in self.path else 300
            if "refuse" in self.path:
                status, body = 401, b"{}"
            else:
                status, body = 200, json.dumps(
                    {"token": f"tok-{len(seen)}", "expires_in": lifetime}).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def bearer(realm: str, scope: str | None = None) -> Challenge:
    params = {"realm": realm, "service": "svc"}
    if scope:
        params["scope"] = scope
    return Challenge("bearer", params)


def test_tokens_are_cached_per_scope(token_service: tuple[str, list[dict[str, object]]]) -> None:
    base, seen = token_service
    auth = Authenticator(Session(), "reg", Credentials("u", "p"))
    pull_a = "repository:a:pull"
    assert auth.header(pull_a) is None
    assert auth.answer(bearer(base + "/token"), pull_a) == "Bearer tok-1"
    assert auth.answer(bearer(base + "/token"), pull_a) == "Bearer tok-1"
    assert auth.header(pull_a) == "Bearer tok-1"
    assert auth.answer(bearer(base + "/token"), "repository:b:pull") == "Bearer tok-2"
    assert len(seen) == 2
    # A token the registry refused (revoked early) is not offered again.
    assert auth.answer(bearer(base + "/token"), pull_a, failed="Bearer tok-1") == "Bearer tok-3"
    assert seen[0]["scope"] == [pull_a]
    assert len(seen) == 3
    assert seen[0]["auth"] == "Basic " + base64.b64encode(b"u:p").decode()


def test_expired_tokens_are_renewed(token_service: tuple[str, list[dict[str, object]]]) -> None:
    base, seen = token_service
    auth = Authenticator(Session(), "reg", None)
    first = auth.answer(bearer(base + "/short"), "repository:a:pull")
    assert auth.header("repository:a:pull") == first
    time.sleep(0.6)  # expires_in 1 s, renewed half-way
    assert auth.header("repository:a:pull") is None
    assert auth.answer(bearer(base + "/short"), "repository:a:pull") != first
    assert len(seen) == 2 and seen[0]["auth"] is None  # anonymous: no Authorization at all


def test_refusals(token_service: tuple[str, list[dict[str, object]]]) -> None:
    base, _ = token_service
    with pytest.raises(AuthError, match="refused anonymous access"):
        Authenticator(Session(), "reg", None).answer(bearer(base + "/refuse"), "s")
    with pytest.raises(AuthError, match="authentication required"):
        Authenticator(Session(), "reg", None).answer(Challenge("basic", {}), "s")
    with pytest.raises(AuthError, match="not an http"):
        Authenticator(Session(), "reg", None).answer(bearer("file:///etc/passwd"), "s")
