"""Bearer tokens against a token service on 127.0.0.1: one request per scope set while the
token lives (a token serves every scope it covers), a new one after it expires; Basic
credentials go to the realm; refusals are one line."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers.httpserver import Req, send, serve

from hardbox.image.registry.auth import Authenticator, Challenge, canonical, covers
from hardbox.image.registry.errors import AuthError
from hardbox.net import Session
from hardbox.net.authfile import Credentials

pytestmark = pytest.mark.network


@pytest.fixture
def token_service() -> Iterator[tuple[str, list[dict[str, object]]]]:
    seen: list[dict[str, object]] = []

    def handle(req: Req) -> None:
        query = parse_qs(urlsplit(req.path).query)
        seen.append({"scope": query.get("scope"), "auth": req.headers.get("Authorization")})
        lifetime = 1 if "short" in req.path else 300
        if "refuse" in req.path:
            send(req, 401, b"{}")
        else:
            send(req, 200, json.dumps({"token": f"tok-{len(seen)}", "expires_in": lifetime}).encode())

    with serve(handle) as base:
        yield base, seen


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
    # The token service is known from the challenge: the new token is asked for before the
    # request, not after a 401.
    renewed = auth.header("repository:a:pull")
    assert renewed is not None and renewed != first
    assert len(seen) == 2 and seen[0]["auth"] is None  # anonymous: no Authorization at all


def test_a_token_serves_every_scope_it_covers(
        token_service: tuple[str, list[dict[str, object]]]) -> None:
    base, seen = token_service
    auth = Authenticator(Session(), "reg", Credentials("u", "p"))
    push_a = "repository:a:pull,push"
    # A push's HEAD: the challenge names pull; the token is asked for with the push too.
    assert auth.answer(bearer(base + "/token", "repository:a:pull"), push_a) == "Bearer tok-1"
    assert seen[-1]["scope"] == [push_a]
    assert auth.header("repository:a:pull") == "Bearer tok-1"
    assert auth.header("repository:a:push,pull") == "Bearer tok-1"
    # More than it covers (a mount also pulls from b): a new token, asked for up front.
    assert auth.header(f"{push_a} repository:b:pull") == "Bearer tok-2"
    assert seen[-1]["scope"] == [push_a, "repository:b:pull"]
    assert auth.header("repository:b:pull") == "Bearer tok-2"
    assert len(seen) == 2


@pytest.mark.parametrize(("held", "needed", "ok"), [
    ("repository:a:pull,push", "repository:a:pull", True),
    ("repository:a:pull", "repository:a:pull,push", False),
    ("repository:a:pull", "repository:b:pull", False),
    ("repository:a:pull,push repository:b:pull", "repository:b:pull repository:a:push", True),
    ("repository:a:pull", "", True),
    ("repository:localhost:5000/a:pull", "repository:localhost:5000/a:pull", True),
])
def test_scope_cover(held: str, needed: str, ok: bool) -> None:
    assert covers(held, needed) is ok


def test_canonical_scope_set() -> None:
    assert canonical("repository:a:pull repository:a:push,pull repository:b:pull") == \
        "repository:a:pull,push repository:b:pull"
    assert canonical("") == ""


def test_refusals(token_service: tuple[str, list[dict[str, object]]]) -> None:
    base, _ = token_service
    with pytest.raises(AuthError, match="refused anonymous access"):
        Authenticator(Session(), "reg", None).answer(bearer(base + "/refuse"), "s")
    with pytest.raises(AuthError, match="authentication required"):
        Authenticator(Session(), "reg", None).answer(Challenge("basic", {}), "s")
    with pytest.raises(AuthError, match="not an http"):
        Authenticator(Session(), "reg", None).answer(bearer("file:///etc/passwd"), "s")
