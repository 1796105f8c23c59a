"""Which proxy a URL goes through: ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` (either case),
read by the stdlib's own parser of those variables so hardbox agrees with curl and pip."""

from __future__ import annotations

import urllib.request
from urllib.parse import urlsplit


def proxy_for(url: str) -> str | None:
    """The proxy URL for ``url``, or None to connect directly."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme)
    if not proxy:
        return None
    host = parts.netloc.rsplit("@", 1)[-1]
    if urllib.request.proxy_bypass_environment(host, proxies):  # type: ignore[attr-defined]
        return None
    return proxy
