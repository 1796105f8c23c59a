"""One import transaction: stage everything, verify everything, then rename into the store.

Blobs and unpacked layers are written into a private ``tmp/`` staging directory; each layer
blob is read once, through a reader that hashes it and copies it to the staged blob file
while ``apply_layer`` unpacks it. Only when every digest, diff_id and document checked out
are the staged files renamed into ``blobs/`` and ``layers/``, then the image records and
tags written. A refused image leaves no blob, no layer and no tag; a killed import leaves a
stale staging directory, which ``Store.clean_stale`` removes.

Content already in the store is neither read nor written again: a layer whose blob and
unpacked directory exist is skipped by digest, which is what makes re-imports cheap and
shared base layers free.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from hardbox.errors import InvalidImage, is_write_failure, naming_os_errors, write_failed
from hardbox.image.digest import CHUNK, HashingReader, hex_of, sha256_bytes
from hardbox.image.formats.manifest import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST
from hardbox.image.formats.reader import Entry, LayerSource
from hardbox.image.layers.compression import Compression, CorruptStream, detect, open_decompressed
from hardbox.image.layers.unpack import LayerResult, apply_layer
from hardbox.image.store.images import ImageRecord, LayerRecord
from hardbox.image.store.shifted import map_for_unpacking
from hardbox.image.store.store import Store, fsync_dir, remove_tree
from hardbox.image.userns import ShiftMap, run_in_userns

# (bytes done, bytes in total if known, note)
Progress = Callable[[int, int | None, str], None]

_MEDIA_TYPE = {
    Compression.NONE: OCI_LAYER,
    Compression.GZIP: OCI_LAYER + "+gzip",
    Compression.ZSTD: OCI_LAYER + "+zstd",
}
# Exceptions from reading the *outer* archive or layout (a truncated tar, an I/O error).
_READ_ERRORS = (tarfile.TarError, EOFError, OSError)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Transaction:
    """The staging area of one import: what it wrote, and the commit that publishes it."""

    def __init__(self, store: Store, stage: Path, progress: Progress | None, total: int | None):
        self.store = store
        self.stage = stage
        self.blobs: dict[str, Path] = {}
        self.layers: dict[str, Path] = {}
        self._progress = progress
        self._done = 0
        self._total = total
        self._serial = 0
        (stage / "blobs").mkdir()
        (stage / "layers").mkdir()

    # -- what exists --------------------------------------------------------------------

    def has_blob(self, digest: str) -> bool:
        return digest in self.blobs or self.store.has_blob(digest)

    def has_layer(self, diff_id: str) -> bool:
        return diff_id in self.layers or self.store.has_layer(diff_id)

    def layer_size(self, diff_id: str) -> int:
        meta = (self.layers[diff_id].with_suffix(".json") if diff_id in self.layers
                else self.store.layer_meta_path(diff_id))
        return int(json.loads(meta.read_bytes())["size"])

    def blob_size(self, digest: str) -> int:
        path = self.blobs.get(digest) or self.store.blob_path(digest)
        return path.stat().st_size

    def _tmp(self, kind: str) -> Path:
        self._serial += 1
        return self.stage / kind / f"tmp-{self._serial}"

    def _advance(self, n: int) -> None:
        self._done += n
        if self._progress is not None:
            self._progress(self._done, self._total, "")

    # -- staging ------------------------------------------------------------------------

    def stage_bytes(self, data: bytes) -> str:
        """Stage a small blob (manifest, config) unless stored; returns its digest."""
        digest = sha256_bytes(data)
        if not self.has_blob(digest):
            tmp = self._tmp("blobs")
            with naming_os_errors("write", tmp), open(tmp, "xb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            self._keep_blob(tmp, digest, len(data))
        return digest

    def _keep_blob(self, tmp: Path, digest: str, size: int) -> None:
        final = self.stage / "blobs" / hex_of(digest)
        os.rename(tmp, final)
        self.blobs[digest] = final
        self.store.stats.blobs_written += 1
        self.store.stats.blob_bytes += size

    def stage_layer(self, src: LayerSource, diff_id: str | None) -> LayerRecord:
        """Make the layer's blob and unpacked directory exist, reading ``src`` only if needed."""
        stored = src.digest
        if stored is None and diff_id is not None and self.has_layer(diff_id):
            # Docker archives name no blob digest; a plain-tar layer's digest is its diff_id.
            with src.open() as head:
                if _compression(head) is Compression.NONE:
                    stored = diff_id
        if diff_id is None or stored is None or not self.has_blob(stored):
            return self._stream(src, diff_id)
        blob_size = self.blob_size(stored)
        if src.size is not None and blob_size != src.size:
            if src.digest is None:
                return self._stream(src, diff_id)
            raise InvalidImage(f"{src.source}: {src.size} bytes, but blob {stored} has {blob_size}")
        if not self.has_layer(diff_id):
            # The blob is stored and was verified on write; unpack it from there.
            with open(self.blobs.get(stored) or self.store.blob_path(stored), "rb") as fh:
                self._unpack(fh, diff_id, src.source)
        media_type = src.media_type or OCI_LAYER
        return LayerRecord(stored, diff_id, media_type, self.layer_size(diff_id), blob_size)

    def _stream(self, src: LayerSource, diff_id: str | None) -> LayerRecord:
        """Read the layer blob once: hash it, copy it to a staged file, unpack it."""
        tmp = self._tmp("blobs")
        with open(tmp, "xb") as sink:
            try:
                raw = src.open()
            except _READ_ERRORS as err:
                raise InvalidImage(f"{src.source}: cannot read ({err})") from None
            with raw:
                reader = HashingReader(raw, sink, on_read=self._advance)
                try:
                    if diff_id is not None and self.has_layer(diff_id):
                        compression = _verify_diff_id(reader, diff_id, src.source)
                    else:
                        result = self._unpack(reader, diff_id, src.source)
                        diff_id, compression = result.diff_id, result.compression
                    reader.drain()
                except InvalidImage:
                    # A wrong blob digest explains damage better than the symptom it caused.
                    _raise_if_digest_wrong(reader, src)
                    raise
                except _READ_ERRORS as err:
                    if is_write_failure(err):
                        raise write_failed("stage layer in", self.stage, cast(OSError, err)) from err
                    raise InvalidImage(f"{src.source}: cannot read ({err})") from None
            with naming_os_errors("write", tmp):
                sink.flush()
                os.fsync(sink.fileno())
        digest = reader.digest
        if src.digest is not None and digest != src.digest:
            raise InvalidImage(f"{src.source}: digest mismatch: the manifest says {src.digest}, "
                               f"the content is {digest}")
        if src.size is not None and reader.count != src.size:
            raise InvalidImage(f"{src.source}: size mismatch: expected {src.size} bytes, "
                               f"read {reader.count}")
        if self.has_blob(digest):
            tmp.unlink()
        else:
            self._keep_blob(tmp, digest, reader.count)
        media_type = src.media_type or _MEDIA_TYPE[compression]
        return LayerRecord(digest, diff_id, media_type, self.layer_size(diff_id), reader.count)

    def _unpack(self, stream: BinaryIO | HashingReader, diff_id: str | None, source: str) -> LayerResult:
        dest = self._tmp("layers")
        dest.mkdir(mode=0o700)
        try:
            shift = map_for_unpacking(self.store)
            if shift is None:
                result = apply_layer(cast(BinaryIO, stream), dest, expected_diff_id=diff_id, source=source)
            else:
                result = _apply_shifted(shift, cast(BinaryIO, stream), dest, diff_id, source)
        except OSError as err:
            remove_tree(dest)
            if is_write_failure(err):
                raise write_failed("unpack layer into", dest, err) from err
            raise
        except BaseException:
            remove_tree(dest)
            raise
        if self.has_layer(result.diff_id):
            remove_tree(dest)  # a write_image tar whose diff_id we already had
            return result
        final = self.stage / "layers" / hex_of(result.diff_id)
        os.rename(dest, final)
        with naming_os_errors("write", final.with_suffix(".json")):
            final.with_suffix(".json").write_text(json.dumps(result.to_json(), indent=1))
        self.layers[result.diff_id] = final
        self.store.stats.layers_unpacked += 1
        return result

    def stage_entry(self, entry: Entry) -> ImageRecord:
        if entry.manifest_bytes is not None:
            known = self.store.records().get(sha256_bytes(entry.manifest_bytes))
            if known is not None and self._complete(known):
                self._advance(sum(src.size or 0 for src in entry.layers))
                return known
        config_digest = self.stage_bytes(entry.config_bytes)
        layers = tuple(
            self.stage_layer(src, diff_id)
            for src, diff_id in zip(entry.layers, entry.config.diff_ids, strict=True)
        )
        manifest_bytes = entry.manifest_bytes or oci_manifest(
            config_digest, len(entry.config_bytes), layers)
        manifest_digest = self.stage_bytes(manifest_bytes)
        return ImageRecord(manifest_digest, config_digest, layers, now())

    def _complete(self, record: ImageRecord) -> bool:
        digests = [record.manifest, record.config, *(layer.digest for layer in record.layers)]
        return all(self.has_blob(d) for d in digests) and all(
            self.has_layer(layer.diff_id) for layer in record.layers)

    # -- commit -------------------------------------------------------------------------

    def commit(self, images: list[tuple[ImageRecord, tuple[str, ...]]]) -> None:
        """Publish: blobs, then layers, then records, then tags; each step a rename.
        A re-import that staged nothing and moves no tag writes nothing at all."""
        store = self.store
        for digest, path in self.blobs.items():
            if not store.has_blob(digest):
                os.rename(path, store.blob_path(digest))
        if self.blobs:
            fsync_dir(store.blobs)
        for diff_id, path in self.layers.items():
            if not store.has_layer(diff_id):
                target = store.layer_path(diff_id)
                if target.exists():
                    # A directory without its record: left by a killed prune. Replace it.
                    os.rename(target, self.stage / "layers" / f"old-{target.name}")
                os.rename(path, target)
                os.rename(path.with_suffix(".json"), store.layer_meta_path(diff_id))
        if self.layers:
            fsync_dir(store.layers)
        new_records = [r for r, _ in images if not store.record_path(r.manifest).exists()]
        for record in new_records:
            store.write_file(store.record_path(record.manifest),
                             json.dumps(record.to_obj(), indent=1).encode())
        if new_records:
            fsync_dir(store.images_dir)
        tags = store.tags()
        moved = {name: record.manifest for record, names in images for name in names
                 if tags.get(name) != record.manifest}
        if moved:
            store.write_tags(tags | moved)


