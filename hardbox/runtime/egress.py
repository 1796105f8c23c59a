"""The egress policy, enforced: nftables rules in the container's own network namespace.

A profile's ``network.egress`` (model.Egress) becomes one table, ``inet hardbox``, with one
output chain, written as ``nft --json`` input (libnftables' JSON schema, libnftables-json(5)).
The ``nft`` command is used rather than Debian's python3-nftables binding, which a venv
cannot see. The chain, in order:

1. ``lo`` and packets of connections already made (replies to published ports, to allowed
   destinations) pass; so does IPv6 neighbour discovery, which an IPv6 link needs to work.
2. ``dns: true``: port 53 (udp and tcp) of the container's resolvers passes.
3. The policy's ``allow`` rules.
4. ``default: deny``: everything else is rejected, TCP with a reset and the rest with ICMP
   administratively-prohibited, so a denied connection fails at once instead of hanging.

``host-gateway`` rules are not nftables rules: they name the host loopback ports that
``--add-host NAME:host-gateway`` lets through, and pasta forwards only those onto the
container's own 127.0.0.1 (``host_gateway`` below; runtime/net/plan.py asks it).

``install`` loads the table from hardbox's side (container.py) after the namespace exists
and before PID 1 is let go to run anything of the image. The workload holds no
CAP_NET_ADMIN (the model refuses an egress policy beside it), so it cannot change the rules;
they go away with the namespace, so stop, rm and a crash leave nothing behind.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardbox.errors import ContainerError
from hardbox.runtime.profile.model import Egress, EgressRule

TABLE = "hardbox"
CHAIN = "egress"
# ICMPv6 types a host sends to find its neighbours and router on the link (RFC 4861).
_NEIGHBOUR_DISCOVERY = ["nd-router-solicit", "nd-neighbor-solicit", "nd-neighbor-advert"]
_NFT_TIMEOUT = 20.0


@dataclass(frozen=True)
class HostGateway:
    """Where the container reaches the host's loopback, and the ports of it it may reach:
    ``(port, proto)`` pairs, proto ``tcp`` or ``udp``; no other."""

    addresses: tuple[str, ...]
    ports: tuple[tuple[int, str], ...] = ()


def host_gateway(policy: Egress, addresses: Sequence[str]) -> HostGateway | None:
    """How much of the host's loopback a run given ``--add-host NAME:host-gateway`` may reach
    at ``addresses``: the ports of the policy's ``host-gateway`` rules. None means all of it: a
    ``host-gateway`` rule naming no port, or no such rule under a default-allow policy (what
    asking for the host gateway without a policy means). Under ``deny`` with no such rule,
    none of it."""
    if not addresses:
        return None
    rules = [r for r in policy.allow if r.host_gateway]
    if any(not r.ports for r in rules) or (not rules and not policy.restricts):
        return None
    ports = {(port, proto) for r in rules for port in r.ports
             for proto in (("tcp", "udp") if r.proto == "any" else (r.proto,))}
    return HostGateway(tuple(addresses), tuple(sorted(ports)))


def build_ruleset(policy: Egress, *, resolvers: Iterable[str] = ()) -> dict[str, Any]:
    """The ``nft --json`` document that creates the table (see the module docstring)."""
    commands: list[dict[str, Any]] = [
        {"metainfo": {"json_schema_version": 1}},
        {"add": {"table": {"family": "inet", "name": TABLE}}},
        # Replaces whatever a table of that name held: loading twice gives one copy.
        {"flush": {"table": {"family": "inet", "name": TABLE}}},
        {"add": {"chain": {"family": "inet", "table": TABLE, "name": CHAIN, "type": "filter",
                           "hook": "output", "prio": 0, "policy": "accept"}}},
    ]

    def rule(comment: str, *exprs: dict[str, Any]) -> None:
        commands.append({"add": {"rule": {"family": "inet", "table": TABLE, "chain": CHAIN,
                                          "comment": comment[:120], "expr": list(exprs)}}})

    def reject(comment: str, *exprs: dict[str, Any]) -> None:
        # TCP gets a reset (connect() fails with ECONNREFUSED at once); every other protocol
        # an ICMP administratively-prohibited (EHOSTUNREACH / EACCES), never a silent drop.
        rule(comment, *exprs, _match({"meta": {"key": "l4proto"}}, "tcp"), {"reject": {"type": "tcp reset"}})
        rule(comment, *exprs, {"reject": {"type": "icmpx", "expr": "admin-prohibited"}})

    rule("loopback", _match({"meta": {"key": "oifname"}}, "lo"), _ACCEPT)
    rule("replies and connections already allowed",
         _match({"ct": {"key": "state"}}, {"set": ["established", "related"]}, "in"), _ACCEPT)
    if policy.restricts:
        rule("IPv6 neighbour discovery", _match({"meta": {"key": "nfproto"}}, "ipv6"),
             _match({"payload": {"protocol": "icmpv6", "field": "type"}}, {"set": _NEIGHBOUR_DISCOVERY}),
             _ACCEPT)
    if policy.dns:
        for address in dict.fromkeys(resolvers):
            net = _network(address)
            rule(f"dns: resolver {net.network_address}",
                 _daddr(net), _match({"meta": {"key": "l4proto"}}, {"set": ["tcp", "udp"]}),
                 _match({"payload": {"protocol": "th", "field": "dport"}}, 53), _ACCEPT)
    for allowed in policy.allow:
        if not allowed.host_gateway:  # ports pasta forwards, not destinations (docstring)
            rule(f"allow {describe_rule(allowed)}", _daddr(_network(allowed.cidr)),
                 *_l4(allowed.proto, allowed.ports), _ACCEPT)
    if policy.restricts:
        reject("default deny")
    return {"nftables": commands}


def rules_for_run(policy: Egress, mode: str, *, resolv_conf: Path | None = None) -> dict[str, Any] | None:
    """The ruleset a run installs, or None when it needs none: a default-allow policy stops
    nothing, and only a ``private`` network has a namespace with a way out (``none`` has only
    ``lo``; ``host`` is refused with a policy by the model). ``resolv_conf`` is the file the
    container will read its resolvers from."""
    if mode != "private" or not policy.restricts:
        return None
    resolvers = nameservers(resolv_conf) if policy.dns and resolv_conf is not None else ()
    return build_ruleset(policy, resolvers=resolvers)


def nameservers(resolv_conf: Path) -> tuple[str, ...]:
    """The ``nameserver`` addresses of a resolv.conf (a missing file has none)."""
    try:
        text = resolv_conf.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    found: list[str] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                found.append(str(ipaddress.ip_address(words[1].split("%", 1)[0])))
            except ValueError:
                continue
    return tuple(found)


def install(pid: int, ruleset: dict[str, Any]) -> None:
    """Load ``ruleset`` into the network namespace of process ``pid`` (the container's PID 1,
    not yet running the image). Host root enters the network namespace directly; an
    unprivileged caller first enters the container's user namespace, which owns it and in
    which it is root. Any failure stops the start (fail closed)."""
    nft = shutil.which("nft") or next((p for p in ("/usr/sbin/nft", "/sbin/nft") if os.access(p, os.X_OK)), None)
    nsenter = shutil.which("nsenter") or "/usr/bin/nsenter"
    if nft is None:
        raise ContainerError("egress policy: the nft command is not installed",
                             "install nftables (Debian: apt-get install nftables), or run a profile "
                             "without network.egress")
    enter = [nsenter, f"--net=/proc/{pid}/ns/net"]
    if os.geteuid() != 0:
        enter.insert(1, f"--user=/proc/{pid}/ns/user")
    try:
        proc = subprocess.run([*enter, "--", nft, "--json", "--file", "-"], input=json.dumps(ruleset),
                              capture_output=True, text=True, timeout=_NFT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ContainerError(f"egress policy: cannot run nft in the container's network namespace: {err}") from err
    if proc.returncode != 0:
        first = next((line for line in proc.stderr.splitlines() if line.strip()), f"exit {proc.returncode}")
        raise ContainerError(f"egress policy: nft refused the rules: {first.strip()}")


def describe(policy: Egress) -> list[str]:
    """The rules in plain words, in the order they apply (``run --explain``)."""
    lines: list[str] = []
    if policy.dns:
        lines.append("allow port 53 (udp, tcp) of the container's resolvers")
    lines += [f"allow {describe_rule(r)}" for r in policy.allow]
    if policy.restricts and lines:
        lines.append("reject everything else at once (tcp reset, icmp admin-prohibited), IPv4 and IPv6")
    elif policy.restricts:
        lines.append("reject every connection the container opens, at once (tcp reset, icmp "
                     "admin-prohibited), IPv4 and IPv6; replies to connections made to it pass")
    else:
        lines.append("allow everything else")
    return lines


def describe_rule(rule: EgressRule) -> str:
    protos = "tcp, udp" if rule.proto == "any" and rule.ports else rule.proto
    where = "to the host's loopback (with --add-host NAME:host-gateway)" if rule.host_gateway else f"to {rule.cidr}"
    if not rule.ports:
        return f"{'every protocol' if rule.proto == 'any' else protos} {where}"
    return f"{protos} {where} port{'s' if len(rule.ports) > 1 else ''} {_ports_text(rule.ports)}"


# ---- nft JSON expressions ------------------------------------------------------------------

_ACCEPT: dict[str, Any] = {"accept": None}


def _match(left: dict[str, Any], right: Any, op: str = "==") -> dict[str, Any]:
    return {"match": {"op": op, "left": left, "right": right}}


def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr, strict=False)


def _daddr(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> dict[str, Any]:
    family = "ip" if net.version == 4 else "ip6"
    right: Any = str(net.network_address)
    if net.prefixlen != net.max_prefixlen:
        right = {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}
    return _match({"payload": {"protocol": family, "field": "daddr"}}, right)


def _l4(proto: str, ports: Iterable[int]) -> list[dict[str, Any]]:
    ports = sorted(ports)
    if proto == "any" and not ports:
        return []
    protos: Any = {"set": ["tcp", "udp"]} if proto == "any" else proto
    out = [_match({"meta": {"key": "l4proto"}}, protos)]
    if ports:
        out.append(_match({"payload": {"protocol": "th", "field": "dport"}},
                          ports[0] if len(ports) == 1 else {"set": ports}))
    return out


def _ports_text(ports: Iterable[int]) -> str:
    return ", ".join(str(p) for p in sorted(ports))
