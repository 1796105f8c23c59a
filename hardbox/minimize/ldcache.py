"""Reads an image's own ``/etc/ld.so.cache``, as the dynamic loader inside the image would.

The minimizer resolves DT_NEEDED names through the image's cache, never the host's. The file
is hostile input: every offset is bounds-checked and a damaged cache is an error the caller
records (it then falls back to the default search paths), never a crash.

Format (glibc ``elf/cache.c``, ``sysdeps/generic/dl-cache.h``): the new format starts with
``glibc-ld.so.cache1.1``, a 48-byte header (nlibs, len_strings, flags, extension offset) and
``nlibs`` 24-byte entries (flags, key, value, osversion, hwcap); key and value are offsets of
NUL-terminated strings from the start of the file. Older caches put an ``ld.so-1.7.0`` table
(12-byte entries, offsets relative to its string table) first and the new format after it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from hardbox.errors import InputError

_NEW_MAGIC = b"glibc-ld.so.cache1.1"
_OLD_MAGIC = b"ld.so-1.7.0"
_NEW_HEADER = struct.Struct("<20sII B3x I 12x")  # magic+version, nlibs, len_strings, flags, ext
_NEW_ENTRY = struct.Struct("<iIIIQ")
_OLD_ENTRY = struct.Struct("<iII")
_MAX_SIZE = 64 * 1024 * 1024

# Entry flags: the low byte is the library type, the next byte the architecture.
FLAG_TYPE_MASK = 0x00FF
FLAG_ELF_LIBC6 = 0x0003
FLAG_ARCH_MASK = 0xFF00
ARCH_FLAGS = {
    "x86-64": 0x0300,
    "x32": 0x0800,
    "aarch64": 0x0A00,
    "riscv64-lp64d": 0x0F00,
    "i386": 0x0000,
}


class LdCacheError(InputError):
    """The cache file is damaged; the minimizer falls back to default paths."""


@dataclass(frozen=True)
class CacheEntry:
    soname: str
    path: str
    flags: int

    @property
    def arch_flag(self) -> int:
        return self.flags & FLAG_ARCH_MASK


def _cstring(data: bytes, offset: int, source: str) -> str:
    if not 0 <= offset < len(data):
        raise LdCacheError(f"{source}: string offset {offset} outside the file")
    end = data.find(b"\0", offset)
    if end < 0:
        raise LdCacheError(f"{source}: unterminated string at offset {offset}")
    return data[offset:end].decode("utf-8", "surrogateescape")


def parse(data: bytes, source: str = "ld.so.cache") -> list[CacheEntry]:
    """All entries of a cache, in file order (the loader's preference order)."""
    start = 0
    if data.startswith(_OLD_MAGIC):
        if len(data) < len(_OLD_MAGIC) + 1 + 4:
            raise LdCacheError(f"{source}: truncated old-format header")
        (nlibs,) = struct.unpack_from("<I", data, 12)
        start = 16 + nlibs * _OLD_ENTRY.size
        # The new-format table, if any, follows the old one aligned to 8 bytes.
        start = (start + 7) & ~7
        if start >= len(data) or not data[start:].startswith(_NEW_MAGIC):
            return _parse_old(data, nlibs, source)
    if not data[start:].startswith(_NEW_MAGIC):
        raise LdCacheError(f"{source}: not an ld.so.cache (bad magic)")
    if len(data) - start < _NEW_HEADER.size:
        raise LdCacheError(f"{source}: truncated header")
    _, nlibs, _len_strings, _flags, _ext = _NEW_HEADER.unpack_from(data, start)
    table = start + _NEW_HEADER.size
    if table + nlibs * _NEW_ENTRY.size > len(data):
        raise LdCacheError(f"{source}: {nlibs} entries do not fit in {len(data)} bytes")
    entries = []
    for i in range(nlibs):
        flags, key, value, _osv, _hwcap = _NEW_ENTRY.unpack_from(data, table + i * _NEW_ENTRY.size)
        # Offsets in the new format are from the start of the file (glibc >= 2.32 files;
        # older mixed files used the same convention for the new table).
        entries.append(CacheEntry(_cstring(data, key, source), _cstring(data, value, source), flags))
    return entries


def _parse_old(data: bytes, nlibs: int, source: str) -> list[CacheEntry]:
    table = 16
    strings = table + nlibs * _OLD_ENTRY.size
    if strings > len(data):
        raise LdCacheError(f"{source}: {nlibs} entries do not fit in {len(data)} bytes")
    entries = []
    for i in range(nlibs):
        flags, key, value = _OLD_ENTRY.unpack_from(data, table + i * _OLD_ENTRY.size)
        entries.append(
            CacheEntry(_cstring(data, strings + key, source), _cstring(data, strings + value, source), flags)
        )
    return entries


def load(path: Path) -> list[CacheEntry]:
    """Read and parse a cache file; a missing file is an empty cache."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return []
    if size > _MAX_SIZE:
        raise LdCacheError(f"{path}: {size} bytes is too large for an ld.so.cache")
    return parse(path.read_bytes(), str(path))


def lookup(entries: list[CacheEntry], soname: str, arch_flag: int | None) -> str | None:
    """The path the loader would pick for ``soname`` on an architecture, or None."""
    for entry in entries:
        if entry.soname != soname or entry.flags & FLAG_TYPE_MASK != FLAG_ELF_LIBC6:
            continue
        if arch_flag is None or entry.arch_flag == arch_flag:
            return entry.path
    return None
