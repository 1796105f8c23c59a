"""Hardening profiles: the frozen model the runtime obeys, and the YAML loader behind it.

A profile is YAML under ``policies/profiles/<name>.yaml`` (or any file the user names). It may
``extends:`` another profile; mappings (``selinux``, ``limits``, ``rlimits``) merge key by key,
everything else is replaced. Each file is validated against ``policies/profiles/schema.json``
and a bad one is a single ``InputError`` naming the file, the line and the field (found from
the YAML node marks). A profile with ``strict: true`` refuses combinations that break
isolation, and ``apply_options`` refuses run options that would weaken it.

Fields a profile leaves out take the secure value (the schema's ``default``), so the smallest
valid profile is the most locked-down one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardbox.errors import InputError
from hardbox.runtime.profile_options import (
    ALL_CAPABILITIES,
    RunOptions,
    Weakening,
    apply_options,
    parse_bytes,
)
from hardbox.runtime.seccomp_model import SeccompPolicy

if TYPE_CHECKING:
    # profile_yaml imports PyYAML; it is loaded only on a profile-cache miss (profile_cache).
    from hardbox.runtime.profile_yaml import ProfileDocument

__all__ = [
    "Limits",
    "Profile",
    "Rlimit",
    "RunOptions",
    "SelinuxSettings",
    "Weakening",
    "apply_options",
    "list_profiles",
    "load_profile",
]

NETWORK_MODES = ("none", "private", "host")
REQUIREMENT_MODES = ("required", "if-available")
SELINUX_MODES = ("required", "if-available", "disabled")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


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
class Rlimit:
    """One setrlimit(2) value, OCI spelling (``RLIMIT_NOFILE``)."""

    type: str
    soft: int
    hard: int


@dataclass(frozen=True)
class Profile:
    """A resolved profile: every field has its final value, ``extends`` already applied."""

    name: str
    description: str
    source: str  # the file it was loaded from
    strict: bool  # refuse isolation-breaking combinations and weakening run options
    user_namespace: bool
    capabilities: tuple[str, ...]  # exactly the five sets' content, e.g. ("CAP_CHOWN",)
    no_new_privs: bool
    seccomp: SeccompPolicy | None  # None only when seccomp_name == "unconfined"
    seccomp_name: str  # "default", "strict", a file path, or "unconfined"
    selinux: SelinuxSettings
    network: str  # one of NETWORK_MODES
    read_only_root: bool
    tmpfs_noexec: bool
    masked_paths: tuple[str, ...]
    readonly_paths: tuple[str, ...]
    limits: Limits
    rlimits: tuple[Rlimit, ...]
    volumes_readonly: bool  # -v binds are read-only unless they say :rw
    run_as_non_root: bool  # exports ask the engine to refuse uid 0 (k8s runAsNonRoot)
    chain: tuple[str, ...] = ()  # the profile names this one was built from, base first
    weakenings: tuple[Weakening, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.network not in NETWORK_MODES:
            raise InputError(f"profile {self.name}: network {self.network!r} is not one of {NETWORK_MODES}")
        if (self.seccomp is None) != (self.seccomp_name == "unconfined"):
            raise InputError(f"profile {self.name}: seccomp policy and its name disagree")

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape of `hardbox profile show --json` (documented in
        docs/writing-a-profile.md)."""
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "extends": list(self.chain[:-1]),
            "strict": self.strict,
            "user_namespace": self.user_namespace,
            "capabilities": list(self.capabilities),
            "no_new_privs": self.no_new_privs,
            "seccomp": self.seccomp_name,
            "selinux": {
                "mode": self.selinux.mode,
                "type": self.selinux.type,
                "level": self.selinux.level,
                "file_type": self.selinux.file_type,
            },
            "network": self.network,
            "read_only_root": self.read_only_root,
            "tmpfs_noexec": self.tmpfs_noexec,
            "masked_paths": list(self.masked_paths),
            "readonly_paths": list(self.readonly_paths),
            "limits": {
                "memory": self.limits.memory,
                "pids": self.limits.pids,
                "cpus": self.limits.cpus,
                "mode": self.limits.mode,
            },
            "rlimits": {r.type: {"soft": r.soft, "hard": r.hard} for r in self.rlimits},
            "volumes_readonly": self.volumes_readonly,
            "run_as_non_root": self.run_as_non_root,
            "weakenings": [w.to_dict() for w in self.weakenings],
        }

    def with_weakenings(self, weakenings: tuple[Weakening, ...], **changes: Any) -> Profile:
        return replace(self, weakenings=self.weakenings + weakenings, **changes)


