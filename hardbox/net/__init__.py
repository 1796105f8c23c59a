"""The one HTTP layer of hardbox, on urllib3 2.x; used by the registry client and `db update`.

Nothing here knows about registries or vulnerability feeds: it moves bytes over HTTP(S)
safely and lets the caller decide what they mean. It imports only ``hardbox.errors``.

API::

    from hardbox.net import Session, NetError

    session = Session()                      # system CAs + certs.d, proxies from the env
    with session.request("GET", url, headers={...}) as resp:   # streaming, never redirects
        resp.status, resp.header("ETag"), resp.url
        resp.read(n) / resp.chunks() / resp.read_all(limit) / resp.read_all_or_none(limit)
    with session.follow(url, headers) as resp: ...             # redirects followed (at most 5)
    result = session.fetch(url, dest, etag=..., last_modified=..., max_bytes=...)
    result.modified, result.etag, result.last_modified          # 304 leaves ``dest`` alone

    from hardbox.net.authfile import lookup, save, remove, Credentials   # registry credentials

- ``Session(tls_verify=True, insecure=False, timeouts=Timeouts(), retries=3)``.
  ``tls_verify=False`` turns certificate checks off (only when the user asked).
  ``insecure=True`` lets plain ``http://`` reach a non-loopback host; without it only
  loopback hosts (127.0.0.0/8, ::1, localhost) may be spoken to in clear.
- TLS (``tls.py``): the system CAs plus, per ``HOST:PORT``, every ``*.crt`` CA and every
  ``*.cert``/``*.key`` client pair in ``/etc/containers/certs.d/HOST:PORT/`` and
  ``/etc/docker/certs.d/HOST:PORT/`` (as containers/image reads them). ``$HARDBOX_CERTS_D``
  (colon-separated directories) replaces those roots, for tests.
- Proxies (``proxy.py``): ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` from the environment.
- Retries: connection errors and 429/500/502/503/504 are retried (``retries`` times) with
  exponential backoff; a ``Retry-After`` header is honoured, capped at ``Timeouts.retry_after_max``.
- Timeouts: connect and per-read timeouts, and a deadline for each whole response body
  (``Timeouts.body``, or ``request(..., body_deadline=)``): a server that trickles bytes
  (slow-loris) fails with ``NetTimeout``. ``Timeouts.from_env()`` (the default) reads
  ``$HARDBOX_NET_TIMEOUT`` and ``$HARDBOX_NET_DEADLINE`` (seconds).
- Redirects are never followed by ``request``: a 3xx comes back to the caller, whose
  policy decides (the registry client drops ``Authorization`` when a redirect leaves the
  host). ``follow`` and ``fetch`` follow them with that same rule.
- ``authfile``: the containers auth file and Docker's config, read and written as Podman
  and Docker do (see that module).
- Every failure is a ``NetError`` (a ``HardboxError``, exit 2) with one line naming the URL.
"""

from __future__ import annotations

from hardbox.net.errors import HTTPStatusError, NetError, NetTimeout, TLSFailure
from hardbox.net.session import Fetched, Response, Session, Timeouts, is_loopback

__all__ = [
    "Fetched", "HTTPStatusError", "NetError", "NetTimeout", "Response", "Session", "TLSFailure",
    "Timeouts", "is_loopback",
]
