"""Secure layer application: one layer blob in, one overlayfs lower directory out.

``apply_layer`` is what the store calls at import. It reads the blob once — decompressing
(plain, gzip or zstd, by magic bytes), hashing the uncompressed tar (the ``diff_id``) and
writing each entry — and returns a ``LayerResult``. How entries become files is in
``apply`` (whiteouts, hardlinks, metadata), how the tar is read in ``tar``
(limits, truncation), and how writes stay inside ``dest`` in ``tarsafe``.

The contract with the caller:

* ``dest`` is an empty directory the caller made in the store's tmp area; on success the
  caller renames it into place (keyed by the verified diff_id).
* On any error ``apply_layer`` removes what it wrote below ``dest`` and raises; the caller
  then deletes ``dest`` itself. Nothing is ever half-applied in the store.
* A layer that is damaged or hostile (escaping names, links out of the layer, a truncated
  or non-tar stream, a diff_id mismatch, a limit exceeded) raises ``InvalidImage`` whose
  one-line message names ``source`` and the entry. A failure of the host (disk full,
  a whiteout the kernel will not create) raises ``StoreError``.
* ``stream`` is read (on a helper thread) only while ``apply_layer`` runs; when it returns
  or raises, every thread it started has stopped, so the caller may read on (to drain and
  hash the rest of a refused blob, say).
* Entries that cannot be represented here but do not make the layer unsafe are in
  ``LayerResult.skipped``; lesser losses (a dropped xattr) are in ``warnings``; device nodes,
  which are never created, are in ``devices``. Nothing is printed: the caller reports them.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

from hardbox.errors import InvalidImage, StoreError
from hardbox.image.layers.apply import Applier, DeviceNode, SkippedEntry
from hardbox.image.layers.compression import (
    Compression,
    CorruptStream,
    CountingReader,
    open_decompressed,
)
from hardbox.image.layers.tar import LayerLimits, LayerReader
from hardbox.image.layers.tarsafe import Refused

__all__ = ["DEFAULT_LIMITS", "DeviceNode", "LayerLimits", "LayerResult", "SkippedEntry", "apply_layer"]

DEFAULT_LIMITS = LayerLimits()
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class LayerResult:
    """What applying one layer produced.

    ``size`` is the uncompressed tar stream in bytes (the shared "Sizes" convention);
    ``digest`` is the sha256 of the compressed blob when ``hash_blob=True`` was asked for.
    ``file_count`` counts the entries applied (files, directories, links, nodes, whiteouts).
    """

    diff_id: str
    compression: Compression
    compressed_size: int
    size: int
    file_count: int
    skipped: tuple[SkippedEntry, ...] = ()
    warnings: tuple[str, ...] = ()
    digest: str | None = None
    devices: tuple[DeviceNode, ...] = ()

    def __post_init__(self) -> None:
        if not _DIGEST.match(self.diff_id) or (self.digest is not None and not _DIGEST.match(self.digest)):
            raise ValueError(f"LayerResult digests must be sha256:<hex>, not {self.diff_id!r}/{self.digest!r}")

    def to_json(self) -> dict[str, object]:
        """The record the store keeps beside the layer directory (``<dir>.json``)."""
        record = asdict(self)
        record["compression"] = self.compression.value
        record["skipped"] = [asdict(s) for s in self.skipped]
        record["warnings"] = list(self.warnings)
        record["devices"] = [asdict(d) for d in self.devices]
        return record

    @classmethod
    def from_json(cls, record: dict[str, object]) -> LayerResult:
        """The inverse of ``to_json`` (a result sent back by the shifted-unpacking child)."""
        fields = dict(record)
        fields["compression"] = Compression(fields["compression"])
        fields["skipped"] = tuple(SkippedEntry(**s) for s in fields["skipped"])  # type: ignore[attr-defined]
        fields["warnings"] = tuple(fields["warnings"])  # type: ignore[arg-type]
        fields["devices"] = tuple(DeviceNode(**d) for d in fields.get("devices", ()))  # type: ignore[attr-defined]
        return cls(**fields)  # type: ignore[arg-type]


def apply_layer(
    stream: BinaryIO,
    dest: Path,
    *,
    expected_diff_id: str | None,
    source: str,
    limits: LayerLimits = DEFAULT_LIMITS,
    hash_blob: bool = False,
) -> LayerResult:
    """Apply the layer blob read from ``stream`` into the empty directory ``dest``.

    ``source`` names the blob in messages (``archive.tar:blobs/sha256/…``). With
    ``expected_diff_id``, a layer whose uncompressed digest differs is refused after the
    single pass, and what was written is removed.
    """
    if expected_diff_id is not None and not _DIGEST.match(expected_diff_id):
        raise InvalidImage(f"layer {source}: diff_id {expected_diff_id!r} is not a sha256 digest")
    blob_hash = hashlib.sha256() if hash_blob else None
    counted = CountingReader(stream, blob_hash)
    reader: LayerReader | None = None
    applier: Applier | None = None
    entry: str | None = None
    try:
        compression, plain = open_decompressed(counted)
        reader = LayerReader(plain, limits)
        applier = Applier(dest, reader, limits)
        members = reader.entries()
        while True:
            entry = None  # header errors name the entry they follow themselves
            member = next(members, None)
            if member is None:
                break
            entry = member.name
            applier.apply(member)
        applier.finish()
        diff_id, size = reader.finish()
        if expected_diff_id is not None and diff_id != expected_diff_id:
            raise InvalidImage(
                f"layer {source}: uncompressed content has diff_id {diff_id}, the image says {expected_diff_id}",
                hint="the archive is damaged or was altered; fetch or export it again",
            )
    except BaseException as exc:
        if reader is not None:
            reader.close()
        if applier is not None:
            applier.tree.empty()
            applier.tree.close()
        converted = _convert(exc, source, entry, dest)
        if converted is None:
            raise
        raise converted from exc
    reader.close()
    applier.tree.close()
    return LayerResult(
        diff_id=diff_id,
        compression=compression,
        compressed_size=counted.count,
        size=size,
        file_count=applier.applied,
        skipped=tuple(applier.skipped),
        warnings=tuple(applier.warnings),
        devices=tuple(applier.devices),
        digest=None if blob_hash is None else "sha256:" + blob_hash.hexdigest(),
    )


def _convert(exc: BaseException, source: str, entry: str | None, dest: Path) -> Exception | None:
    """The one-line hardbox error for a failure, or None to re-raise it unchanged."""
    where = f"layer {source}" + (f": entry {entry!r}" if entry is not None else "")
    if isinstance(exc, Refused):
        return InvalidImage(f"{where}: {exc}", hint="the layer is damaged or hostile; it was not imported")
    if isinstance(exc, CorruptStream):
        return InvalidImage(f"layer {source}: {exc}", hint="the archive is damaged; fetch or export it again")
    if isinstance(exc, tarfile.TarError):  # raised while reading an entry's data
        return InvalidImage(f"{where}: tar data is damaged ({exc})", hint="the archive is damaged; fetch or export it again")
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        return StoreError(f"{where}: cannot write into {dest}: {reason}")
    return None
