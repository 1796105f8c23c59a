"""The hardening profile model: the frozen dataclasses the runtime obeys, and their JSON forms.

This is the one definition of a profile. The dataclasses' defaults are the secure values a
profile file that leaves a field out gets (``policies/profiles/schema.json`` repeats them as
``default``s for editors; a test keeps the two equal). Both JSON forms are derived from the
dataclass fields, never listed by hand:

* ``Profile.to_json`` / ``Profile.from_json``: every field, for the parsed-profile cache
  (cache.py). The decoder is typed: it reads the field types and refuses a value of the
  wrong type or a missing or unknown key, so a damaged cache entry is a miss.
* ``Profile.to_dict``: the stable shape of `hardbox profile show --json`
  (docs/writing-a-profile.md) — the profile file's own field names and shapes, resolved.

Loading YAML (load.py, yaml_source.py), caching (cache.py) and folding run
options in (options.py) each import this module; it imports none of them.
"""

# No ``from __future__ import annotations`` here: the decoder reads the field types as the
# type objects themselves. Resolving string annotations (typing.get_type_hints) cost 1.3 ms
# of CPU on every `hardbox run`, more than the rest of a cache hit's decoding.
import re
import types
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, Self

from hardbox.errors import InputError
from hardbox.runtime.profile.seccomp_model import SeccompPolicy

NETWORK_MODES = ("none", "private", "host")
EGRESS_DEFAULTS = ("allow", "deny")
EGRESS_PROTOS = ("tcp", "udp", "any")
_SCALARS = (bool, int, str)  # JSON's own types, decoded as they are

# Docker's --memory units are binary (moby/go-units RAMInBytes).
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


def parse_bytes(value: int | str) -> int:
    """``512m``, ``1g``, ``1048576`` -> bytes, as ``docker run --memory`` reads them."""
    if isinstance(value, bool):
        raise InputError(f"memory size {value!r} is not a size")
    if isinstance(value, int):
        if value <= 0:
            raise InputError(f"memory size {value} must be positive")
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise InputError(f"memory size {value!r} is not a size like 512m or 1g")
    number = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if number < 1:
        raise InputError(f"memory size {value!r} must be positive")
    return int(number)


@dataclass(frozen=True)
class Weakening:
    """One place where a run is less isolated than its profile says."""

    field: str  # the profile field, e.g. "capabilities"
    before: str
    after: str
    cause: str  # the option that did it, e.g. "--cap-add NET_ADMIN"

    def to_dict(self) -> dict[str, str]:
        out: dict[str, str] = _encode(self)
        return out

    def __str__(self) -> str:
        return f"{self.field}: {self.before} -> {self.after} ({self.cause})"


@dataclass(frozen=True)
class SelinuxSettings:
    """``mode``: required | if-available | disabled. ``level`` empty = allocate a unique MCS
    category pair per container (selinux.allocate_label)."""

    mode: str = "if-available"
    type: str = "container_t"
    level: str = ""
    file_type: str = "container_file_t"


@dataclass(frozen=True)
class Limits:
    """cgroup limits: ``memory`` in bytes, ``pids`` max tasks, ``cpus`` as in ``docker --cpus``.
    ``None`` means no limit. ``mode`` says whether a host that cannot apply them refuses to run
    (required) or runs with a recorded warning (if-available)."""

    memory: int | None = None
    pids: int | None = None
    cpus: float | None = None
    mode: str = "if-available"


@dataclass(frozen=True)
class CapabilityGrant:
    """A capability a profile puts in the inheritable or ambient set, and why. Both sets are
    empty unless a profile asks (Docker's default since CVE-2022-24769)."""

    name: str  # CAP_ prefixed, and also in the profile's ``capabilities``
    reason: str


HOST_GATEWAY = "host-gateway"  # an egress destination: the host's loopback, as --add-host maps it


def parse_cidr(value: str) -> str:
    """An egress destination as its network, IPv4 or IPv6: ``10.20.0.0/16``, ``::/0``, or a
    bare address (one host); or ``host-gateway``. A prefix with host bits set
    (``10.20.0.1/16``) is refused: it could mean the network or the one host, and a firewall
    rule must not guess."""
    if not isinstance(value, str):
        raise InputError(f"egress cidr {value!r} is not a string like 10.0.0.0/8 or ::/0")
    if value == HOST_GATEWAY:
        return value
    import ipaddress  # only profiles with egress rules need it; not on every run's start-up

    try:
        return str(ipaddress.ip_network(value.strip(), strict=True))
    except ValueError as err:
        if "host bits" in str(err):
            net = ipaddress.ip_network(value.strip(), strict=False)
            one = value.strip().partition("/")[0]
            raise InputError(f"egress cidr {value!r} has host bits set: write {net} for the network "
                             f"or {one}/{net.max_prefixlen} for the one host") from None
        raise InputError(f"egress cidr {value!r} does not parse: {err}") from None


