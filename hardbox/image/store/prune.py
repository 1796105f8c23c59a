"""Removing images: ``rm`` (untag, and drop the image when no tag is left) and ``prune``
(drop untagged images, then every blob and unpacked layer no image references).

Deleting mirrors importing: a layer directory is first renamed into ``tmp/`` and only then
removed, so a killed ``prune`` never leaves half a layer under ``layers/``; the renamed
remains are stale staging, cleaned at the next open.

Live containers pin what they use. The runtime's state files (``<root>/containers/<id>/
state.json``, docs/architecture.md) are read here as data — the store never imports the
runtime — and a container that is starting or running keeps its image record and the layer
directories its overlay stands on: ``prune`` skips them and ``rm`` refuses, as Docker's
"image is being used by running container" does, unless forced (then the record goes but the
layers stay until the container is gone and a later prune collects them).

``prune`` also removes *stale* container records: recorded ``created`` or ``running`` while
nothing of them runs (a killed ``hardbox run``, or the probe of a killed ``hardbox
minimize``), with the empty cgroup directories they recorded. It takes the runtime's state
lock (``containers/.lock``) and leaves alone a record whose cgroup still holds a process or
whose directory still has a mount: ``hardbox rm`` (which kills and detaches) is for those.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from hardbox.errors import InvalidReference, UsageError
from hardbox.image import reference
from hardbox.image.store.locking import locked
from hardbox.image.store.store import Store, remove_tree

_HEX = re.compile(r"^[a-f0-9]{64}$")


@dataclass
class Removed:
    """What ``rm`` or ``prune`` removed."""

    tags: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)  # manifest digests
    blobs: int = 0
    layers: int = 0
    bytes: int = 0
    containers: list[str] = field(default_factory=list)  # stale container records removed
    partials: int = 0  # interrupted layer downloads (partial-blobs/) removed
    partial_bytes: int = 0


@dataclass(frozen=True)
class InUse:
    """A live container and what of the store it stands on."""

    container: str  # its id
    name: str
    image_id: str  # config digest, as ImageRecord.config
    layers: frozenset[str]  # layer keys (the hex of each diff_id), from its state file


def remove(store: Store, ref: str, *, force: bool = False) -> Removed:
    """``image rm REF``: a tag is untagged (its image goes when no tag is left); an id or
    digest removes the image with all its tags. Unreferenced content is then deleted.
    An image a live container uses is refused (``UsageError``) unless ``force``."""
    removed = Removed()
    with store.writing():
        tags = store.tags()
        records = store.records()
        in_use = containers_in_use(store)
        name = _tag_name(ref)
        if name is not None and name in tags:
            manifests = {tags.pop(name)}
            removed.tags.append(name)
            manifests = {m for m in manifests if m not in tags.values()}
        else:
            target = store.resolve(ref, records)
            # An id names every manifest of that config (a docker archive and an OCI layout
            # of one image are two manifests with one id).
            config = records[target].config
            manifests = {m for m, r in records.items() if r.config == config} if _is_id(ref, config) else {target}
            for tag_name in [t for t, m in tags.items() if m in manifests]:
                del tags[tag_name]
                removed.tags.append(tag_name)
        if not force:
            _refuse_in_use(ref, {records[m].config for m in manifests if m in records}, in_use)
        store.write_tags(tags)
        for manifest in sorted(manifests):
            store.record_path(manifest).unlink(missing_ok=True)
            removed.images.append(manifest)
        _collect(store, removed, in_use)
    return removed


def prune(store: Store) -> Removed:
    """``image prune``: untagged images, then unreferenced blobs and unpacked layers, and the
    layer downloads interrupted pulls left. What a live container uses is kept."""
    removed = Removed()
    with store.writing():
        removed.containers = remove_stale_containers(store)
        _remove_partials(store, removed)
        in_use = containers_in_use(store)
        used = {u.image_id for u in in_use}
        tagged = set(store.tags().values())
        for manifest, record in store.records().items():
            if manifest not in tagged and record.config not in used:
                store.record_path(manifest).unlink(missing_ok=True)
                removed.images.append(manifest)
        _collect(store, removed, in_use)
    return removed


def _remove_partials(store: Store, removed: Removed) -> None:
    """Every interrupted download in ``partial-blobs/``. A pull holds ``writing()`` for as
    long as it downloads, as prune does, so none of these is being written."""
    if not store.partials.is_dir():
        return
    for path in store.partials.iterdir():
        if path.is_file() and not path.is_symlink():
            removed.partial_bytes += path.stat().st_size
            removed.partials += 1
        remove_tree(path)


def _refuse_in_use(ref: str, configs: set[str], in_use: list[InUse]) -> None:
    for user in in_use:
        if user.image_id in configs:
            who = user.container[:12] + (f" ({user.name})" if user.name else "")
            raise UsageError(
                f"image rm {ref}: image is being used by running container {who}",
                hint=f"stop and remove it first (`hardbox rm -f {user.container[:12]}`), or force",
            )


def containers_in_use(store: Store) -> list[InUse]:
    """Every container that is starting or running, from the runtime's state files.

    A state file that cannot be read is skipped: the runtime lists it as damaged and
    `hardbox rm` cleans it. A container counts while its PID 1 is the process the state
    names (pid and start time) or, before PID 1 exists, while its hardbox monitor lives."""
    root = store.root / "containers"
    if not root.is_dir():
        return []
    out = []
    for state_file in sorted(root.glob("*/state.json")):
        try:
            raw = json.loads(state_file.read_bytes())
            if not isinstance(raw, dict) or raw.get("status") not in ("created", "running"):
                continue
            live = raw.get("pid", 0) > 0 and _start_time(raw["pid"]) == raw.get("pid_start")
            if not live and raw.get("status") == "created":
                live = raw.get("monitor_pid", 0) > 0 and _start_time(raw["monitor_pid"]) is not None
            if not live:
                continue  # stale: nothing of it runs
            layers = frozenset(
                Path(p).name for p in raw.get("layers", []) if Path(p).parent == store.layers
            )
            out.append(InUse(state_file.parent.name, str(raw.get("name", "")),
                             str(raw.get("image_id", "")), layers))
        except (OSError, ValueError, TypeError, KeyError):
            continue
    return out


def remove_stale_containers(store: Store) -> list[str]:
    """Remove stale container records and their empty cgroups (see the module docstring);
    the ids removed."""
    root = store.root / "containers"
    if not root.is_dir():
        return []
    removed = []
    with locked(root / ".lock"):  # runtime/state.py's lock: no start is half-way meanwhile
        mounts = _mount_points()
        for state_file in sorted(root.glob("*/state.json")):
            try:
                raw = json.loads(state_file.read_bytes())
                if not isinstance(raw, dict) or raw.get("status") not in ("created", "running"):
                    continue  # exited records stay until `hardbox rm`, as in Docker
                if _live(raw):
                    continue
                directory = state_file.parent
                cgroups = [Path(p) for p in str(raw.get("cgroup", "")).split(",") if p]
                if not all(_own_cgroup(p, directory.name) for p in cgroups):
                    continue  # not a path hardbox makes: not ours to remove
                if any(m == str(directory) or m.startswith(f"{directory}/") for m in mounts):
                    continue
                for path in sorted(cgroups, key=lambda p: len(p.parts), reverse=True):
                    if path.is_dir():
                        path.rmdir()  # EBUSY while a process is left: the record stays
                remove_tree(directory)
                removed.append(directory.name)
            except (OSError, ValueError, TypeError, KeyError):
                continue
    return removed


def _live(raw: dict[str, object]) -> bool:
    """The container's PID 1 is the process its state names, or its monitor still lives."""
    pid, monitor = raw.get("pid", 0), raw.get("monitor_pid", 0)
    if isinstance(pid, int) and pid > 0 and _start_time(pid) == raw.get("pid_start"):
        return True
    return isinstance(monitor, int) and monitor > 0 and _start_time(monitor) is not None


