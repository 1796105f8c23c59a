"""Registry authentication: the ``WWW-Authenticate`` challenge, Bearer tokens and Basic.

The flow is distribution's token spec (docs/spec/auth/token.md): a 401 names a ``realm``,
``service`` and ``scope``; the client GETs a token from the realm (with Basic credentials
when it has them, else anonymously) and retries with ``Authorization: Bearer``. Tokens are
cached per (realm, service, scope) until ``expires_in`` (default 60 s) runs out. A registry
that answers 401 to a fresh token is refused at once: there is no second round.

A scope is a set (``repository:a:pull,push repository:b:pull``), and a cached token serves
every request whose scopes its own cover: a push's HEAD (``pull``) reuses the push token.
Asked for after a challenge, a token names what the challenge names and what the request
needs, together (a HEAD's challenge names only ``pull``; the push goes on to need ``push``);
once a challenge has named the token service, a token for new scopes is asked for before
the request, as Docker's client does, so a push meets the registry's 401 once.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from hardbox.image.registry.errors import AuthError
from hardbox.net import NetError, Session
from hardbox.net.authfile import Credentials

_PARAM = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
MAX_TOKEN_BYTES = 1 << 20


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "bearer" or "basic", lower case
    params: dict[str, str]


def parse_challenge(header: str | None) -> Challenge | None:
    """``Bearer realm="…",service="…",scope="…"`` -> a ``Challenge`` (None if absent)."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
              for m in _PARAM.finditer(rest)}
    return Challenge(scheme.lower(), params)


def basic(creds: Credentials) -> str:
    return "Basic " + base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()


class Authenticator:
    """Answers challenges for one registry; thread-safe (parallel layer downloads)."""

    def __init__(self, session: Session, registry: str, creds: Credentials | None) -> None:
        self.session = session
        self.registry = registry
        self.creds = creds
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._service: tuple[str, str] | None = None  # (realm, service) of the last challenge
        self._basic = False
        self._lock = threading.Lock()

    def header(self, scope: str) -> str | None:
        """The Authorization to send for ``scope`` before any challenge: a cached token
        that covers it, else — once a challenge named the token service — a new one."""
        with self._lock:
            now = time.monotonic()
            for (_realm, _service, cached_scope), (token, expiry) in self._tokens.items():
                if expiry > now and covers(cached_scope, scope):
                    return f"Bearer {token}"
            if self._basic and self.creds is not None:
                return basic(self.creds)
            known = self._service
        if known is None or not scope:
            return None
        return f"Bearer {self._token(known[0], known[1], canonical(scope), None)}"

    def answer(self, challenge: Challenge | None, scope: str, failed: str | None = None) -> str:
        """The Authorization header that answers ``challenge``; ``AuthError`` if none can.
        ``failed`` is the header the registry just refused: a cached token equal to it
        (revoked or expired early on the server) is not offered again."""
        if challenge is None:
            raise AuthError(f"{self.registry}: 401 without a WWW-Authenticate challenge")
        if challenge.scheme == "basic":
            if self.creds is None:
                raise AuthError(f"{self.registry}: authentication required")
            with self._lock:
                self._basic = True
            return basic(self.creds)
        if challenge.scheme != "bearer" or not challenge.params.get("realm"):
            raise AuthError(f"{self.registry}: unsupported authentication "
                            f"{challenge.scheme[:30]!r}")
        realm = challenge.params["realm"]
        service = challenge.params.get("service", "")
        want = canonical(f"{challenge.params.get('scope', '')} {scope}")
        with self._lock:
            self._service = (realm, service)
        refused = failed.removeprefix("Bearer ") if failed else None
        return f"Bearer {self._token(realm, service, want, refused)}"

    def _token(self, realm: str, service: str, scope: str, refused: str | None) -> str:
        key = (realm, service, scope)
        with self._lock:
            cached = self._tokens.get(key)
            if cached and cached[1] > time.monotonic() and cached[0] != refused:
                return cached[0]
        if urlsplit(realm).scheme not in ("https", "http"):
            raise AuthError(f"{self.registry}: token realm {realm[:100]!r} is not an http(s) URL")
        # A challenge may name several scopes, space-separated (a cross-repository mount
        # needs pull on the source too); the token spec wants one ``scope`` parameter each.
        query = [("service", service)] if service else []
        query += [("scope", one) for one in scope.split()]
        url = realm + ("&" if "?" in realm else "?") + urlencode(query) if query else realm
        headers = {"Authorization": basic(self.creds)} if self.creds else {}
        try:
            resp = self.session.follow(url, headers)
        except NetError as err:
            raise AuthError(f"{self.registry}: token request failed ({err.message})") from None
        with resp:
            if resp.status in (401, 403):
                raise AuthError(f"{self.registry}: the token service refused "
                                f"{'the credentials' if self.creds else 'anonymous access'} "
                                f"(HTTP {resp.status})")
            if resp.status != 200:
                raise AuthError(f"{self.registry}: token request: HTTP {resp.status}")
            body = resp.read_all(MAX_TOKEN_BYTES)
        token, lifetime = _parse_token(body, self.registry)
        with self._lock:
            # Renew a little early: a token must not expire between check and use.
            self._tokens[key] = (token, time.monotonic() + lifetime - min(10, lifetime / 2))
        return token


def _scopes(text: str) -> dict[tuple[str, str], frozenset[str]]:
    """``repository:a:pull,push repository:b:pull`` -> {(type, name): actions}; a name may
    hold a ``:`` (a registry host:port in some token services), the actions come last."""
    found: dict[tuple[str, str], frozenset[str]] = {}
    for one in text.split():
        kind, _, rest = one.partition(":")
        name, _, actions = rest.rpartition(":")
        key = (kind, name)
        found[key] = found.get(key, frozenset()) | {a for a in actions.split(",") if a}
    return found


def covers(held: str, needed: str) -> bool:
    """Whether a token granted ``held`` may be offered for a request needing ``needed``."""
    have = _scopes(held)
    return all(actions <= have.get(key, frozenset()) for key, actions in _scopes(needed).items())


def canonical(text: str) -> str:
    """One spelling of a scope set: resources in order of appearance, each once, its actions
    merged and sorted (``pull,push``)."""
    return " ".join(f"{kind}:{name}:{','.join(sorted(actions))}"
                    for (kind, name), actions in _scopes(text).items())


def _parse_token(body: bytes, registry: str) -> tuple[str, int]:
    try:
        obj = json.loads(body)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        raise AuthError(f"{registry}: the token service answered something that is not JSON")
    token = obj.get("token") or obj.get("access_token")
    if not isinstance(token, str) or not token or any(c in token for c in "\r\n"):
        raise AuthError(f"{registry}: the token service gave no usable token")
    lifetime = obj.get("expires_in")
    return token, lifetime if isinstance(lifetime, int) and 0 < lifetime < 86400 else 60
