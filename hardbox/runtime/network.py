"""Container networking: a fresh network namespace with only the loopback interface up.

``none`` and ``private`` both give the container a new network namespace (the namespace
itself is unshared in namespaces.py); ``private`` adds a pasta uplink, published ports and
the generated /etc files (runtime/net/). ``host`` shares the host's namespace and is refused by strict profiles
(profile.py). A new namespace starts with ``lo`` down; we bring it up with SIOCSIFFLAGS,
so 127.0.0.1 works inside, without running any binary from the image or the host.
"""

from __future__ import annotations

import _socket  # the C socket type: socket.py is not loaded for a run (forked.socketpair)
import fcntl
import struct

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
_IFREQ = "16sH14x"  # struct ifreq: name, then ifr_flags in the union


def needs_namespace(mode: str) -> bool:
    return mode != "host"


def bring_up_loopback() -> None:
    """Set IFF_UP on ``lo`` in the calling process's network namespace (needs CAP_NET_ADMIN
    there, which the container's root has in its own user namespace)."""
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        req = struct.pack(_IFREQ, b"lo", 0)
        flags = struct.unpack(_IFREQ, fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | IFF_UP))
    finally:
        sock.close()


def describe(mode: str) -> str:
    if mode == "host":
        return "network: host (shares the host's network namespace)"
    if mode == "private":
        return ("network: private namespace with an address, a default route and DNS through a pasta "
                "uplink; the host's loopback unreachable unless --add-host NAME:host-gateway")
    return "network: none (new network namespace, only lo up)"