def _own_cgroup(path: Path, container_id: str) -> bool:
    """A cgroup directory the runtime made for this container (``hardbox-<id[:12]>``)."""
    return (path.is_absolute() and path.parts[:4] == ("/", "sys", "fs", "cgroup")
            and ".." not in path.parts and path.name == f"hardbox-{container_id[:12]}")


def _mount_points() -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
        return [line.split()[4] for line in fh]


def _start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks), None if no such process: a pid
    with another start time was reused by an unrelated process (proc(5))."""
    try:
        with open(f"/proc/{int(pid)}/stat", encoding="ascii", errors="replace") as fh:
            data = fh.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parens; fields resume after the last ")".
    return int(data[data.rindex(")") + 2 :].split()[19])


def _tag_name(ref: str) -> str | None:
    try:
        parsed = reference.parse(ref)
    except InvalidReference:
        return None
    return str(parsed) if parsed.digest is None else None


def _is_id(ref: str, config: str) -> bool:
    text = ref.strip().removeprefix("sha256:")
    return config.removeprefix("sha256:").startswith(text)


def _collect(store: Store, removed: Removed, in_use: list[InUse]) -> None:
    """Delete every blob and layer no image record or live container references. Caller
    holds ``writing()``."""
    blobs: set[str] = set()
    layers: set[str] = set().union(*(u.layers for u in in_use))
    records = store.records()
    for user in in_use:  # a state written before states listed their layers
        layers.update(
            layer.diff_id.split(":", 1)[1]
            for r in records.values() if r.config == user.image_id for layer in r.layers
        )
    for record in records.values():
        blobs.update(h.split(":", 1)[1] for h in (record.manifest, record.config))
        for layer in record.layers:
            blobs.add(layer.digest.split(":", 1)[1])
            layers.add(layer.diff_id.split(":", 1)[1])
    for path in store.blobs.iterdir():
        if _HEX.match(path.name) and path.name not in blobs:
            removed.bytes += path.stat().st_size
            path.unlink()
            removed.blobs += 1
    with store.staging() as trash:
        keys = {p.name.removesuffix(".json") for p in store.layers.iterdir()}
        for key in sorted(keys - layers):
            if not _HEX.match(key):
                continue
            directory = store.layers / key
            if directory.is_dir():
                # Out of layers/ first (atomic), then the record, then deleted at leisure.
                os.rename(directory, trash / key)
                removed.layers += 1
            (store.layers / f"{key}.json").unlink(missing_ok=True)
        for path in trash.iterdir():
            remove_tree(path)
