"""``Session``: pooled, streaming HTTP(S) requests with hardbox's TLS, proxy, retry and
timeout rules (the package docstring lists them). One session per command; thread-safe, so
parallel layer downloads share its connection pools.
"""

from __future__ import annotations

import ipaddress
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util.retry import Retry

from hardbox.atomicfile import atomic_write
from hardbox.net.errors import HTTPStatusError, NetError, NetTimeout, TLSFailure
from hardbox.net.proxy import proxy_for
from hardbox.net.tls import ssl_context

CHUNK = 1 << 20
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Timeouts:
    """Seconds. ``read`` bounds each wait for bytes; ``body`` bounds a whole response body,
    so a server trickling one byte per ``read - 1`` seconds still fails in time."""

    connect: float = 10.0
    read: float = 30.0
    body: float = 900.0
    retry_after_max: float = 30.0
    backoff_max: float = 10.0

    @classmethod
    def from_env(cls) -> Timeouts:
        """Defaults, with ``$HARDBOX_NET_TIMEOUT`` (connect and read) and
        ``$HARDBOX_NET_DEADLINE`` (a whole body) in seconds when set."""
        base = cls()
        read = _seconds("HARDBOX_NET_TIMEOUT", base.read)
        return cls(connect=min(base.connect, read), read=read,
                   body=_seconds("HARDBOX_NET_DEADLINE", base.body))


def _seconds(name: str, default: float) -> float:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not 0 < value < 1e6:
        raise NetError(f"${name}={text[:40]!r}: expected a number of seconds")
    return value


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``: the only hosts spoken to in clear by default."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Retry(Retry):
    """urllib3's retry with ``Retry-After`` capped: a server cannot park a pull for hours."""

    retry_after_cap = 30.0

    def get_retry_after(self, response: urllib3.BaseHTTPResponse) -> float | None:
        value = super().get_retry_after(response)
        return None if value is None else min(value, self.retry_after_cap)


class Response:
    """A streaming response. Read it with ``read``/``chunks``/``read_all``; close it (or use
    ``with``) to give the connection back. Every read checks the body deadline."""

    def __init__(self, raw: urllib3.BaseHTTPResponse, url: str, deadline: float) -> None:
        self._raw = raw
        self.url = url
        self.status = raw.status
        self.headers = raw.headers
        self._deadline = deadline
        self._done = False

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def read(self, n: int = CHUNK) -> bytes:
        """Up to ``n`` bytes (fewer as they arrive); ``b""`` at the end of the body."""
        if time.monotonic() > self._deadline:
            raise NetTimeout(f"{self.url}: the response body took longer than its deadline")
        try:
            data = self._raw.read1(n)
        except ReadTimeoutError:
            raise NetTimeout(f"{self.url}: read timed out") from None
        except (ProtocolError, HTTPError, OSError) as err:
            raise NetError(f"{self.url}: connection broken while reading ({_reason(err)})") from None
        if not data:
            self._done = True
        return data

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        while data := self.read(size):
            yield data

    def read_all(self, limit: int) -> bytes:
        """The whole body; ``NetError`` when it is larger than ``limit`` bytes."""
        data = self.read_all_or_none(limit)
        if data is None:
            raise NetError(f"{self.url}: response larger than {limit} bytes",
                           "the server sent far more than such a document may hold")
        return data

    def read_all_or_none(self, limit: int) -> bytes | None:
        """The whole body, or None as soon as it passes ``limit`` bytes (the rest unread)."""
        parts: list[bytes] = []
        total = 0
        for data in self.chunks(min(CHUNK, limit + 1)):
            total += len(data)
            if total > limit:
                return None
            parts.append(data)
        return b"".join(parts)

    def close(self) -> None:
        if self._done:
            self._raw.release_conn()
        else:
            self._raw.close()  # an unread body: drop the connection rather than drain it

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Fetched:
    """What ``Session.fetch`` did: ``modified`` False means 304 and ``dest`` untouched."""

    modified: bool
    etag: str | None
    last_modified: str | None
    size: int


