"""``RegistryClient``: the OCI distribution API of one registry (Docker registry v2).

``ping`` (``GET /v2/``), ``manifest`` (read whole, at most 4 MiB, verified against its
digest), ``blob`` (a streaming response, optionally from an offset with ``Range``) and
``tags``. Every request answers the registry's auth challenge once (auth.py) and follows
redirects itself: ``Authorization`` goes only to the registry's own host, never to the
object store a blob download is redirected to.

The scheme is found by the first request: https, or — for a loopback registry, or when
the user turned TLS verification off — plain http if https cannot be spoken there.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

from hardbox.image.digest import is_digest, sha256_bytes
from hardbox.image.registry import refs
from hardbox.image.registry.auth import Authenticator, parse_challenge
from hardbox.image.registry.errors import AuthError, BlobError, RegistryError
from hardbox.image.registry.manifests import ACCEPT, MAX_MANIFEST_BYTES, Document
from hardbox.net import NetError, Response, Session, is_loopback
from hardbox.net.authfile import Credentials, lookup

MAX_REDIRECTS = 5
MAX_TAG_PAGES = 100
# The slowest transfer a big layer is allowed (bytes/s) before its deadline ends it; an
# interrupted layer resumes on the next pull, so a slow link loses no work.
MIN_RATE = 128 << 10


class RegistryClient:
    """One registry, by its domain as references spell it (``docker.io``, ``127.0.0.1:5000``)."""

    def __init__(self, domain: str, session: Session, creds: Credentials | None = None) -> None:
        self.domain = domain
        self.host = refs.endpoint(domain)
        self.session = session
        self.auth = Authenticator(session, self.host, creds)
        self._base: str | None = None
        self._lock = threading.Lock()

    # -- transport ----------------------------------------------------------------------

    def base(self) -> str:
        """``https://HOST`` or, where allowed and https is not spoken, ``http://HOST``."""
        with self._lock:
            if self._base is None:
                self._base = self._probe()
            return self._base

    def _probe(self) -> str:
        https = f"https://{self.host}"
        hostname = urlsplit(https).hostname or ""
        may_http = self.session.insecure or is_loopback(hostname)
        if not may_http:
            return https  # nothing to probe: it is https or nothing
        try:
            self.session.request("GET", https + "/v2/", retries=0).close()
            return https
        except NetError as err:
            # A registry that speaks TLS with a certificate we do not trust is a TLS registry:
            # falling back to http there would only hide the real problem.
            if "CERTIFICATE_VERIFY_FAILED" in err.message:
                raise
            # A plain-HTTP server answers the TLS hello with an HTTP error, which OpenSSL
            # reports as a wrong record version: that server speaks http, no second probe
            # needed (so a re-pull costs the registry one manifest request, nothing more).
            if "WRONG_VERSION_NUMBER" in err.message:
                return f"http://{self.host}"
            try:
                self.session.request("GET", f"http://{self.host}/v2/", retries=0).close()
            except NetError:
                raise err from None
            return f"http://{self.host}"

    def request(self, method: str, path: str, scope: str,
                headers: Mapping[str, str] | None = None, *,
                body_deadline: float | None = None, body: bytes | None = None) -> Response:
        """``method`` on ``path`` (``/v2/…``), authenticated for ``scope``, redirects
        followed; the response is returned whatever its final status, except 401. A
        ``body`` (a push's upload) is sent again after an auth round or a redirect."""
        base = self.base()
        origin = urlsplit(base).netloc
        extra = dict(headers or {})
        authorization = self.auth.header(scope)
        for attempt in range(2):
            url = base + path
            for _ in range(MAX_REDIRECTS + 1):
                send = dict(extra)
                if authorization and urlsplit(url).netloc == origin:
                    send["Authorization"] = authorization
                resp = self.session.request(method, url, send, body,
                                            body_deadline=body_deadline)
                location = resp.header("Location")
                if resp.status in (301, 302, 303, 307, 308) and location:
                    resp.close()
                    url = urljoin(url, location)
                    continue
                break
            else:
                raise RegistryError(f"{self.host}{path}: more than {MAX_REDIRECTS} redirects")
            if resp.status != 401:
                return resp
            challenge = parse_challenge(resp.header("WWW-Authenticate"))
            resp.close()
            elsewhere = urlsplit(url).netloc
            if elsewhere != origin:
                raise AuthError(f"{self.host}{path}: redirected to {elsewhere}, which asks for "
                                "credentials; they are only ever sent to the registry itself",
                                "the registry's storage redirect is misconfigured")
            if attempt == 1:
                break
            authorization = self.auth.answer(challenge, scope, failed=authorization)
        who = "the credentials were refused" if self.auth.creds else "authentication required"
        raise AuthError(f"{self.host}{path}: {who} (HTTP 401 after authenticating)")

    # -- API ----------------------------------------------------------------------------

    def ping(self) -> None:
        """``GET /v2/`` authenticated: what `hardbox login` checks credentials with."""
        with self.request("GET", "/v2/", "") as resp:
            if resp.status != 200:
                raise RegistryError(f"{self.host}: GET /v2/: HTTP {resp.status}",
                                    "is this an OCI distribution (Docker v2) registry?")

    def manifest(self, repo: str, ref: str) -> Document:
        """The manifest ``ref`` (tag or digest) of ``repo``, read whole and verified."""
        source = f"{self.host}/{repo}@{ref}" if is_digest(ref) else f"{self.host}/{repo}:{ref}"
        with self.request("GET", f"/v2/{repo}/manifests/{ref}", _pull(repo),
                          {"Accept": ACCEPT}) as resp:
            _check_status(resp, source, "manifest")
            length = resp.header("Content-Length")
            if length and length.isdigit() and int(length) > MAX_MANIFEST_BYTES:
                raise BlobError(f"{source}: manifest of {length} bytes is over the "
                                f"{MAX_MANIFEST_BYTES >> 20} MiB limit")
            data = resp.read_all_or_none(MAX_MANIFEST_BYTES)
            if data is None:
                raise BlobError(f"{source}: manifest larger than the "
                                f"{MAX_MANIFEST_BYTES >> 20} MiB limit")
            media_type = (resp.header("Content-Type") or "").split(";")[0].strip()
            claimed = resp.header("Docker-Content-Digest")
        digest = sha256_bytes(data)
        if is_digest(ref) and digest != ref:
            raise BlobError(f"{source}: digest mismatch: the manifest's content is {digest}")
        if claimed and is_digest(claimed) and claimed != digest:
            raise BlobError(f"{source}: digest mismatch: the registry says {claimed}, "
                            f"the content is {digest}")
        return Document(data, digest, media_type, source)

    def blob(self, repo: str, digest: str, offset: int = 0, size: int = 0) -> Response:
        """A streaming response for the blob, from ``offset`` (206) or whole (200). A blob
        of ``size`` bytes gets the session's body deadline plus time at ``MIN_RATE``."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        deadline = self.session.timeouts.body + max(size - offset, 0) / MIN_RATE
        resp = self.request("GET", f"/v2/{repo}/blobs/{digest}", _pull(repo), headers,
                            body_deadline=deadline)
        if resp.status not in (200, 206):
            with resp:
                _check_status(resp, f"{self.host}/{repo}@{digest}", "blob")
        return resp

    def tags(self, repo: str) -> list[str]:
        """Every tag of ``repo`` (following ``Link`` pagination)."""
        found: list[str] = []
        path: str | None = f"/v2/{repo}/tags/list"
        for _ in range(MAX_TAG_PAGES):
            if path is None:
                return found
            with self.request("GET", path, _pull(repo)) as resp:
                _check_status(resp, f"{self.host}/{repo}", "tag list")
                body = resp.read_all(MAX_MANIFEST_BYTES)
                link = resp.header("Link")
            try:
                tags = json.loads(body).get("tags") or []
            except (ValueError, AttributeError):
                raise RegistryError(f"{self.host}/{repo}: the tag list is not JSON") from None
            found += [t for t in tags if isinstance(t, str)]
            path = _next_link(link)
        raise RegistryError(f"{self.host}/{repo}: more than {MAX_TAG_PAGES} pages of tags")


def connect(domain: str, *, tls_verify: bool = True) -> RegistryClient:
    """A client for ``domain`` with the user's stored credentials for its endpoint (a
    mirror's own, never Docker Hub's). ``tls_verify=False`` is what ``--tls-verify=false``
    asks: no certificate checks, and plain http allowed beyond loopback."""
    session = Session(tls_verify=tls_verify, insecure=not tls_verify)
    return RegistryClient(domain, session, lookup(refs.auth_key(domain)))


def _pull(repo: str) -> str:
    return f"repository:{repo}:pull"


def _next_link(link: str | None) -> str | None:
    # Link: </v2/x/tags/list?last=b&n=100>; rel="next"
    if not link or 'rel="next"' not in link or "<" not in link:
        return None
    target = link.split("<", 1)[1].split(">", 1)[0]
    path = urlsplit(target)
    if not path.path.startswith("/v2/"):
        return None
    return path.path + (f"?{path.query}" if path.query else "")


def _check_status(resp: Response, source: str, what: str) -> None:
    if resp.status == 200:
        return
    if resp.status == 404:
        raise RegistryError(f"{source}: {what} not found (HTTP 404)",
                            "check the name and tag; `hardbox pull --all-tags` lists none here")
    if resp.status == 403:
        raise AuthError(f"{source}: access denied (HTTP 403)")
    raise RegistryError(f"{source}: {what}: HTTP {resp.status}")
