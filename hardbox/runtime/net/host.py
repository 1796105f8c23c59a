"""What the host's network looks like to pasta: the default route and the resolvers.

pasta copies the address and gateway of the host's default-route interface into the
container (``--config-net``), so the container's address in /etc/hosts and the
``host-gateway`` address are read the same way here: the IPv4 default route from
/proc/net/route, and the source address the kernel picks towards that gateway (a UDP
``connect`` sends nothing).
"""

from __future__ import annotations

import _socket  # the C socket type (see default_route)
import os
import struct

from hardbox.errors import ContainerError
from hardbox.fileio import read_text
from hardbox.records import NamedTuple
from hardbox.runtime.net.address import ip_address_text
from hardbox.runtime.net.address import is_loopback as is_loopback

RESOLV_CONF = "/etc/resolv.conf"


class DefaultRoute(NamedTuple):
    interface: str
    gateway: str
    address: str  # the host's (and so the container's) address on that interface


def default_route(route_table: str | os.PathLike[str] = "/proc/net/route") -> DefaultRoute:
    """The host's IPv4 default route; a host without one gets no uplink (exit 125)."""

    try:
        lines = read_text(route_table, errors="replace").splitlines()[1:]
    except OSError as err:
        raise ContainerError(f"read {route_table}: {err.strerror}") from err
    best: tuple[int, str, str] | None = None
    for line in lines:
        fields = line.split()
        # Iface Destination Gateway Flags RefCnt Use Metric Mask ...: destination 0, RTF_GATEWAY.
        if len(fields) >= 8 and fields[1] == "00000000" and fields[7] == "00000000" and int(fields[3], 16) & 0x2:
            metric = int(fields[6])
            if best is None or metric < best[0]:
                best = (metric, fields[0], fields[2])
    if best is None:
        raise ContainerError("network private: the host has no IPv4 default route for pasta to copy",
                             "run with --network none, or give the host a default route")
    gateway = _socket.inet_ntoa(struct.pack("<I", int(best[2], 16)))
    # The C socket type: socket.py's enums and selectors are ms of start-up (bench/RESULTS.md).
    probe = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        probe.connect((gateway, 9))  # picks the route and source address; sends nothing
        address = probe.getsockname()[0]
    finally:
        probe.close()
    return DefaultRoute(best[1], gateway, address)


class ResolvConf(NamedTuple):
    nameservers: tuple[str, ...]
    search: tuple[str, ...]
    options: tuple[str, ...]


def read_resolv_conf(path: str | os.PathLike[str] | None = None) -> ResolvConf:
    """The host's resolvers, search list and options (a missing file is an empty one)."""
    try:
        text = read_text(path or RESOLV_CONF, errors="replace")
    except OSError:
        text = ""
    servers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) < 2:
            continue
        if words[0] == "nameserver":
            try:
                servers.append(ip_address_text(words[1].split("%", 1)[0]))
            except ValueError:
                continue
        elif words[0] in ("search", "domain"):
            search = words[1:]
        elif words[0] == "options":
            options += words[1:]
    return ResolvConf(tuple(servers), tuple(search), tuple(options))


def find_pasta() -> str | None:
    """The pasta command (Debian's passt package), or None."""
    return which("pasta") or next((p for p in ("/usr/bin/pasta", "/usr/sbin/pasta") if os.access(p, os.X_OK)), None)


def which(command: str) -> str | None:
    """``shutil.which(command)`` for a bare name on POSIX, without loading shutil (and the
    bz2, lzma and zlib it imports): the first PATH entry (CS_PATH when PATH is unset, an
    empty entry being the current directory) holding an executable non-directory."""
    path = os.environ.get("PATH")
    if path is None:
        try:
            path = os.confstr("CS_PATH")
        except (AttributeError, ValueError):
            path = os.defpath
    if not path:
        return None
    seen = set()
    for directory in path.split(os.pathsep):
        if directory in seen:
            continue
        seen.add(directory)
        name = os.path.join(directory, command)
        if os.path.exists(name) and os.access(name, os.X_OK) and not os.path.isdir(name):
            return name
    return None