def _apply_shifted(shift: ShiftMap, stream: BinaryIO, dest: Path, diff_id: str | None,
                   source: str) -> LayerResult:
    """``apply_layer`` in a child inside a user namespace mapped by ``shift`` (userns.py),
    so the image's owners land on disk shifted; same streaming, checks and errors."""

    def work(pipe: BinaryIO | None) -> dict[str, object]:
        assert pipe is not None
        return apply_layer(pipe, dest, expected_diff_id=diff_id, source=source).to_json()

    return LayerResult.from_json(run_in_userns(shift, work, stream))


def _compression(head: BinaryIO) -> Compression:
    return detect(head.read(4))


def _verify_diff_id(reader: HashingReader, diff_id: str, source: str) -> Compression:
    """Decompress and hash without unpacking: the layer exists, the blob is new."""
    compression, plain = open_decompressed(reader)  # type: ignore[arg-type]
    h = hashlib.sha256()
    try:
        while chunk := plain.read(CHUNK):
            h.update(chunk)
    except CorruptStream as err:
        raise InvalidImage(f"layer {source}: {err}") from None
    if "sha256:" + h.hexdigest() != diff_id:
        raise InvalidImage(f"layer {source}: uncompressed content has diff_id "
                           f"sha256:{h.hexdigest()}, the image says {diff_id}")
    return compression


def _raise_if_digest_wrong(reader: HashingReader, src: LayerSource) -> None:
    if src.digest is None:
        return
    try:
        reader.drain()
    except _READ_ERRORS:
        return
    if reader.digest != src.digest:
        raise InvalidImage(f"{src.source}: digest mismatch: the manifest says {src.digest}, "
                           f"the content is {reader.digest}")


def oci_manifest(config_digest: str, config_size: int, layers: tuple[LayerRecord, ...]) -> bytes:
    """The OCI manifest for an image that came without one (docker archive, write_image).
    Compact, key order fixed: the same image always gets the same manifest digest."""
    obj: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": layer.media_type, "digest": layer.digest,
                    "size": layer.blob_size} for layer in layers],
    }
    return json.dumps(obj, separators=(",", ":")).encode()
