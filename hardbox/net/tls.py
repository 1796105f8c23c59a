"""TLS settings per host: the system CAs plus the host's certs.d directory.

containers/image and Docker read ``/etc/containers/certs.d/HOST:PORT/`` and
``/etc/docker/certs.d/HOST:PORT/``: every ``*.crt`` is an extra CA, every ``*.cert`` with the
``*.key`` of the same stem is a client certificate (docs.docker.com, "Verify repository
client with certificates"). ``$HARDBOX_CERTS_D`` (colon-separated) replaces those roots.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from hardbox.net.errors import TLSFailure

DEFAULT_ROOTS = ("/etc/containers/certs.d", "/etc/docker/certs.d")


def certs_d_roots() -> tuple[Path, ...]:
    env = os.environ.get("HARDBOX_CERTS_D")
    roots = env.split(":") if env else DEFAULT_ROOTS
    return tuple(Path(r) for r in roots if r)


@dataclass(frozen=True)
class HostCerts:
    """What certs.d says about one ``HOST[:PORT]``: extra CAs and client (cert, key) pairs."""

    cas: tuple[Path, ...]
    clients: tuple[tuple[Path, Path], ...]


def host_certs(hostport: str) -> HostCerts:
    cas: list[Path] = []
    clients: list[tuple[Path, Path]] = []
    for root in certs_d_roots():
        folder = root / hostport
        if not folder.is_dir():
            continue
        for item in sorted(folder.iterdir()):
            if item.suffix == ".crt":
                cas.append(item)
            elif item.suffix == ".cert":
                key = item.with_suffix(".key")
                if not key.is_file():
                    raise TLSFailure(f"{item}: client certificate without its key {key.name}",
                                     "put the key beside the certificate, same name, .key")
                clients.append((item, key))
    return HostCerts(tuple(cas), tuple(clients))


def ssl_context(hostport: str, *, verify: bool) -> ssl.SSLContext:
    """A client context for ``hostport``: system CAs, certs.d CAs and client certificate."""
    ctx = ssl.create_default_context()
    certs = host_certs(hostport)
    try:
        for ca in certs.cas:
            ctx.load_verify_locations(cafile=str(ca))
        if certs.clients:
            cert, key = certs.clients[0]
            ctx.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as err:
        raise TLSFailure(f"certs.d for {hostport}: cannot load ({err})") from None
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
