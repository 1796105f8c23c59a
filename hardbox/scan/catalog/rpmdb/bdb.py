"""rpm's Berkeley DB database, ``/var/lib/rpm/Packages`` (rpm < 4.16: RHEL/UBI 7 and 8,
CentOS 7, Amazon Linux 2): a Berkeley DB *hash* file, key the package's instance number,
value its header. Read page by page as libdb's db_page.h lays them out, without libdb:

- Page 0 is the hash meta page: ``magic`` 0x061561 at byte 12 (its byte order is the
  file's: libdb writes the creator's native order and swaps on read), ``pagesize`` at 20,
  ``encrypt_alg`` at 24, ``metaflags`` at 26, ``last_pgno`` at 32.
- Every page starts with a 26-byte header: ``pgno`` 8, ``prev_pgno`` 12, ``next_pgno`` 16,
  ``entries`` 20, ``hf_offset`` 22, ``level`` 24, ``type`` 25 (32 bytes when the file
  carries page checksums). Hash pages (``P_HASH`` 13, ``P_HASH_UNSORTED`` 2 before libdb 4.6)
  follow it with ``entries`` uint16 offsets of items packed from the page's end, key and
  data alternating; an item's length is the distance to the previous item's start.
- An item's first byte is its type: ``H_KEYDATA`` (1, the bytes follow) or ``H_OFFPAGE``
  (3: 3 pad bytes, the first overflow page, the total length): values longer than a quarter
  page live on a chain of ``P_OVERFLOW`` (7) pages, each holding ``hf_offset`` bytes after
  its header and naming the next in ``next_pgno`` (0 ends it).

Reading every hash page in file order (as Syft and Trivy do) finds every record without
hashing keys. Hostile files: every offset is checked against the page, the pages read never
exceed the file, and an overflow page may serve one value only, so a looping or shared chain
is damage and the work stays proportional to the file's size.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

from hardbox.scan.catalog.rpmdb.header import MAX_HEADER_BLOB
from hardbox.scan.catalog.rpmdb.interface import (
    Damage,
    Entry,
    HeaderBlob,
    UnsupportedDatabase,
    file_size,
    pread_exact,
)
from hardbox.scan.walk import ImageFile

HASH_MAGIC = 0x061561
BTREE_MAGIC = 0x053162
P_HASH_UNSORTED, P_OVERFLOW, P_HASH = 2, 7, 13
H_KEYDATA, H_OFFPAGE = 1, 3
PAGE_HEADER, PAGE_HEADER_CHKSUM = 26, 32
DBMETA_CHKSUM = 0x01
_PAGE_SIZES = frozenset(1 << n for n in range(9, 17))  # 512 .. 64 KiB, libdb's range
_MAX_DAMAGED_PAGES = 1000


class _File:
    """The database as pages: the meta page's facts and a bounded page reader."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        size = file_size(fh)
        if size < 512:
            raise ValueError("shorter than a Berkeley DB meta page")
        meta = pread_exact(fh, 0, 512)
        for order in ("<", ">"):
            (magic,) = struct.unpack_from(order + "I", meta, 12)
            if magic in (HASH_MAGIC, BTREE_MAGIC):
                break
        else:
            raise ValueError("not a Berkeley DB database (no hash or btree magic)")
        if magic == BTREE_MAGIC:
            raise UnsupportedDatabase("a Berkeley DB btree, where rpm writes a hash")
        self.order = order
        self.page_size, encrypt_alg, _type, metaflags = struct.unpack_from(order + "IBBB", meta, 20)
        (self.last_pgno,) = struct.unpack_from(order + "I", meta, 32)
        if self.page_size not in _PAGE_SIZES:
            raise ValueError(f"page size {self.page_size} is not one libdb writes")
        if encrypt_alg:
            raise UnsupportedDatabase("an encrypted Berkeley DB")
        self.overhead = PAGE_HEADER_CHKSUM if metaflags & DBMETA_CHKSUM else PAGE_HEADER
        # The pages the file really has: a truncated file (or a lying meta page) ends here.
        self.pages = min(self.last_pgno + 1, size // self.page_size)
        self.truncated = self.last_pgno + 1 > self.pages
        self.used_overflow: set[int] = set()

    def page(self, pgno: int) -> bytes:
        return pread_exact(self.fh, pgno * self.page_size, self.page_size)

    def u16(self, data: bytes, offset: int) -> int:
        return int(struct.unpack_from(self.order + "H", data, offset)[0])

    def u32(self, data: bytes, offset: int) -> int:
        return int(struct.unpack_from(self.order + "I", data, offset)[0])


def read(file: ImageFile) -> Iterator[Entry]:
    with file.open() as fh:
        db = _File(fh)
        if db.truncated:
            yield Damage(f"the meta page names {db.last_pgno + 1} pages, the file holds {db.pages}")
        damaged = 0
        for pgno in range(1, db.pages):
            page = db.page(pgno)
            if page[25] not in (P_HASH, P_HASH_UNSORTED):
                continue  # meta, overflow, free and bucket-less pages hold no pairs
            for entry in _pairs(db, pgno, page):
                if isinstance(entry, Damage):
                    damaged += 1
                    if damaged > _MAX_DAMAGED_PAGES:
                        yield Damage(
                            f"more than {_MAX_DAMAGED_PAGES} damaged records: the rest not read"
                        )
                        return
                yield entry


def _pairs(db: _File, pgno: int, page: bytes) -> Iterator[Entry]:
    """The key/data pairs of one hash page."""
    entries = db.u16(page, 20)
    if entries % 2 or db.overhead + 2 * entries > db.page_size:
        yield Damage(f"page {pgno}: {entries} entries do not fit a hash page")
        return
    offsets = [db.u16(page, db.overhead + 2 * i) for i in range(entries)]
    for i in range(0, entries, 2):
        try:
            key = _item(db, page, offsets, i)
            data = _item(db, page, offsets, i + 1)
            if key is None:
                raise ValueError("the key is not stored on the page")
            if len(key) == 4 and not any(key):
                continue  # instance 0: rpm's counter of the next instance, not a package
            yield HeaderBlob(
                db.u32(key, 0) if len(key) == 4 else -1, _value(db, page, offsets[i + 1], data)
            )
        except ValueError as err:
            yield Damage(f"page {pgno}, item {i}: {err}")


def _item(db: _File, page: bytes, offsets: list[int], index: int) -> bytes | None:
    """The bytes of an ``H_KEYDATA`` item, None for an ``H_OFFPAGE`` one."""
    start = offsets[index]
    end = db.page_size if index == 0 else offsets[index - 1]
    if not db.overhead + 2 * len(offsets) <= start < end <= db.page_size:
        raise ValueError(f"item offset {start} is outside the page's item area")
    kind = page[start]
    if kind == H_KEYDATA:
        return page[start + 1 : end]
    if kind == H_OFFPAGE:
        if end - start < 12:
            raise ValueError("an off-page item shorter than 12 bytes")
        return None
    raise ValueError(f"item type {kind}, where rpm stores plain or off-page values")


def _value(db: _File, page: bytes, start: int, inline: bytes | None) -> bytes:
    if inline is not None:
        return inline
    pgno, length = db.u32(page, start + 4), db.u32(page, start + 8)
    if length > MAX_HEADER_BLOB:
        raise ValueError(f"an off-page value of {length} bytes, more than any rpm header")
    chunks: list[bytes] = []
    got = 0
    while pgno:
        if pgno >= db.pages:
            raise ValueError(f"overflow page {pgno} is past the end of the file")
        if pgno in db.used_overflow:
            raise ValueError(
                f"overflow page {pgno} is already part of a value (a loop or a shared chain)"
            )
        db.used_overflow.add(pgno)
        over = db.page(pgno)
        if over[25] != P_OVERFLOW:
            raise ValueError(f"page {pgno} in an overflow chain is of type {over[25]}")
        used = db.u16(over, 22)
        if used > db.page_size - db.overhead or got + used > length:
            raise ValueError(f"overflow page {pgno} holds more than the value's {length} bytes")
        chunks.append(over[db.overhead : db.overhead + used])
        got += used
        pgno = db.u32(over, 16)
    if got != length:
        raise ValueError(f"the overflow chain holds {got} of the value's {length} bytes")
    return b"".join(chunks)
