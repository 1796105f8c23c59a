"""The run plan cache: a resolved profile spec and image input, reused while nothing changed.

Resolving what `hardbox run` will start means loading the profile (its model, the run
options folded in, the seccomp filter compiled) and reading the stored image (tags, image
record, manifest and config): most of the command's start-up, in imports alone. A repeated
run of the same image under the same profile and options needs none of it again, as runc's
libcontainer needs no ``specconv`` once a config exists.

An entry holds the ``ProfileSpec`` (spec.py) and the ``ImageInput`` (request.py) and is found
by its key: every command-line option that shapes them (``key_for``), hardbox's version and
install, the machine's architecture (the BPF is per architecture) and the store root. It
also records the stat identity (st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns) of every
file they were read from — the profile's YAML chain, the schema and seccomp JSON, the
store's tag index, image directory and record, the manifest and config blobs, the shifted
store's id map, the layer directories — or that a file was absent. A lookup stats those
files and returns the entry only if every identity still matches; a changed file, a new
hardbox or an entry that is not exactly what ``save`` writes is a miss (never an error), and
the caller resolves the slow way, validating everything, and rewrites the entry. Per-run
values (id, name, hostname, -e, -u, -w, -v, the command, ports) are never part of an entry.

Entries live in ``<store root>/cache/plans/<sha256 of the key>.json`` (0700 directory),
written atomically. They have the trust of the store itself, as the profile and seccomp
caches do: whoever can write them can already write the layers and the cached filters.
"""

from __future__ import annotations

import os
import time

from hardbox import __version__, jsontext
from hardbox.records import TYPE_CHECKING
from hardbox.root import root_dir
from hardbox.runtime.digest import sha256_hex
from hardbox.runtime.request import ImageInput
from hardbox.runtime.spec import ProfileSpec

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

# Bump when an entry's shape changes: older entries are then misses.
_FORMAT = 1
# How long before the reading began a file must have changed for its stat identity to be
# trusted: file times come from the kernel's coarse clock, one tick behind at most (<= 10 ms
# with HZ >= 100); twice that for margin.
_SETTLE_NS = 20_000_000


def key_for(profile: str, options: Iterable[object], image: str) -> str:
    """The key of a run's plan: ``options`` are every option that shapes the spec (the run
    options profile/options.py folds in). A profile file is keyed by its real path, so the
    same relative name elsewhere, or a symlink moved to another file, is another entry."""
    from hardbox.runtime.profile import is_shipped_name

    where = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the install: its policies
    located = "" if is_shipped_name(profile) else os.path.realpath(profile)
    return jsontext.dumps([_FORMAT, __version__, where, os.uname().machine, root_dir(),
                       profile, located, list(options), image], default=repr)


def lookup(key: str) -> tuple[ProfileSpec, ImageInput] | None:
    """The cached spec and image of ``key``, or None (no entry, a file changed, damaged)."""
    try:
        with open(_entry_path(key), "rb") as fh:
            raw = jsontext.loads(fh.read())
    except (OSError, ValueError):  # missing, unreadable or not JSON: a miss
        return None
    try:
        if type(raw) is not dict or raw.keys() != {"format", "key", "files", "profile", "image"}:
            return None
        if raw["format"] != _FORMAT or raw["key"] != key or type(raw["files"]) is not list:
            return None
        for path, identity in raw["files"]:
            if type(path) is not str or _identity(path) != identity:
                return None
        return ProfileSpec.from_json(raw["profile"]), _image_from_json(raw["image"])
    except (ValueError, TypeError, KeyError):  # a damaged entry that still parsed as JSON
        return None


def read_started() -> int:
    """The time to pass to ``save``: take it before reading anything the plan comes from."""
    return time.time_ns()


def save(key: str, spec: ProfileSpec, image: ImageInput, files: Iterable[str], *, read_since: int) -> None:
    """Record the plan of ``key`` as read from ``files`` since ``read_since`` (read_started).
    Best effort: an unwritable store root costs the next run the slow path, nothing else."""
    deps = {f: _identity(f) for f in files}
    # The identities are taken after the reading: a file changed since the reading began
    # (or just before it: the kernel's file times are coarse, and a change within the same
    # tick keeps them) could hold other bytes than those read. Such a plan is not cached,
    # as git treats "racily clean" index entries; the next run caches it.
    settled = read_since - _SETTLE_NS
    if any(i is not None and max(i[3:], default=0) > settled for i in deps.values()):
        return
    body = jsontext.dumps({
        "format": _FORMAT, "key": key, "files": [[f, i] for f, i in deps.items()], "profile": spec.to_json(), "image": _image_to_json(image),
    }).encode()
    # Lazy: only a miss writes an entry.
    from pathlib import Path

    from hardbox.atomicfile import atomic_write

    entry = _entry_path(key)
    try:
        os.makedirs(os.path.dirname(entry), mode=0o700, exist_ok=True)
        with atomic_write(Path(entry)) as out:
            out.write(body)
    except OSError:
        return  # a read-only or foreign store root: the run goes on uncached


def image_files(store_root: str, record: str, blobs: Iterable[str], layers: Iterable[str],
                shift_file: str) -> list[str]:
    """The files an image's ``ImageInput`` is read from, by their store paths: the tag index
    and the image directory (a retag or another image changes what a name resolves to), the
    image's record and blobs, the store's id map and the layer directories."""
    return [os.path.join(store_root, "tags.json"), os.path.join(store_root, "images"), record,
            *blobs, shift_file, *layers]


def _entry_path(key: str) -> str:
    return os.path.join(root_dir(), "cache", "plans", sha256_hex(key.encode()) + ".json")


def _identity(path: str) -> list[int] | None:
    """What identifies a file's version without reading it (None: absent). Any other error
    gives an identity that never matches one recorded, so the lookup misses."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return [-1]
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _image_to_json(image: ImageInput) -> dict[str, Any]:
    return {
        "ref": image.ref, "id": image.id, "layers": [str(p) for p in image.layers], "user": image.user,
        "env": list(image.env), "entrypoint": list(image.entrypoint), "cmd": list(image.cmd),
        "working_dir": image.working_dir, "exposed_ports": list(image.exposed_ports),
        "shift": image.shift.to_json() if image.shift is not None else None,
    }


def _image_from_json(raw: object) -> ImageInput:
    if type(raw) is not dict or raw.keys() != _IMAGE_FIELDS:
        raise ValueError("image: not an object of its fields")
    strs = {k: raw[k] for k in ("ref", "id", "user", "working_dir")}
    lists = {k: raw[k] for k in ("layers", "env", "entrypoint", "cmd", "exposed_ports")}
    if not all(type(v) is str for v in strs.values()) or not all(
            type(v) is list and all(type(x) is str for x in v) for v in lists.values()):
        raise ValueError("image: a field has the wrong type")
    shift = None
    if raw["shift"] is not None:
        from hardbox.errors import StoreError
        from hardbox.image.userns import ShiftMap  # a shifted (rootless) store only

        try:
            shift = ShiftMap.from_json(raw["shift"], "plan cache")
        except StoreError as err:
            raise ValueError(err.message) from None
    return ImageInput(
        ref=strs["ref"], id=strs["id"], layers=tuple(lists["layers"]), user=strs["user"],
        env=tuple(lists["env"]), entrypoint=tuple(lists["entrypoint"]), cmd=tuple(lists["cmd"]),
        working_dir=strs["working_dir"], shift=shift, exposed_ports=tuple(lists["exposed_ports"]),
    )


_IMAGE_FIELDS = {"ref", "id", "layers", "user", "env", "entrypoint", "cmd", "working_dir", "exposed_ports", "shift"}