class Session:
    """HTTP(S) with pools per (scheme, host, port); see the package docstring."""

    def __init__(self, *, tls_verify: bool = True, insecure: bool = False,
                 timeouts: Timeouts | None = None, retries: int = 3,
                 user_agent: str = "hardbox") -> None:
        self.tls_verify = tls_verify
        if not tls_verify:
            # The user asked for it (--tls-verify=false); urllib3's per-request warning
            # would only repeat that on stderr.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self.insecure = insecure
        self.timeouts = timeouts or Timeouts.from_env()
        self.retries = retries
        self.user_agent = user_agent
        self._managers: dict[tuple[str, str], urllib3.PoolManager] = {}
        self._lock = threading.Lock()
        self._retry_cls = type("_SessionRetry", (_Retry,),
                               {"retry_after_cap": self.timeouts.retry_after_max})

    def _manager(self, scheme: str, hostport: str, url: str) -> urllib3.PoolManager:
        key = (scheme, hostport)
        with self._lock:
            manager = self._managers.get(key)
            if manager is None:
                kwargs: dict[str, object] = {"maxsize": 4, "block": False}
                if scheme == "https":
                    kwargs["ssl_context"] = ssl_context(hostport, verify=self.tls_verify)
                proxy = proxy_for(url)
                manager = (urllib3.ProxyManager(proxy, **kwargs) if proxy  # type: ignore[arg-type]
                           else urllib3.PoolManager(**kwargs))  # type: ignore[arg-type]
                self._managers[key] = manager
            return manager

    def request(self, method: str, url: str, headers: Mapping[str, str] | None = None,
                body: bytes | None = None, *, body_deadline: float | None = None,
                retries: int | None = None) -> Response:
        """Send one request (retried per the rules) and return the streaming response,
        whatever its status; 3xx are returned, never followed."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NetError(f"{url}: not an http(s) URL")
        if parts.scheme == "http" and not (self.insecure or is_loopback(parts.hostname)):
            raise NetError(f"{url}: refusing plain HTTP to a host that is not loopback",
                           "use https, or allow it explicitly (--tls-verify=false)")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        manager = self._manager(parts.scheme, f"{parts.hostname}:{port}", url)
        all_headers = {"User-Agent": self.user_agent, **(headers or {})}
        count = self.retries if retries is None else retries
        retry = self._retry_cls(
            total=count, connect=count, read=count, redirect=False, status=count, status_forcelist=RETRY_STATUSES, backoff_factor=0.5,
            backoff_max=self.timeouts.backoff_max, allowed_methods=None,
            respect_retry_after_header=True, raise_on_status=False, raise_on_redirect=False)
        try:
            raw = manager.urlopen(
                method, url, headers=all_headers, body=body, redirect=False, retries=retry,
                preload_content=False, decode_content=True,
                timeout=urllib3.Timeout(connect=self.timeouts.connect, read=self.timeouts.read))
        except MaxRetryError as err:
            raise _translate(url, err.reason or err) from None
        except (HTTPError, OSError) as err:
            raise _translate(url, err) from None
        deadline = time.monotonic() + (body_deadline or self.timeouts.body)
        return Response(raw, url, deadline)

    def fetch(self, url: str, dest: Path, *, etag: str | None = None,
              last_modified: str | None = None, max_bytes: int | None = None,
              headers: Mapping[str, str] | None = None,
              progress: Callable[[int], None] | None = None) -> Fetched:
        """GET ``url`` into ``dest`` (atomically: temp file + rename), conditionally when
        ``etag``/``last_modified`` are given. Redirects are followed (at most 5), dropping
        ``Authorization`` when one leaves the host. ``progress`` is called with the size of
        each chunk written (a download display)."""
        send = dict(headers or {})
        if etag:
            send["If-None-Match"] = etag
        if last_modified:
            send["If-Modified-Since"] = last_modified
        resp = self.follow(url, send)
        with resp:
            if resp.status == 304:
                return Fetched(False, etag, last_modified, 0)
            if resp.status != 200:
                raise HTTPStatusError(f"GET {resp.url}: HTTP {resp.status}", resp.status)
            dest.parent.mkdir(parents=True, exist_ok=True)
            size = 0
            with atomic_write(dest, suffix=".part") as fh:
                for data in resp.chunks():
                    size += len(data)
                    if max_bytes is not None and size > max_bytes:
                        raise NetError(f"GET {resp.url}: larger than {max_bytes} bytes")
                    fh.write(data)
                    if progress is not None:
                        progress(len(data))
            return Fetched(True, resp.header("ETag"), resp.header("Last-Modified"), size)

    def follow(self, url: str, headers: Mapping[str, str] | None = None,
               method: str = "GET") -> Response:
        """``request`` following redirects; credentials never cross to another host."""
        send = dict(headers or {})
        origin = urlsplit(url).netloc
        for _ in range(MAX_REDIRECTS + 1):
            resp = self.request(method, url, send)
            location = resp.header("Location")
            if resp.status not in (301, 302, 303, 307, 308) or not location:
                return resp
            resp.close()
            url = urljoin(url, location)
            if urlsplit(url).netloc != origin:
                send = {k: v for k, v in send.items() if k.lower() != "authorization"}
        raise NetError(f"{url}: more than {MAX_REDIRECTS} redirects")


def _reason(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:200]


def _translate(url: str, err: BaseException) -> NetError:
    if isinstance(err, SSLError):
        return TLSFailure(f"{url}: TLS failed ({_reason(err)})")
    if isinstance(err, NewConnectionError):  # a ConnectTimeoutError subclass in urllib3 2.x
        return NetError(f"{url}: cannot connect ({_reason(err).rsplit(': ', 1)[-1]})")
    if isinstance(err, ConnectTimeoutError | ReadTimeoutError):
        return NetTimeout(f"{url}: timed out ({_reason(err)})")
    return NetError(f"{url}: {_reason(err)}")
