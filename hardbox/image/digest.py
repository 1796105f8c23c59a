"""sha256 digests: validation, hashing of bytes, files and streams.

Only sha256 is accepted. The OCI image spec allows other algorithms (sha512), but every
image written by docker, skopeo, buildah and umoci uses sha256, and refusing the rest keeps
the store's key space to one shape: ``blobs/sha256/<64 hex>``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from hardbox.errors import InvalidImage

_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
CHUNK = 1 << 20


def is_digest(text: object) -> bool:
    return isinstance(text, str) and bool(_DIGEST.match(text))


def check_digest(value: object, source: str, field: str) -> str:
    """Return ``value`` when it is ``sha256:<64 lower-case hex>``; else raise naming the field."""
    if not is_digest(value):
        raise InvalidImage(
            f"{source}: {field} is not a sha256 digest: {str(value)[:80]!r}",
            "the image is damaged or was not written by a container tool",
        )
    return str(value)


def hex_of(digest: str) -> str:
    """``sha256:ab…`` -> ``ab…`` (the digest must already be validated)."""
    return digest.split(":", 1)[1]


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


class HashingReader:
    """A read-only stream that hashes every byte read through it and, optionally, copies it
    to ``sink``. Lets a layer be verified, stored and unpacked in one pass over its bytes."""

    def __init__(self, raw: BinaryIO, sink: BinaryIO | None = None,
                 on_read: Callable[[int], None] | None = None) -> None:
        self._raw = raw
        self._sink = sink
        self._on_read = on_read
        self._hash = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data:
            self._hash.update(data)
            self.count += len(data)
            if self._sink is not None:
                self._sink.write(data)
            if self._on_read is not None:
                self._on_read(len(data))
        return data

    def readinto(self, buf: bytearray | memoryview) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Read to the end: tar readers stop at the end-of-archive blocks, the digest covers
        the whole blob including any padding after them."""
        while self.read(CHUNK):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()
