"""Layer blob compression: detect plain/gzip/zstd by magic bytes, decompress as a stream.

OCI layers are ``tar``, ``tar+gzip`` or ``tar+zstd`` (image-spec ``layer.md``), and docker
archives do not always say which in the manifest, so the blob's first bytes decide. The
decompressing readers are strict: a stream that ends before its compressed data does
(a truncated download, a cut archive) raises ``CorruptStream`` instead of returning a short,
plausible-looking tar, and output per read is bounded so a compression bomb is stopped by
the caller's size limit rather than by running out of memory.
"""

from __future__ import annotations

import enum
import io
import zlib
from typing import Any, BinaryIO

import zstandard

GZIP_MAGIC = b"\x1f\x8b"
# RFC 8878 section 3.1.1: a zstd frame starts with 0xFD2FB528 stored little-endian.
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

_READ_SIZE = 1 << 20
# zstd can expand one input byte into ~32 KiB (an RLE block); with no output bound in
# zstandard's decompressobj, small input chunks are what bounds one call's output.
_ZSTD_INPUT_CHUNK = 8 << 10


class Compression(enum.Enum):
    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"


class CorruptStream(Exception):
    """The compressed data is damaged or truncated; the caller names the blob."""


def detect(head: bytes) -> Compression:
    """The compression of a blob whose first bytes are ``head`` (at least 4 for zstd)."""
    if head.startswith(GZIP_MAGIC):
        return Compression.GZIP
    if head.startswith(ZSTD_MAGIC):
        return Compression.ZSTD
    return Compression.NONE


class CountingReader(io.RawIOBase):
    """Counts (and optionally hashes) the compressed bytes the decompressor consumes."""

    def __init__(self, raw: BinaryIO, hasher: object | None = None) -> None:
        self._raw = raw
        self._hasher = hasher
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.count += len(data)
        if self._hasher is not None:
            self._hasher.update(data)  # type: ignore[attr-defined]
        return data

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Decompressor(io.RawIOBase):
    """A readable stream of decompressed bytes; subclasses say how one chunk is made."""

    def __init__(self, raw: io.RawIOBase, head: bytes) -> None:
        self._raw = raw
        self._pending = head  # compressed bytes read for detection, not yet decompressed
        self._input_done = False

    def readable(self) -> bool:
        return True

    def _next_input(self, size: int) -> bytes:
        if self._pending:
            data, self._pending = self._pending[:size], self._pending[size:]
            return data
        if self._input_done:
            return b""
        data = self._raw.read(size)
        if not data:
            self._input_done = True
        return data

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._produce(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return super().read(size) or b""
        return self._produce(size) if size else b""

    def _produce(self, limit: int) -> bytes:
        raise NotImplementedError


class _Plain(_Decompressor):
    def _produce(self, limit: int) -> bytes:
        return self._next_input(limit)


class _Gzip(_Decompressor):
    """RFC 1952 gzip, several members allowed (``cat a.gz b.gz`` is a valid gzip file).

    zlib checks each member's CRC32 and length trailer itself (wbits 16+MAX_WBITS).
    """

    def __init__(self, raw: io.RawIOBase, head: bytes) -> None:
        super().__init__(raw, head)
        self._z: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)  # None between members

    def _produce(self, limit: int) -> bytes:
        if limit <= 0:
            return b""
        while True:
            if self._z is None:
                data = self._next_input(_READ_SIZE)
                if not data:
                    return b""
                # Between members: trailing NUL padding is tolerated, as gzip(1) does.
                data = data.lstrip(b"\0")
                if not data:
                    continue
                self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
            else:
                data = self._z.unconsumed_tail or self._next_input(_READ_SIZE)
                if not data:
                    raise CorruptStream("gzip data ends before the end of its last member (truncated)")
            try:
                out = self._z.decompress(data, limit)
            except zlib.error as exc:
                raise CorruptStream(f"gzip data is corrupt: {exc}") from None
            if self._z.eof:
                # What follows the member (the next one, padding) is read again from here.
                self._pending = self._z.unused_data + self._z.unconsumed_tail + self._pending
                self._z = None
            if out:
                return out


class _Zstd(_Decompressor):
    """RFC 8878 zstd, several frames allowed; a frame cut short is an error."""

    def __init__(self, raw: io.RawIOBase, head: bytes) -> None:
        super().__init__(raw, head)
        self._dctx = zstandard.ZstdDecompressor()
        self._z = self._dctx.decompressobj()
        self._in_frame = True
        self._out = b""

    def _produce(self, limit: int) -> bytes:
        while not self._out:
            data = self._next_input(_ZSTD_INPUT_CHUNK)
            if not data:
                if self._in_frame:
                    raise CorruptStream("zstd data ends before the end of its last frame (truncated)")
                return b""
            if not self._in_frame:
                self._z = self._dctx.decompressobj()
                self._in_frame = True
            try:
                self._out = self._z.decompress(data)
            except zstandard.ZstdError as exc:
                raise CorruptStream(f"zstd data is corrupt: {exc}") from None
            if self._z.eof:
                self._in_frame = False
                if self._z.unused_data:
                    self._pending = self._z.unused_data + self._pending
        out, self._out = self._out[:limit], self._out[limit:]
        return out


def open_decompressed(raw: io.RawIOBase | BinaryIO) -> tuple[Compression, io.RawIOBase]:
    """Detect the compression of ``raw`` from its first bytes and return a reader of the
    decompressed bytes. Reads never return more than asked; damage raises ``CorruptStream``."""
    head = b""
    while len(head) < len(ZSTD_MAGIC):
        more = raw.read(len(ZSTD_MAGIC) - len(head))
        if not more:
            break
        head += more
    kind = detect(head)
    reader: type[_Decompressor] = {
        Compression.NONE: _Plain,
        Compression.GZIP: _Gzip,
        Compression.ZSTD: _Zstd,
    }[kind]
    return kind, reader(raw, head)  # type: ignore[arg-type]