@dataclass(frozen=True)
class EgressRule:
    """One destination the container may open connections to: a network (normalised), the
    destination ports (empty: every port) and the protocol (``any``: tcp and udp when ports
    are named, every protocol when not)."""

    cidr: str
    ports: tuple[int, ...] = ()
    proto: str = "any"

    def __post_init__(self) -> None:
        object.__setattr__(self, "cidr", parse_cidr(self.cidr))
        for port in self.ports:
            if type(port) is not int or not 1 <= port <= 65535:
                raise InputError(f"egress port {port!r} for {self.cidr} is not a port (1-65535)")
        if self.proto not in EGRESS_PROTOS:
            raise InputError(f"egress proto {self.proto!r} for {self.cidr} is not one of {', '.join(EGRESS_PROTOS)}")

    @property
    def host_gateway(self) -> bool:
        """Whether the rule is about the host's loopback behind the gateway address (which
        ``--add-host NAME:host-gateway`` maps), not about a network."""
        return self.cidr == HOST_GATEWAY


@dataclass(frozen=True)
class Egress:
    """What the container may connect to (``network.egress`` of a profile file). ``default``
    covers IPv4 and IPv6 alike; ``allow`` lists the exceptions to a ``deny``; ``dns`` lets the
    configured resolvers' port 53 through. The default (allow, nothing listed) installs no
    rules; runtime/egress.py turns a policy into nftables rules."""

    default: str = "allow"
    allow: tuple[EgressRule, ...] = ()
    dns: bool = False

    def __post_init__(self) -> None:
        if self.default not in EGRESS_DEFAULTS:
            raise InputError(f"egress default {self.default!r} is not one of {', '.join(EGRESS_DEFAULTS)}")

    @property
    def restricts(self) -> bool:
        """Whether the policy stops anything (a default-allow policy lets everything out)."""
        return self.default == "deny"


@dataclass(frozen=True)
class Rlimit:
    """One setrlimit(2) value, OCI spelling (``RLIMIT_NOFILE``)."""

    type: str
    soft: int
    hard: int


