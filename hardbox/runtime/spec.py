"""What the executor needs of a profile, resolved: a plain record that serializes to JSON.

runc's split: ``specconv`` makes a config, libcontainer carries it out. Here the profile
model (YAML, schema, ``extends``, run options, the seccomp policy) is resolved once into a
``ProfileSpec`` — names, flags, paths, limits and the compiled seccomp filter — and the
container code (request.py, container.py) reads only that. A run whose spec comes from the
plan cache (plan_cache.py) therefore imports neither the profile model nor the seccomp
compiler. ``from_json`` is strict: a missing, unknown or mistyped field raises ValueError
(the cache treats that as a miss).
"""

from __future__ import annotations

from hardbox.records import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any

    from hardbox.runtime.profile.model import Egress, Profile


class LimitsSpec(NamedTuple):
    """The profile's cgroup limits (model.Limits)."""

    memory: int | None
    pids: int | None
    cpus: float | None
    mode: str


class SelinuxSpec(NamedTuple):
    """The profile's SELinux settings (model.SelinuxSettings)."""

    mode: str
    type: str
    level: str
    file_type: str


class ProfileSpec(NamedTuple):
    """A profile after options, as the container is built from it."""

    name: str
    weakenings: tuple[str, ...]  # as `ps` and the state record them
    user_namespace: bool
    network: str
    capabilities: tuple[str, ...]
    inheritable_names: tuple[str, ...]
    ambient_names: tuple[str, ...]
    no_new_privs: bool
    seccomp_bpf: bytes | None  # None: unconfined
    read_only_root: bool
    tmpfs_noexec: bool
    masked_paths: tuple[str, ...]
    readonly_paths: tuple[str, ...]
    limits: LimitsSpec
    selinux: SelinuxSpec
    rlimits: tuple[tuple[str, int, int], ...]  # (RLIMIT_*, soft, hard)
    volumes_readonly: bool
    # The egress policy, or None for the default one (allow, no rules: nothing installed).
    # Never serialized: a profile with a policy of its own is not cached (plan_cache.py).
    egress: Egress | None = None

    def to_json(self) -> dict[str, Any]:
        if self.egress is not None:
            raise ValueError("a spec with an egress policy is not serialized")
        out = self._asdict()
        del out["egress"]
        out["seccomp_bpf"] = self.seccomp_bpf.hex() if self.seccomp_bpf is not None else None
        out["limits"] = list(self.limits)
        out["selinux"] = list(self.selinux)
        return out

    @classmethod
    def from_json(cls, raw: object) -> ProfileSpec:
        if type(raw) is not dict or raw.keys() != _FIELDS.keys():
            raise ValueError("profile spec: not an object of its fields")
        for name, check in _FIELDS.items():
            if not check(raw[name]):
                raise ValueError(f"profile spec: field {name} has the wrong type")
        bpf, limits, rlimits = raw["seccomp_bpf"], raw["limits"], raw["rlimits"]
        plain: dict[str, Any] = {k: tuple(v) if type(v) is list else v for k, v in raw.items()}
        plain.update(
            seccomp_bpf=bytes.fromhex(bpf) if bpf is not None else None,
            limits=LimitsSpec(limits[0], limits[1], float(limits[2]) if limits[2] is not None else None,
                              limits[3]),
            selinux=SelinuxSpec(*raw["selinux"]),
            rlimits=tuple((t, soft, hard) for t, soft, hard in rlimits),
        )
        return cls(**plain)


def from_profile(profile: Profile, seccomp_bpf: bytes | None) -> ProfileSpec:
    """The spec of ``profile`` (after options) with its filter compiled to ``seccomp_bpf``."""
    limits, selinux = profile.limits, profile.selinux
    default_egress = not (profile.egress.restricts or profile.egress.allow or profile.egress.dns)
    return ProfileSpec(
        name=profile.name, weakenings=tuple(str(w) for w in profile.weakenings),
        user_namespace=profile.user_namespace, network=profile.network,
        capabilities=profile.capabilities, inheritable_names=profile.inheritable_names,
        ambient_names=profile.ambient_names, no_new_privs=profile.no_new_privs, seccomp_bpf=seccomp_bpf,
        read_only_root=profile.read_only_root, tmpfs_noexec=profile.tmpfs_noexec,
        masked_paths=profile.masked_paths, readonly_paths=profile.readonly_paths,
        limits=LimitsSpec(limits.memory, limits.pids, limits.cpus, limits.mode),
        selinux=SelinuxSpec(selinux.mode, selinux.type, selinux.level, selinux.file_type),
        rlimits=tuple((r.type, r.soft, r.hard) for r in profile.rlimits),
        volumes_readonly=profile.volumes_readonly, egress=None if default_egress else profile.egress,
    )


def _strs(v: object) -> bool:
    return type(v) is list and all(type(x) is str for x in v)


def _int_or_none(v: object) -> bool:
    return v is None or type(v) is int


def _limits(v: object) -> bool:
    return (type(v) is list and len(v) == 4 and _int_or_none(v[0]) and _int_or_none(v[1])
            and (v[2] is None or type(v[2]) in (int, float)) and type(v[3]) is str)


def _rlimits(v: object) -> bool:
    return type(v) is list and all(
        type(r) is list and len(r) == 3 and type(r[0]) is str and type(r[1]) is int and type(r[2]) is int
        for r in v)


def _hex_or_none(v: object) -> bool:
    # bytes.fromhex refuses what is not hex; a BPF program is whole 8-byte instructions.
    return v is None or (type(v) is str and v != "" and len(v) % 16 == 0)


def _is(tp: type) -> Any:
    return lambda v: type(v) is tp


# Every serialized field and the check of its JSON value (exact types: JSON's true is no int).
_FIELDS: dict[str, Any] = {
    "name": _is(str), "weakenings": _strs, "user_namespace": _is(bool), "network": _is(str),
    "capabilities": _strs, "inheritable_names": _strs, "ambient_names": _strs,
    "no_new_privs": _is(bool), "seccomp_bpf": _hex_or_none, "read_only_root": _is(bool),
    "tmpfs_noexec": _is(bool), "masked_paths": _strs, "readonly_paths": _strs, "limits": _limits,
    "selinux": lambda v: type(v) is list and len(v) == 4 and all(type(x) is str for x in v),
    "rlimits": _rlimits, "volumes_readonly": _is(bool),
}
