"""rpm's ndb database, ``Packages.db`` (SUSE since SLE 15 SP3 / openSUSE, rpm's
lib/backend/ndb/rpmpkg.c): one file of 16-byte blocks, all little-endian.

- A 32-byte header: magic ``RpmP``, version 0, generation, the number of 4 KiB slot pages,
  the next package index.
- The slot pages: after the header, 16-byte slots to the end of the last slot page, each
  magic ``Slot``, package index, block offset, block count; offset 0 is a free slot.
- Each package's blob at ``blkoff * 16``: a 16-byte head (magic ``BlbS``, package index,
  generation, length), the header bytes, zero padding to the block count, and a 12-byte tail
  (adler32 of everything before it in the blob, length again, magic ``BlbE``).

A slot or blob that breaks any of rpm's own checks is one ``Damage``; a file without the
``RpmP`` header is not an ndb database.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from hardbox.scan.catalog.rpmdb.header import MAX_HEADER_BLOB
from hardbox.scan.catalog.rpmdb.interface import Damage, Entry, HeaderBlob, file_size, pread_exact
from hardbox.scan.walk import ImageFile

MAGIC, SLOT_MAGIC = b"RpmP", b"Slot"
BLOB_HEAD, BLOB_TAIL = b"BlbS", b"BlbE"
HEADER_SIZE, SLOT_SIZE, BLK_SIZE, PAGE_SIZE = 32, 16, 16, 4096
HEAD_SIZE, TAIL_SIZE = 16, 12
_MAX_BAD_SLOTS = 1000


def read(file: ImageFile) -> Iterator[Entry]:
    with file.open() as fh:
        size = file_size(fh)
        if size < HEADER_SIZE:
            raise ValueError("shorter than the ndb header")
        header = pread_exact(fh, 0, HEADER_SIZE)
        magic, version, _generation, slot_pages = struct.unpack_from("<4sIII", header)
        if magic != MAGIC:
            raise ValueError("not an rpm ndb database (no RpmP magic)")
        if version != 0:
            raise ValueError(f"ndb version {version}, not 0")
        if not slot_pages or slot_pages * PAGE_SIZE > size:
            raise ValueError(f"{slot_pages} slot pages do not fit in {size} bytes")
        slots = pread_exact(fh, 0, slot_pages * PAGE_SIZE)
        file_blocks = size // BLK_SIZE
        first_blob = slot_pages * PAGE_SIZE // BLK_SIZE
        found: list[tuple[int, int, int]] = []
        bad = 0
        for offset in range(HEADER_SIZE, len(slots), SLOT_SIZE):
            magic, pkgidx, blkoff, blkcnt = struct.unpack_from("<4sIII", slots, offset)
            if magic != SLOT_MAGIC:
                bad += 1
                if bad > _MAX_BAD_SLOTS:
                    yield Damage(f"more than {_MAX_BAD_SLOTS} damaged slots: the rest not read")
                    break
                yield Damage(f"slot at byte {offset}: no Slot magic")
            elif not blkoff:
                continue  # a free slot
            elif not pkgidx or not blkcnt or blkoff < first_blob or blkoff + blkcnt > file_blocks:
                yield Damage(
                    f"slot at byte {offset}: package {pkgidx} at block {blkoff}+{blkcnt} "
                    f"is outside the blob area (blocks {first_blob}..{file_blocks})"
                )
            else:
                found.append((pkgidx, blkoff, blkcnt))
        # Blobs never overlap in a database rpm wrote; refusing overlaps also bounds the
        # bytes read to the file's size, however many slots point at one huge blob.
        end = 0
        for pkgidx, blkoff, blkcnt in sorted(found, key=lambda slot: slot[1]):
            if blkoff < end:
                yield Damage(f"package {pkgidx} at block {blkoff} overlaps the blob before it")
                continue
            end = blkoff + blkcnt
            try:
                yield HeaderBlob(pkgidx, _blob(fh, pkgidx, blkoff, blkcnt))
            except ValueError as err:
                yield Damage(f"package {pkgidx} at byte {blkoff * BLK_SIZE}: {err}")


def _blob(fh: BinaryIO, pkgidx: int, blkoff: int, blkcnt: int) -> bytes:
    """One package's header, checked as rpmpkgReadBlob checks it."""
    if blkcnt * BLK_SIZE < HEAD_SIZE + TAIL_SIZE:
        raise ValueError(f"{blkcnt} blocks cannot hold a blob")
    if blkcnt * BLK_SIZE > HEAD_SIZE + MAX_HEADER_BLOB + TAIL_SIZE + BLK_SIZE:
        raise ValueError(f"{blkcnt} blocks, more than any rpm header needs")
    raw = pread_exact(fh, blkoff * BLK_SIZE, blkcnt * BLK_SIZE)
    magic, owner, _generation, length = struct.unpack_from("<4sIII", raw)
    if magic != BLOB_HEAD:
        raise ValueError("no BlbS magic")
    if owner != pkgidx:
        raise ValueError(f"the blob belongs to package {owner}")
    if (HEAD_SIZE + length + TAIL_SIZE + BLK_SIZE - 1) // BLK_SIZE != blkcnt:
        raise ValueError(f"a {length}-byte blob does not take {blkcnt} blocks")
    adler, tail_length, tail_magic = struct.unpack_from("<II4s", raw, len(raw) - TAIL_SIZE)
    if tail_magic != BLOB_TAIL or tail_length != length:
        raise ValueError("the blob's tail does not match its head")
    if zlib.adler32(memoryview(raw)[: len(raw) - TAIL_SIZE]) != adler:
        raise ValueError("adler32 checksum mismatch")
    return raw[HEAD_SIZE : HEAD_SIZE + length]
