"""Writing images into the store: ``import_path``, ``write_image`` and ``tag``.

The first two open one ``Transaction`` (transaction.py) under the store's writers' lock: the
images of an archive or layout (read by the readers of ``image/formats``), or the
minimizer's layer tars and config, are staged, verified and published together, or not at
all. ``Store`` itself only reads and removes; callers that write call these functions, so
the store never imports its importer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from hardbox.errors import InvalidImage, InvalidReference, UsageError
from hardbox.image import reference
from hardbox.image.digest import sha256_file
from hardbox.image.formats import open_reader
from hardbox.image.formats.config import ImageConfig
from hardbox.image.formats.manifest import OCI_LAYER
from hardbox.image.formats.platform import Platform
from hardbox.image.formats.reader import LayerSource
from hardbox.image.store.images import ImageRecord, StoredImage
from hardbox.image.store.store import Store
from hardbox.image.store.transaction import Progress, Transaction, now, oci_manifest
from hardbox.image.transport import DIR_PREFIX, Transport, parse_transport


def full_name(text: str) -> str:
    """``bbtest`` -> ``docker.io/library/bbtest:latest``; a digest cannot be a tag."""
    ref = reference.parse(text)
    if ref.digest is not None:
        raise InvalidReference(f"cannot tag with a digest reference: {text!r}",
                               "give NAME[:TAG]")
    return str(ref)


def tag(store: Store, src: str, dst: str) -> StoredImage:
    """Point the full name ``dst`` at the image ``src`` names (moving it if it existed)."""
    name = full_name(dst)
    with store.writing():
        manifest = store.resolve(src)
        tags = store.tags()
        tags[name] = manifest
        store.write_tags(tags)
    return store.get(manifest)


def import_path(store: Store, path: Path | str | Transport, *, tag: str | None = None,
                platform: Platform | None = None, progress: Progress | None = None,
                ) -> list[StoredImage]:
    """Import the images of an archive or layout (``PATH:REF``, or a transport name, or
    one ``source.parse_source`` parsed already)."""
    transport = path if isinstance(path, Transport) else parse_transport(str(path))
    if transport is None:
        raise InvalidImage(f"{path}: no such file or directory")
    if transport.kind == DIR_PREFIX:
        raise UsageError(f"{path}: dir: is an unpacked root filesystem; it can be scanned, "
                         "not imported")
    tag_name = full_name(tag) if tag else None
    wanted = platform or Platform.host()
    with store.writing(), open_reader(transport.path) as reader:
        entries = reader.entries(transport.ref, wanted)
        if tag_name and len(entries) > 1:
            raise UsageError(f"{path} holds {len(entries)} images and --tag names one",
                             "pick one with PATH:REF")
        total = sum(src.size or 0 for entry in entries for src in entry.layers)
        with store.staging() as stage:
            txn = Transaction(store, stage, progress, total)
            staged = [
                (txn.stage_entry(entry), entry.names + ((tag_name,) if tag_name else ()))
                for entry in entries
            ]
            txn.commit(staged)
    return [store.get(record.manifest) for record, _ in staged]


def write_image(store: Store, config: dict[str, Any], layer_tars: list[Path],
                tags: list[str]) -> StoredImage:
    """Store an image built from uncompressed layer tars and a config (the minimizer's).
    ``rootfs.diff_ids`` is set from the tars; a compressed tar is refused (its diff_id
    would not be its digest)."""
    names = tuple(full_name(t) for t in tags)
    with store.writing(), store.staging() as stage:
        txn = Transaction(store, stage, None, None)
        layers = []
        for tar in layer_tars:
            # A plain tar's blob digest is its diff_id: knowing it first lets a layer the
            # store already has be skipped instead of unpacked again.
            digest = sha256_file(tar)
            src = LayerSource(source=str(tar), digest=digest, media_type=OCI_LAYER,
                              size=tar.stat().st_size, open=_opener(tar))
            layers.append(txn.stage_layer(src, digest))
        doc = dict(config)
        doc["rootfs"] = {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]}
        config_bytes = json.dumps(doc, separators=(",", ":")).encode()
        ImageConfig.from_json(config_bytes, "write_image config")  # refuse a malformed config
        config_digest = txn.stage_bytes(config_bytes)
        manifest_digest = txn.stage_bytes(
            oci_manifest(config_digest, len(config_bytes), tuple(layers)))
        record = ImageRecord(manifest_digest, config_digest, tuple(layers), now())
        txn.commit([(record, names)])
    return store.get(manifest_digest)


def _opener(path: Path) -> Callable[[], BinaryIO]:
    def open_file() -> BinaryIO:
        return open(path, "rb")

    return open_file
