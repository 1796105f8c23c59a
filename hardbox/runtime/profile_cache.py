"""The parsed-profile cache: a resolved Profile stored as JSON, keyed by content hash.

Loading a profile the slow way parses YAML (PyYAML) and validates every file of the
``extends`` chain with jsonschema — together most of `hardbox run`'s start-up (DESIGN.md:
"parsed profiles are cached by content hash"). A cache entry records the resolved profile
and the SHA-256 of every file it was built from: each YAML file of the chain, the profile
schema and the seccomp JSON, plus the hardbox version. A lookup re-hashes those files (a few
KiB) and only if every hash still matches returns the stored profile — without importing
yaml or jsonschema. A changed file, a new hardbox, or an entry that does not parse is a miss,
and the caller validates again and rewrites the entry.

Entries live in ``<store root>/cache/profiles/<sha256 of the key>.json``, written
atomically (temp file + rename) so a concurrent reader sees the old entry or the new one.
The cache is only a shortcut: a store root that cannot be written leaves the profile loaded
and validated, just not cached. It has the trust of the store itself (0700, the caller's).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hardbox import __version__
from hardbox.errors import HardboxError
from hardbox.runtime.profile import Limits, Profile, Rlimit, SelinuxSettings
from hardbox.runtime.seccomp_model import SeccompPolicy

_FORMAT = 1  # bump when the entry's shape changes; older entries are then misses


def default_cache_dir() -> Path:
    """``<store root>/cache/profiles`` (beside the seccomp cache)."""
    from hardbox.root import default_root

    return default_root() / "cache" / "profiles"


def _entry_path(cache_dir: Path, key: str) -> Path:
    digest = hashlib.sha256(f"{key}\0{__version__}".encode()).hexdigest()
    return cache_dir / f"{digest}.json"


def _file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def lookup(key: str, cache_dir: Path | None = None) -> Profile | None:
    """The cached profile for ``key`` (a shipped name and the install it came from, or a
    resolved file path), or None when there is none, a file it depends on changed, or the
    entry is damaged."""
    entry = _entry_path(cache_dir or default_cache_dir(), key)
    try:
        raw = json.loads(entry.read_bytes())
    except (OSError, ValueError):  # missing, unreadable or not JSON: a miss
        return None
    if not isinstance(raw, dict) or raw.get("format") != _FORMAT or raw.get("version") != __version__:
        return None
    if raw.get("key") != key:
        return None
    deps = raw.get("files")
    if not isinstance(deps, dict) or not deps:
        return None
    for path, digest in deps.items():
        if _file_digest(Path(path)) != digest:
            return None
    try:
        return profile_from_json(raw["profile"])
    except (KeyError, TypeError, ValueError, AttributeError, HardboxError):
        # A damaged entry that still parsed as JSON (HardboxError: the model's own checks
        # refused it): treat as absent, the caller validates and rewrites it.
        return None


def save(key: str, profile: Profile, files: Iterable[Path], cache_dir: Path | None = None) -> None:
    """Record ``profile`` as built from ``files`` (hashed now). Best effort: an unwritable
    cache directory only costs the next run a validation."""
    deps: dict[str, str] = {}
    for path in files:
        digest = _file_digest(path)
        if digest is None:
            return  # a file vanished while we loaded it: do not cache a guess
        deps[str(path)] = digest
    entry = _entry_path(cache_dir or default_cache_dir(), key)
    body = json.dumps(
        {"format": _FORMAT, "version": __version__, "key": key, "files": deps,
         "profile": profile_to_json(profile)},
        sort_keys=True,
    ).encode()
    import tempfile  # a miss only: a hit never writes

    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(body)
            os.replace(tmp, entry)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        # Read-only or foreign store root: the profile is valid, just not cached.
        return


def profile_to_json(profile: Profile) -> dict[str, Any]:
    """Every field of a loaded profile (weakenings are per run and never cached)."""
    return {
        "name": profile.name,
        "description": profile.description,
        "source": profile.source,
        "strict": profile.strict,
        "user_namespace": profile.user_namespace,
        "capabilities": list(profile.capabilities),
        "no_new_privs": profile.no_new_privs,
        "seccomp": None if profile.seccomp is None else profile.seccomp.to_json(),
        "seccomp_source": "" if profile.seccomp is None else profile.seccomp.source,
        "seccomp_name": profile.seccomp_name,
        "selinux": [profile.selinux.mode, profile.selinux.type, profile.selinux.level,
                    profile.selinux.file_type],
        "network": profile.network,
        "read_only_root": profile.read_only_root,
        "tmpfs_noexec": profile.tmpfs_noexec,
        "masked_paths": list(profile.masked_paths),
        "readonly_paths": list(profile.readonly_paths),
        "limits": [profile.limits.memory, profile.limits.pids, profile.limits.cpus, profile.limits.mode],
        "rlimits": [[r.type, r.soft, r.hard] for r in profile.rlimits],
        "volumes_readonly": profile.volumes_readonly,
        "run_as_non_root": profile.run_as_non_root,
        "chain": list(profile.chain),
    }


def profile_from_json(raw: dict[str, Any]) -> Profile:
    seccomp = raw["seccomp"]
    memory, pids, cpus, limits_mode = raw["limits"]
    return Profile(
        name=str(raw["name"]),
        description=str(raw["description"]),
        source=str(raw["source"]),
        strict=bool(raw["strict"]),
        user_namespace=bool(raw["user_namespace"]),
        capabilities=tuple(raw["capabilities"]),
        no_new_privs=bool(raw["no_new_privs"]),
        seccomp=None if seccomp is None else SeccompPolicy.from_json(seccomp, raw["seccomp_source"]),
        seccomp_name=str(raw["seccomp_name"]),
        selinux=SelinuxSettings(*raw["selinux"]),
        network=str(raw["network"]),
        read_only_root=bool(raw["read_only_root"]),
        tmpfs_noexec=bool(raw["tmpfs_noexec"]),
        masked_paths=tuple(raw["masked_paths"]),
        readonly_paths=tuple(raw["readonly_paths"]),
        limits=Limits(memory=memory, pids=pids, cpus=cpus, mode=limits_mode),
        rlimits=tuple(Rlimit(t, s, h) for t, s, h in raw["rlimits"]),
        volumes_readonly=bool(raw["volumes_readonly"]),
        run_as_non_root=bool(raw["run_as_non_root"]),
        chain=tuple(raw["chain"]),
    )
