"""The parsed-profile cache: a resolved Profile stored as JSON, keyed by content hash.

Loading a profile the slow way parses YAML (PyYAML) and validates every file of the
``extends`` chain with jsonschema — together most of `hardbox run`'s start-up (docs/architecture.md,
"Fast where it matters": parsed profiles are cached by content hash). A cache entry records the resolved profile
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
from collections.abc import Iterable
from pathlib import Path

from hardbox import __version__
from hardbox.errors import HardboxError
from hardbox.root import default_root
from hardbox.runtime.profile.model import Profile

# Bump when the entry's shape changes; older entries are then misses. The profile's own
# shape is derived from its dataclass (Profile.to_json), so a changed field is a miss anyway:
# the typed decoder refuses an entry with a missing or unknown field.
_FORMAT = 2


def default_cache_dir() -> Path:
    """``<store root>/cache/profiles`` (beside the seccomp cache)."""
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
    found = lookup_with_files(key, cache_dir)
    return found[0] if found is not None else None


def lookup_with_files(key: str, cache_dir: Path | None = None) -> tuple[Profile, tuple[str, ...]] | None:
    """As ``lookup``, with the files the profile was built from (the run plan cache's
    dependencies: runtime/plan_cache.py)."""
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
        return Profile.from_json(raw.get("profile")), tuple(deps)
    except (KeyError, TypeError, ValueError, AttributeError, HardboxError):
        # A damaged entry that still parsed as JSON (ValueError: a field missing, unknown or
        # of the wrong type; HardboxError: the model's own checks refused a value): treat as
        # absent, the caller validates and rewrites it.
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
         "profile": profile.to_json()},
        sort_keys=True,
    ).encode()
    # Lazy for start-up speed: only a miss writes an entry.
    from hardbox.atomicfile import atomic_write

    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with atomic_write(entry) as out:
            out.write(body)
    except OSError:
        # Read-only or foreign store root: the profile is valid, just not cached.
        return