def profiles_dir() -> Path:
    from hardbox.resources import policies

    # joinpath first: an installed namespace package is a MultiplexedPath, whose str() is
    # not a path; its child is a plain Path.
    return Path(str(policies() / "profiles"))


def seccomp_dir() -> Path:
    from hardbox.resources import policies

    return Path(str(policies() / "seccomp"))


def list_profiles() -> list[str]:
    """Names of the shipped profiles."""
    return sorted(p.stem for p in profiles_dir().glob("*.yaml"))


def locate(name_or_path: str, relative_to: Path | None = None) -> Path:
    """A shipped profile name, or a path to a YAML file (relative to the extending file)."""
    if _is_shipped_name(name_or_path):
        path = profiles_dir() / f"{name_or_path}.yaml"
        if not path.is_file():
            raise InputError(
                f"profile {name_or_path!r} not found in {profiles_dir()}",
                hint=f"shipped profiles: {', '.join(list_profiles())}; or pass a file path",
            )
        return path
    path = Path(name_or_path)
    if relative_to is not None and not path.is_absolute():
        path = relative_to / path
    if not path.is_file():
        raise InputError(f"profile file {path} does not exist or is not a file")
    return path


def load_profile(name_or_path: str, *, cache_dir: Path | None = None) -> Profile:
    """Load, merge (``extends``), validate and resolve a profile.

    A profile built before from the same bytes (every file of the chain, the schema, the
    seccomp JSON) comes from the on-disk cache (profile_cache) without YAML or jsonschema.
    ``cache_dir`` defaults to ``<store root>/cache/profiles``."""
    from hardbox.runtime import profile_cache

    if _is_shipped_name(name_or_path):
        # Keyed by name and install, so a hit does not even locate the shipped policies
        # folder (importlib.resources is a noticeable part of start-up).
        key = f"name:{name_or_path}\0{Path(__file__).resolve().parent.parent}"
        path = None
    else:
        path = locate(name_or_path).resolve()
        key = f"path:{path}"
    cached = profile_cache.lookup(key, cache_dir)
    if cached is not None:
        return cached
    profile, files = _load_uncached(path or locate(name_or_path).resolve())
    profile_cache.save(key, profile, files, cache_dir)
    return profile


def _is_shipped_name(name_or_path: str) -> bool:
    return bool(_NAME.match(name_or_path)) and not name_or_path.endswith((".yaml", ".yml"))


def _load_uncached(path: Path) -> tuple[Profile, list[Path]]:
    """The profile and every file it was built from (the cache's dependencies)."""
    chain = _read_chain(path)
    merged: dict[str, Any] = {}
    origin: dict[str, ProfileDocument] = {}
    for doc in chain:
        for key, value in doc.data.items():
            if key in ("extends", "name"):
                continue
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
            origin[key] = doc
    leaf = chain[-1]
    name = leaf.data.get("name") or leaf.path.stem
    profile = _build(name, merged, origin, leaf, tuple(d.path.stem for d in chain))
    _check_strict(profile, origin, leaf)
    files = [d.path for d in chain] + [profiles_dir() / "schema.json"]
    if profile.seccomp is not None:
        files.append(Path(profile.seccomp.source))
    return profile, files


def _read_chain(path: Path) -> list[ProfileDocument]:
    """The file and every profile it extends, base first; cycles refused."""
    from hardbox.runtime.profile_yaml import read_document

    seen: list[Path] = []
    docs: list[ProfileDocument] = []
    current: Path | None = path
    while current is not None:
        resolved = current.resolve()
        if resolved in seen:
            cycle = " -> ".join(str(p) for p in [*seen, resolved])
            raise InputError(f"profile {path}: extends forms a cycle: {cycle}")
        seen.append(resolved)
        doc = read_document(resolved)
        docs.append(doc)
        parent = doc.data.get("extends")
        current = locate(parent, resolved.parent) if parent else None
    return list(reversed(docs))


