"""Removing images: ``rm`` (untag, and drop the image when no tag is left) and ``prune``
(drop untagged images, then every blob and unpacked layer no image references).

Deleting mirrors importing: a layer directory is first renamed into ``tmp/`` and only then
removed, so a killed ``prune`` never leaves half a layer under ``layers/``; the renamed
remains are stale staging, cleaned at the next open.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from hardbox.errors import InvalidReference
from hardbox.image import reference
from hardbox.image.store import Store, remove_tree

_HEX = re.compile(r"^[a-f0-9]{64}$")


@dataclass
class Removed:
    """What ``rm`` or ``prune`` removed."""

    tags: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)  # manifest digests
    blobs: int = 0
    layers: int = 0
    bytes: int = 0


def remove(store: Store, ref: str) -> Removed:
    """``image rm REF``: a tag is untagged (its image goes when no tag is left); an id or
    digest removes the image with all its tags. Unreferenced content is then deleted."""
    removed = Removed()
    with store.writing():
        tags = store.tags()
        records = store.records()
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
        store.write_tags(tags)
        for manifest in sorted(manifests):
            store.record_path(manifest).unlink(missing_ok=True)
            removed.images.append(manifest)
        _collect(store, removed)
    return removed


def prune(store: Store) -> Removed:
    """``image prune``: untagged images, then unreferenced blobs and unpacked layers."""
    removed = Removed()
    with store.writing():
        tagged = set(store.tags().values())
        for manifest in store.records():
            if manifest not in tagged:
                store.record_path(manifest).unlink(missing_ok=True)
                removed.images.append(manifest)
        _collect(store, removed)
    return removed


def _tag_name(ref: str) -> str | None:
    try:
        parsed = reference.parse(ref)
    except InvalidReference:
        return None
    return str(parsed) if parsed.digest is None else None


def _is_id(ref: str, config: str) -> bool:
    text = ref.strip().removeprefix("sha256:")
    return config.removeprefix("sha256:").startswith(text)


def _collect(store: Store, removed: Removed) -> None:
    """Delete every blob and layer no image record references. Caller holds ``writing()``."""
    blobs: set[str] = set()
    layers: set[str] = set()
    for record in store.records().values():
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
