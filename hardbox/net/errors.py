"""Errors of the HTTP layer: each one line naming the URL, exit 2 (an input the user named
cannot be reached or read)."""

from __future__ import annotations

from hardbox.errors import HardboxError


class NetError(HardboxError):
    """A request failed: connection refused, DNS, a broken body, too many retries."""

    default_hint = "check the address, the network and any proxy settings (HTTPS_PROXY, NO_PROXY)"


class TLSFailure(NetError):
    """The TLS handshake failed (unknown CA, wrong host name, client certificate refused)."""

    default_hint = ("put the registry's CA in /etc/containers/certs.d/HOST:PORT/ca.crt, "
                    "or pass --tls-verify=false if you trust the network")


class NetTimeout(NetError):
    """Connect or read timed out, or a body took longer than its deadline."""

    default_hint = "the server is too slow or unreachable; try again later"


class HTTPStatusError(NetError):
    """The server answered with an error status the caller did not expect."""

    def __init__(self, message: str, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status
