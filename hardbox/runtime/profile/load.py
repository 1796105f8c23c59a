"""Loading hardening profiles: YAML files, ``extends`` chains and the parsed-profile cache.

A profile is YAML under ``policies/profiles/<name>.yaml`` (or any file the user names). It may
``extends:`` another profile; mappings (``selinux``, ``limits``, ``rlimits``, ``network`` and its
``egress``) merge key by key, everything else is replaced (``network: private`` is shorthand
for ``network: {mode: private}``). Each file is validated against ``policies/profiles/schema.json``
and a bad one is a single ``InputError`` naming the file, the line and the field (found from
the YAML node marks). A profile with ``strict: true`` refuses combinations that break
isolation (options.py refuses run options that would weaken it).

The model itself is model.py (``Profile`` is re-exported here for callers that load
one and use it). Fields a profile leaves out take the model's defaults, the secure values,
so the smallest valid profile is the most locked-down one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardbox.errors import InputError
from hardbox.runtime.capabilities import CAPABILITIES
from hardbox.runtime.profile import NAME, is_shipped_name
from hardbox.runtime.profile import cache as profile_cache
from hardbox.runtime.profile.model import (
    CapabilityGrant,
    Egress,
    EgressRule,
    Limits,
    Profile,
    Rlimit,
    SelinuxSettings,
    field_default,
    parse_bytes,
)
from hardbox.runtime.profile.seccomp_model import SeccompPolicy

if TYPE_CHECKING:
    # yaml_source imports PyYAML: for start-up speed it is loaded only on a cache miss
    # (_read_chain), so only the type is named here.
    from hardbox.runtime.profile.yaml_source import ProfileDocument

_is_shipped_name = is_shipped_name  # runtime/record.py imports it by this name

__all__ = ["Profile", "list_profiles", "load_profile", "load_profile_and_files", "locate"]



def profiles_dir() -> Path:
    # Lazy for start-up speed: a cache hit for a shipped name never locates the policies
    # folder (hardbox.resources pulls in importlib.util).
    from hardbox.resources import policies

    # joinpath first: an installed namespace package is a MultiplexedPath, whose str() is
    # not a path; its child is a plain Path.
    return Path(str(policies() / "profiles"))


def seccomp_dir() -> Path:
    from hardbox.resources import policies  # lazy for start-up speed, as in profiles_dir

    return Path(str(policies() / "seccomp"))


def list_profiles() -> list[str]:
    """Names of the shipped profiles."""
    return sorted(p.stem for p in profiles_dir().glob("*.yaml"))


def locate(name_or_path: str, relative_to: Path | None = None) -> Path:
    """A shipped profile name, or a path to a YAML file (relative to the extending file)."""
    if is_shipped_name(name_or_path):
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
    seccomp JSON) comes from the on-disk cache (cache.py) without YAML or jsonschema.
    ``cache_dir`` defaults to ``<store root>/cache/profiles``."""
    return load_profile_and_files(name_or_path, cache_dir=cache_dir)[0]


def load_profile_and_files(name_or_path: str, *, cache_dir: Path | None = None) -> tuple[Profile, tuple[str, ...]]:
    """``load_profile``, and the files the profile was built from (the run plan cache
    watches them: runtime/plan_cache.py)."""
    if is_shipped_name(name_or_path):
        # Keyed by name and install, so a hit does not even locate the shipped policies
        # folder (importlib.resources is a noticeable part of start-up).
        key = f"name:{name_or_path}\0{Path(__file__).resolve().parent.parent}"
        path = None
    else:
        path = locate(name_or_path).resolve()
        key = f"path:{path}"
    cached = profile_cache.lookup_with_files(key, cache_dir)
    if cached is not None:
        return cached
    profile, files = _load_uncached(path or locate(name_or_path).resolve())
    profile_cache.save(key, profile, files, cache_dir)
    return profile, tuple(str(f) for f in files)