@dataclass(frozen=True, kw_only=True)
class Profile:
    """A resolved profile: every field has its final value, ``extends`` already applied.

    The fields are in the order of the profile file's schema (``to_dict`` keeps it); a field
    with a default is one a file may leave out, and the default is the secure value."""

    name: str
    description: str = ""
    source: str  # the file it was loaded from
    chain: tuple[str, ...] = ()  # the profile names this one was built from, base first
    strict: bool = False  # refuse isolation-breaking combinations and weakening run options
    user_namespace: bool = True
    capabilities: tuple[str, ...] = ()  # bounding, permitted, effective, e.g. ("CAP_CHOWN",)
    capabilities_inheritable: tuple[CapabilityGrant, ...] = ()  # empty unless asked for
    capabilities_ambient: tuple[CapabilityGrant, ...] = ()  # empty unless asked for
    no_new_privs: bool = True
    seccomp_name: str = "default"  # "default", "strict", a file path, or "unconfined"
    seccomp: SeccompPolicy | None  # None only when seccomp_name == "unconfined"
    selinux: SelinuxSettings = field(default_factory=SelinuxSettings)
    network: str = "none"  # one of NETWORK_MODES (the file's network, or its network.mode)
    egress: Egress = field(default_factory=Egress)  # the file's network.egress
    read_only_root: bool = True
    tmpfs_noexec: bool = True
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    rlimits: tuple[Rlimit, ...] = ()
    volumes_readonly: bool = True  # -v binds are read-only unless they say :rw
    weakenings: tuple[Weakening, ...] = ()  # what this run's options changed (options.py)

    def __post_init__(self) -> None:
        if self.network not in NETWORK_MODES:
            raise InputError(f"profile {self.name}: network {self.network!r} is not one of {NETWORK_MODES}")
        if self.network == "host" and self.egress.restricts:
            # Rules in the host's own namespace would be the host's firewall, not the
            # container's: a policy that cannot be enforced is refused, never ignored.
            raise InputError(f"profile {self.name}: network.egress cannot be enforced with network host",
                             hint="use network private (or none), or egress default: allow")
        if self.egress.restricts and "CAP_NET_ADMIN" in self.capabilities:
            # The rules live in the container's own network namespace: a workload holding
            # CAP_NET_ADMIN there could delete them (`nft flush ruleset`).
            raise InputError(f"profile {self.name}: CAP_NET_ADMIN would let the workload remove its egress rules",
                             hint="drop CAP_NET_ADMIN, or set network.egress.default: allow")
        if (self.seccomp is None) != (self.seccomp_name == "unconfined"):
            raise InputError(f"profile {self.name}: seccomp policy and its name disagree")

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape of `hardbox profile show --json` (docs/writing-a-profile.md):
        every field under the profile file's name and in its shape (schema.json), plus
        ``source``, ``extends`` (the chain above this profile) and ``weakenings``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "seccomp":
                continue  # a file names its policy (seccomp_name); the body is the cache's
            if f.name == "chain":
                out["extends"] = list(value[:-1])
            elif f.name == "network":  # the file's mapping form, whichever form it used
                out["network"] = {"mode": value, "egress": _encode(self.egress)}
            elif f.name == "egress":
                continue
            elif f.name == "seccomp_name":
                out["seccomp"] = value
            elif f.name == "rlimits":
                out["rlimits"] = {r.type: {"soft": r.soft, "hard": r.hard} for r in value}
            else:
                out[f.name] = _encode(value)
        return out

    def to_json(self) -> dict[str, Any]:
        """Every field, as ``from_json`` reads it back (the parsed-profile cache's body)."""
        out: dict[str, Any] = _encode(self)
        return out

    @classmethod
    def from_json(cls, raw: Any) -> Self:
        """The profile ``to_json`` wrote. A missing, unknown or mistyped field raises
        ValueError; a value the model refuses raises InputError."""
        profile: Self = _decode(cls, raw, "profile")
        return profile

    @property
    def inheritable_names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.capabilities_inheritable)

    @property
    def ambient_names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.capabilities_ambient)

    def with_weakenings(self, weakenings: tuple[Weakening, ...], **changes: Any) -> Self:
        return replace(self, weakenings=self.weakenings + weakenings, **changes)


def field_default(name: str) -> Any:
    """The value a profile that does not set ``name`` (a Profile field) gets."""
    f = next(f for f in fields(Profile) if f.name == name)
    return f.default_factory() if callable(f.default_factory) else f.default


def _encode(value: Any) -> Any:
    """A model value as JSON: dataclasses as objects of their fields, tuples as lists."""
    if isinstance(value, SeccompPolicy):  # its own Docker-format JSON, plus where it came from
        return {"source": value.source, "policy": value.to_json()}
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple):
        return [_encode(item) for item in value]
    return value


def _decode(tp: Any, raw: Any, where: str) -> Any:
    """``raw`` (JSON) as a value of type ``tp``, checked: the inverse of ``_encode``.

    Written for speed (it runs on every `hardbox run`): exact type checks (JSON's bool is not
    an int here), and the field types read as objects, never through typing's helpers."""
    if tp in _SCALARS:
        if type(raw) is tp:
            return raw
    elif tp is float:
        if type(raw) in (int, float):
            return float(raw)  # JSON has one number type: 2.0 may come back as 2
    elif type(tp) is types.UnionType:  # the model's only unions are X | None
        if raw is None:
            return None
        (only,) = (t for t in tp.__args__ if t is not types.NoneType)
        return _decode(only, raw, where)
    elif type(tp) is types.GenericAlias and tp.__origin__ is tuple:  # tuple[X, ...]
        if type(raw) is list:
            item = tp.__args__[0]
            return tuple(_decode(item, x, where) for x in raw)
    elif tp is SeccompPolicy:
        if type(raw) is dict and raw.keys() == {"source", "policy"} and type(raw["source"]) is str:
            return SeccompPolicy.from_json(raw["policy"], raw["source"])
    elif isinstance(tp, type) and is_dataclass(tp):
        members = fields(tp)
        if type(raw) is dict and raw.keys() == {f.name for f in members}:
            return tp(**{f.name: _decode(f.type, raw[f.name], f"{where}.{f.name}") for f in members})
    else:
        raise TypeError(f"{where}: the decoder has no rule for {tp!r}")
    raise ValueError(f"{where}: a {type(raw).__name__} is not a {getattr(tp, '__name__', tp)}")
