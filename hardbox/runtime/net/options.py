"""``-p``, ``-P``, ``--add-host`` and ``--dns``, parsed and checked at the boundary.

Every bad value is a one-line ``UsageError`` naming it (``hardbox run`` exits 125). A
published port without an address binds 127.0.0.1, not every interface as Docker does:
opening a port to the network must be written out (``-p 0.0.0.0:8080:80``).
"""

from __future__ import annotations

from hardbox.errors import UsageError
from hardbox.records import NamedTuple
from hardbox.runtime.net.address import ip_address_text

DEFAULT_HOST_IP = "127.0.0.1"
HOST_GATEWAY = "host-gateway"
PROTOS = ("tcp", "udp")
# RFC 1123 host names, dotted; the same rule as --hostname (sethostname(2) allows 64 bytes):
# what the regex [A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])? matched whole, in str methods
# (no ``re`` on the run path).
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_HOST_CHARS = _ALNUM | frozenset(".-")


def is_host_name(name: str) -> bool:
    """1-253 of letters, digits, '.' and '-' (ASCII), starting and ending with a letter or digit."""
    return (0 < len(name) <= 253 and name[0] in _ALNUM and name[-1] in _ALNUM
            and _HOST_CHARS.issuperset(name))


class PublishedPort(NamedTuple):
    """One ``-p``: ``host_port`` 0 means "a free port, chosen at start"."""

    host_ip: str
    host_port: int
    container_port: int
    proto: str = "tcp"

    def __str__(self) -> str:
        host = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
        return f"{host}:{self.host_port}->{self.container_port}/{self.proto}"

    @classmethod
    def parse(cls, spec: str) -> PublishedPort:
        """``[IP:]HOSTPORT:CONTAINERPORT[/PROTO]``, ``[IP:]:CONTAINERPORT`` or ``CONTAINERPORT``."""
        body, _, proto = spec.partition("/")
        proto = proto or "tcp"
        if proto not in PROTOS:
            raise UsageError(f"-p {spec!r}: protocol {proto!r} is not tcp or udp")
        ip = ""
        if body.startswith("["):  # [IPv6]:HOSTPORT:CONTAINERPORT, as Docker writes it
            close = body.find("]")
            if close < 0 or body[close + 1 : close + 2] != ":":
                raise UsageError(f"-p {spec!r}: expected [IPV6]:HOSTPORT:CONTAINERPORT")
            ip, body = body[1:close], body[close + 2 :]
            parts = body.split(":")
            if len(parts) != 2:
                raise UsageError(f"-p {spec!r}: expected [IPV6]:HOSTPORT:CONTAINERPORT")
            host, container = parts
        else:
            parts = body.split(":")
            if len(parts) == 1:
                host, container = "", parts[0]
            elif len(parts) == 2:
                host, container = parts
            elif len(parts) == 3:
                ip, host, container = parts
            else:
                raise UsageError(f"-p {spec!r}: expected [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp]",
                                 "write an IPv6 address in brackets: -p [::1]:8080:80")
        if ip:
            ip = _address(ip, f"-p {spec!r}")
        return cls(ip or DEFAULT_HOST_IP, _port(host, spec, allow_empty=True), _port(container, spec), proto)


def _port(text: str, spec: str, *, allow_empty: bool = False) -> int:
    if not text and allow_empty:
        return 0
    if "-" in text:
        raise UsageError(f"-p {spec!r}: port ranges are not supported", "give one -p per port")
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise UsageError(f"-p {spec!r}: {text!r} is not a port (1-65535)")
    return int(text)


def _address(text: str, what: str) -> str:
    try:
        return ip_address_text(text)
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not an IP address") from None


class HostEntry(NamedTuple):
    """One ``--add-host NAME:IP`` (``address`` may be ``host-gateway``)."""

    name: str
    address: str

    @classmethod
    def parse(cls, spec: str) -> HostEntry:
        # Split at the first colon: an IPv6 address keeps its own (Docker also accepts '=').
        sep = "=" if "=" in spec else ":"
        name, found, address = spec.partition(sep)
        if not found or not name or not address:
            raise UsageError(f"--add-host {spec!r}: expected NAME:IP or NAME:host-gateway")
        if not is_host_name(name):
            raise UsageError(f"--add-host {spec!r}: {name!r} is not a host name")
        if address != HOST_GATEWAY:
            address = _address(address.strip("[]"), f"--add-host {spec!r}")
        return cls(name, address)


def parse_dns(value: str) -> str:
    return _address(value, f"--dns {value!r}")


def exposed_port(value: str) -> tuple[int, str]:
    """An image's ``ExposedPorts`` key (``80/tcp``, ``53/udp``, ``8080``) as (port, proto).

    Image input is hostile: a key that is no port is refused by name, not guessed."""
    port, _, proto = value.partition("/")
    proto = proto or "tcp"
    if proto not in PROTOS or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UsageError(f"-P: the image exposes {value!r}, which is not PORT[/tcp|udp]")
    return int(port), proto


class NetworkOptions(NamedTuple):
    """The run's network options after parsing (cli/run.py builds it)."""

    publish: tuple[PublishedPort, ...] = ()
    publish_all: bool = False
    dns: tuple[str, ...] = ()
    add_hosts: tuple[HostEntry, ...] = ()

    @classmethod
    def parse(cls, publish: list[str], publish_all: bool, dns: list[str], add_hosts: list[str]) -> NetworkOptions:
        return cls(tuple(PublishedPort.parse(p) for p in publish), publish_all,
                   tuple(parse_dns(d) for d in dns), tuple(HostEntry.parse(h) for h in add_hosts))

    @property
    def host_gateway(self) -> tuple[str, ...]:
        """The names asked for with ``--add-host NAME:host-gateway``."""
        return tuple(h.name for h in self.add_hosts if h.address == HOST_GATEWAY)

    def check_mode(self, mode: str, profile_name: str) -> None:
        """Ports and the host gateway exist only with an uplink: refuse them elsewhere,
        naming the option (strict's ``network: none`` included)."""
        if mode == "private":
            return
        offending = [f"-p {p.host_port or ''}:{p.container_port}/{p.proto}" for p in self.publish]
        offending += ["-P"] if self.publish_all else []
        offending += [f"--add-host {h}:{HOST_GATEWAY}" for h in self.host_gateway]
        if offending:
            raise UsageError(
                f"{offending[0]} needs --network private; profile {profile_name} runs with network {mode}",
                "strict keeps network none: use --profile default (network private)" if mode == "none"
                else "with --network host the container uses the host's ports directly",
            )