def _load_uncached(path: Path) -> tuple[Profile, list[Path]]:
    """The profile and every file it was built from (the cache's dependencies)."""
    chain = _read_chain(path)
    merged: dict[str, Any] = {}
    origin: dict[str, ProfileDocument] = {}
    for doc in chain:
        _check_egress(doc)
        for key, value in doc.data.items():
            if key in ("extends", "name"):
                continue
            if key == "network":
                merged[key] = _merge_network(merged.get(key), value)
            elif isinstance(value, dict) and isinstance(merged.get(key), dict):
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
    # Lazy for start-up speed: PyYAML and jsonschema load only on a cache miss.
    from hardbox.runtime.profile.yaml_source import read_document

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
    """The Profile of a merged, schema-valid mapping. Only the fields the files set are
    passed: the rest take the model's defaults (model.py is their one definition)."""
    seccomp_name = data.get("seccomp", field_default("seccomp_name"))
    seccomp = _seccomp(seccomp_name, origin.get("seccomp", leaf))
    _check_values(data, origin, leaf)
    values = {key: _FROM_FILE.get(key, _as_is)(value) for key, value in data.items()
              if key not in ("seccomp", "network") and key not in DEPRECATED}
    if "network" in data:  # one file field, two model fields: network (the mode) and egress
        values.update(_network(data["network"]))
    return Profile(
        name=name, source=str(leaf.path), chain=chain, seccomp_name=seccomp_name, seccomp=seccomp, **values
    )


def _seccomp(seccomp_name: str, where: ProfileDocument) -> SeccompPolicy | None:
    """The policy a profile's ``seccomp:`` names (a shipped name or a path relative to the
    file that says it); None for ``unconfined``."""
    if seccomp_name == "unconfined":
        return None
    if NAME.match(seccomp_name) and not seccomp_name.endswith(".json"):
        seccomp_path = seccomp_dir() / f"{seccomp_name}.json"
    else:
        seccomp_path = Path(seccomp_name)
        if not seccomp_path.is_absolute():
            seccomp_path = where.path.parent / seccomp_path
    if not seccomp_path.is_file():
        raise where.error(("seccomp",), f"seccomp profile {seccomp_path} does not exist")
    return SeccompPolicy.load(seccomp_path)


def _as_is(value: Any) -> Any:
    return value


def _limits(raw: dict[str, Any]) -> Limits:
    values = dict(raw)
    if values.get("memory") is not None:
        values["memory"] = parse_bytes(values["memory"])
    if values.get("cpus") is not None:
        values["cpus"] = float(values["cpus"])
    return Limits(**values)


def _merge_network(parent: Any, child: Any) -> dict[str, Any]:
    """``network`` across ``extends``: the string form is shorthand for ``{mode: ...}``;
    ``mode`` and each key of ``egress`` are taken from the child where it sets them."""
    old: dict[str, Any] = {"mode": parent} if isinstance(parent, str) else dict(parent or {})
    new: dict[str, Any] = {"mode": child} if isinstance(child, str) else dict(child)
    if isinstance(old.get("egress"), dict) and isinstance(new.get("egress"), dict):
        new["egress"] = {**old["egress"], **new["egress"]}
    return {**old, **new}


def _network(raw: dict[str, Any]) -> dict[str, Any]:
    """The model's ``network`` and ``egress`` from a merged, schema-valid ``network``."""
    values: dict[str, Any] = {}
    if "mode" in raw:
        values["network"] = raw["mode"]
    if "egress" in raw:
        egress = dict(raw["egress"])
        egress["allow"] = tuple(_egress_rule(r) for r in egress.get("allow", ()))
        values["egress"] = Egress(**egress)
    return values


def _egress_rule(raw: dict[str, Any]) -> EgressRule:
    return EgressRule(raw["cidr"], tuple(raw.get("ports", ())), raw.get("proto", "any"))