def _build(
    name: str,
    data: dict[str, Any],
    origin: dict[str, ProfileDocument],
    leaf: ProfileDocument,
    chain: tuple[str, ...],
) -> Profile:
    seccomp_name = data.get("seccomp", "default")
    seccomp: SeccompPolicy | None = None
    if seccomp_name != "unconfined":
        where = origin.get("seccomp", leaf)
        if _NAME.match(seccomp_name) and not seccomp_name.endswith(".json"):
            seccomp_path = seccomp_dir() / f"{seccomp_name}.json"
        else:
            seccomp_path = Path(seccomp_name)
            if not seccomp_path.is_absolute():
                seccomp_path = where.path.parent / seccomp_path
        if not seccomp_path.is_file():
            raise where.error(("seccomp",), f"seccomp profile {seccomp_path} does not exist")
        seccomp = SeccompPolicy.load(seccomp_path)
    _check_values(data, origin, leaf)
    sel = data.get("selinux", {})
    lim = data.get("limits", {})
    memory = lim.get("memory")
    return Profile(
        name=name,
        description=data.get("description", ""),
        source=str(leaf.path),
        strict=data.get("strict", False),
        user_namespace=data.get("user_namespace", True),
        capabilities=tuple(dict.fromkeys(_cap_name(c) for c in data.get("capabilities", []))),
        no_new_privs=data.get("no_new_privs", True),
        seccomp=seccomp,
        seccomp_name=seccomp_name,
        selinux=SelinuxSettings(
            mode=sel.get("mode", "if-available"),
            type=sel.get("type", "container_t"),
            level=sel.get("level", ""),
            file_type=sel.get("file_type", "container_file_t"),
        ),
        network=data.get("network", "none"),
        read_only_root=data.get("read_only_root", True),
        tmpfs_noexec=data.get("tmpfs_noexec", True),
        masked_paths=tuple(data.get("masked_paths", [])),
        readonly_paths=tuple(data.get("readonly_paths", [])),
        limits=Limits(
            memory=None if memory is None else parse_bytes(memory),
            pids=lim.get("pids"),
            cpus=None if lim.get("cpus") is None else float(lim["cpus"]),
            mode=lim.get("mode", "if-available"),
        ),
        rlimits=tuple(
            Rlimit(k, v["soft"], v["hard"]) for k, v in sorted(data.get("rlimits", {}).items())
        ),
        volumes_readonly=data.get("volumes_readonly", True),
        run_as_non_root=data.get("run_as_non_root", False),
        chain=chain,
    )


def _check_values(data: dict[str, Any], origin: dict[str, ProfileDocument], leaf: ProfileDocument) -> None:
    """What the schema cannot say: capability names the kernel knows, soft <= hard."""
    for i, cap in enumerate(data.get("capabilities", [])):
        if _cap_name(cap) not in ALL_CAPABILITIES:
            raise origin.get("capabilities", leaf).error(("capabilities", i), f"unknown capability {cap}")
    for name, value in data.get("rlimits", {}).items():
        if value["soft"] > value["hard"]:
            doc = origin.get("rlimits", leaf)
            raise doc.error(("rlimits", name), "soft limit is above the hard limit")


def _cap_name(name: str) -> str:
    return name if name.startswith("CAP_") else f"CAP_{name}"


def _check_strict(profile: Profile, origin: dict[str, ProfileDocument], leaf: ProfileDocument) -> None:
    """strict: the combinations DESIGN.md names as breaking isolation are refused."""
    if not profile.strict:
        return
    problems = [
        ("network", profile.network == "host", "host network is refused under strict"),
        ("capabilities", bool(profile.capabilities), "strict allows no capabilities"),
        ("seccomp", profile.seccomp is None, "unconfined seccomp is refused under strict"),
        ("user_namespace", not profile.user_namespace, "strict requires user_namespace: true"),
        ("no_new_privs", not profile.no_new_privs, "strict requires no_new_privs: true"),
    ]
    for key, bad, why in problems:
        if bad:
            raise origin.get(key, leaf).error((key,), why)


def profile_digest(profile: Profile) -> str:
    """A stable hash of a resolved profile (state files and caches key on it)."""
    import hashlib

    return hashlib.sha256(json.dumps(profile.to_dict(), sort_keys=True).encode()).hexdigest()
