"""What a run's network will be, decided before anything starts: ``make_network_plan``.

Folds the mode, the parsed options and the image's ``ExposedPorts`` into a ``NetworkPlan``:
published ports with their host ports chosen (``-P`` and ``-p :80`` take a free port of the
address), the resolvers and hosts entries the /etc files get, and which of the host's
loopback ports the container may reach (only with ``--add-host NAME:host-gateway``).

The host's loopback reaches the container through pasta's namespace-to-host forwarding
(``-T``/``-U``): each allowed port is bound on the container's own 127.0.0.1 and spliced to
the host's, and ``NAME`` resolves to 127.0.0.1. The 2023 pasta's other route, mapping the
gateway address to the host's loopback, is not used: on this snapshot a connection through
it repeats data and never sees the host close it, and it cannot be limited to some ports.
The ports are those of the profile's ``host-gateway`` egress rules (runtime/egress.py
decides: all of them, some, or none).
"""

from __future__ import annotations

import _socket  # the C socket type, for choosing free ports (see _choose_ports)
import os

from hardbox.errors import ContainerError, UsageError
from hardbox.records import TYPE_CHECKING, NamedTuple
from hardbox.runtime.net import host
from hardbox.runtime.net.options import (
    DEFAULT_HOST_IP,
    HOST_GATEWAY,
    NetworkOptions,
    PublishedPort,
    exposed_port,
)

if TYPE_CHECKING:
    from hardbox.runtime.profile.model import Egress

LOOPBACK = "127.0.0.1"  # where the host's loopback ports appear in the container
TUN = "/dev/net/tun"

# Where the container sends DNS queries when the host's only resolvers are on its loopback
# (systemd-resolved's 127.0.0.53): pasta's --dns-forward hands them to that resolver.
# Link-local, so it never collides with a real destination; Podman uses the same one.
DNS_FORWARD = "169.254.1.1"


class NetworkPlan(NamedTuple):
    mode: str  # none | private | host
    hostname: str
    ports: tuple[PublishedPort, ...] = ()  # every host port chosen (never 0)
    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    resolv_options: tuple[str, ...] = ()
    hosts: tuple[tuple[str, str], ...] = ()  # (address, name), after the localhost lines
    container_address: str = ""  # private: the address pasta gives the container
    host_gateway: bool = False  # --add-host NAME:host-gateway: some of the host's loopback
    host_ports: tuple[tuple[int, str], ...] | None = None  # (port, proto) it may reach; None: all
    dns_forward: str = ""  # set when the resolvers were all on the host's loopback

    @property
    def uplink(self) -> bool:
        return self.mode == "private"

    def to_state(self) -> list[str]:
        return [str(p) for p in self.ports]


def uplink_mode(mode: str, options: NetworkOptions) -> tuple[str, str]:
    """The mode a run gets, and a note when ``private`` falls back to an uplink-less
    namespace: pasta missing, or /dev/net/tun closed to this user (mode 0600 on some hosts;
    pasta needs it for the container's interface). Falling back isolates more, never less,
    so it is a recorded skip; a run that asked for ports or the host gateway is refused."""
    if mode != "private":
        return mode, ""
    reason = ""
    if host.find_pasta() is None:
        reason = "the pasta command is not installed (Debian: apt-get install passt)"
    elif not os.access(TUN, os.R_OK | os.W_OK):
        reason = f"{TUN} is not open to uid {os.geteuid()}, and pasta needs it"
    if not reason:
        return mode, ""
    if options.publish or options.publish_all or options.host_gateway:
        raise ContainerError(f"network private: {reason}",
                             "published ports and host-gateway need the pasta uplink; "
                             "see docs/networking.md")
    return "none", f"network private: {reason}; the namespace has only lo"


def make_network_plan(mode: str, options: NetworkOptions, exposed: tuple[str, ...], hostname: str,
                      *, profile_name: str = "", egress: Egress | None = None) -> NetworkPlan:
    options.check_mode(mode, profile_name)
    resolv = host.read_resolv_conf()
    route = host.default_route() if mode == "private" else None
    nameservers = options.dns or resolv.nameservers
    dns_forward = ""
    if mode == "private" and not options.dns:
        # The container's loopback is its own: a host resolver on 127.0.0.53 is not there.
        nameservers = tuple(s for s in nameservers if not host.is_loopback(s))
        if not nameservers and resolv.nameservers:
            dns_forward = DNS_FORWARD
            nameservers = (DNS_FORWARD,)
    host_gateway = bool(options.host_gateway) and mode == "private"
    host_ports = _host_ports(egress) if host_gateway else None
    hosts = tuple((LOOPBACK if h.address == HOST_GATEWAY else h.address, h.name) for h in options.add_hosts)
    ports = _choose_ports(_wanted_ports(options, exposed)) if mode == "private" else ()
    return NetworkPlan(
        mode=mode, hostname=hostname, ports=ports, nameservers=nameservers, search=resolv.search,
        resolv_options=resolv.options, hosts=hosts,
        container_address=route.address if route is not None else "", host_gateway=host_gateway,
        host_ports=host_ports, dns_forward=dns_forward,
    )


def _host_ports(egress: Egress | None) -> tuple[tuple[int, str], ...] | None:
    """The host loopback ports a host-gateway run may reach, per the egress policy."""
    if egress is None:
        return None
    from hardbox.runtime import egress as rules  # only runs asking for the host gateway

    allowed = rules.host_gateway(egress, (LOOPBACK,))
    return None if allowed is None else allowed.ports


def _wanted_ports(options: NetworkOptions, exposed: tuple[str, ...]) -> list[PublishedPort]:
    wanted = list(options.publish)
    if options.publish_all:
        for key in exposed:
            port, proto = exposed_port(key)
            if not any(p.container_port == port and p.proto == proto for p in wanted):
                wanted.append(PublishedPort(DEFAULT_HOST_IP, 0, port, proto))
    seen: set[tuple[str, int, str]] = set()
    for p in wanted:
        bound = (p.host_ip, p.host_port, p.proto)
        if p.host_port and bound in seen:
            raise UsageError(f"-p: host port {p.host_ip}:{p.host_port}/{p.proto} is published twice")
        seen.add(bound)
    return wanted


def _choose_ports(wanted: list[PublishedPort]) -> tuple[PublishedPort, ...]:
    """A free host port for each one asked as 0: the kernel's pick for that address. pasta
    binds it a moment later; a port taken in between fails the start by name."""
    out = []
    for p in wanted:
        if p.host_port == 0:
            family = _socket.AF_INET6 if ":" in p.host_ip else _socket.AF_INET
            kind = _socket.SOCK_STREAM if p.proto == "tcp" else _socket.SOCK_DGRAM
            # The C socket type: socket.py's enums and selectors are ms of start-up.
            probe = _socket.socket(family, kind)
            try:
                try:
                    probe.bind((p.host_ip, 0))
                except OSError as err:
                    raise UsageError(f"-p {p.host_ip}::{p.container_port}: cannot bind {p.host_ip}: "
                                     f"{err.strerror}") from err
                p = PublishedPort(p.host_ip, probe.getsockname()[1], p.container_port, p.proto)
            finally:
                probe.close()
        out.append(p)
    return tuple(out)