def _check_egress(doc: ProfileDocument) -> None:
    """What the schema cannot say about one file's ``network.egress.allow``: that each cidr
    parses (IPv4 or IPv6) and names a network, checked per file so the error names the file
    and line that wrote it, and the value."""
    network = doc.data.get("network")
    rules = network.get("egress", {}).get("allow", []) if isinstance(network, dict) else []
    for i, rule in enumerate(rules):
        try:
            _egress_rule(rule)
        except InputError as err:
            raise doc.error(("network", "egress", "allow", i, "cidr"), err.message) from None


# Keys a file may still carry that mean nothing any more (schema.json marks them deprecated).
# run_as_non_root claimed the runtime refused uid 0; it never did (issue 16): the image's root
# user runs as container root inside the user namespace (user_namespace).
DEPRECATED = frozenset({"run_as_non_root"})


def _grants(raw: list[dict[str, str]]) -> tuple[CapabilityGrant, ...]:
    return tuple({_cap_name(g["name"]): CapabilityGrant(_cap_name(g["name"]), g["reason"]) for g in raw}.values())


# How a file's value becomes the model's, for the fields whose file shape differs from the
# model's (the schema has already checked types and key names); the rest are taken as is.
_FROM_FILE: dict[str, Callable[[Any], Any]] = {
    "capabilities": lambda caps: tuple(dict.fromkeys(_cap_name(c) for c in caps)),
    "capabilities_inheritable": _grants,
    "capabilities_ambient": _grants,
    "selinux": lambda sel: SelinuxSettings(**sel),
    "masked_paths": tuple,
    "readonly_paths": tuple,
    "limits": _limits,
    "rlimits": lambda rl: tuple(Rlimit(k, v["soft"], v["hard"]) for k, v in sorted(rl.items())),
}


def _check_values(data: dict[str, Any], origin: dict[str, ProfileDocument], leaf: ProfileDocument) -> None:
    """What the schema cannot say: capability names the kernel knows, soft <= hard."""
    for i, cap in enumerate(data.get("capabilities", [])):
        if _cap_name(cap) not in CAPABILITIES:
            raise origin.get("capabilities", leaf).error(("capabilities", i), f"unknown capability {cap}")
    listed = {_cap_name(c) for c in data.get("capabilities", [])}
    for key in ("capabilities_inheritable", "capabilities_ambient"):
        for i, grant in enumerate(data.get(key, [])):
            name = _cap_name(grant["name"])
            if name not in CAPABILITIES:
                raise origin.get(key, leaf).error((key, i, "name"), f"unknown capability {grant['name']}")
            if name not in listed:
                # The kernel keeps inheritable and ambient within the bounding/permitted sets.
                raise origin.get(key, leaf).error((key, i, "name"), f"{name} is not in capabilities")
    for name, value in data.get("rlimits", {}).items():
        if value["soft"] > value["hard"]:
            doc = origin.get("rlimits", leaf)
            raise doc.error(("rlimits", name), "soft limit is above the hard limit")


def _cap_name(name: str) -> str:
    return name if name.startswith("CAP_") else f"CAP_{name}"


def _check_strict(profile: Profile, origin: dict[str, ProfileDocument], leaf: ProfileDocument) -> None:
    """strict: the combinations docs/architecture.md names as breaking isolation are refused."""
    if not profile.strict:
        return
    problems = [
        ("network", profile.network == "host", "host network is refused under strict"),
        ("capabilities", bool(profile.capabilities), "strict allows no capabilities"),
        ("capabilities_inheritable", bool(profile.capabilities_inheritable), "strict allows no capabilities"),
        ("capabilities_ambient", bool(profile.capabilities_ambient), "strict allows no capabilities"),
        ("seccomp", profile.seccomp is None, "unconfined seccomp is refused under strict"),
        ("user_namespace", not profile.user_namespace, "strict requires user_namespace: true"),
        ("no_new_privs", not profile.no_new_privs, "strict requires no_new_privs: true"),
    ]
    for key, bad, why in problems:
        if bad:
            raise origin.get(key, leaf).error((key,), why)
