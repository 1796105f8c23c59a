"""Compression detection and the strict decompressing readers, against the real gzip and
zstd command-line tools (what image builders and registries use to make layer blobs)."""

from __future__ import annotations

import io
import random
import subprocess

import pytest
from helpers.cli import need_tool

from hardbox.image.layers.compression import (
    Compression,
    CorruptStream,
    CountingReader,
    detect,
    open_decompressed,
)

# Deterministic, and starting with bytes that are no compression magic (random bytes could).
PAYLOAD = b"tar:" + random.Random(7).randbytes(300_000) + b"\0" * 2_000_000 + b"layer" * 50_000


def compress(tool: str, data: bytes, *args: str) -> bytes:
    need_tool(tool)
    return subprocess.run([tool, "-c", *args], input=data, capture_output=True, check=True).stdout


def read_all(blob: bytes, chunk: int = 65536) -> tuple[Compression, bytes]:
    kind, reader = open_decompressed(io.BytesIO(blob))
    out = bytearray()
    while True:
        data = reader.read(chunk)
        assert len(data) <= chunk, "a read returned more than asked"
        if not data:
            return kind, bytes(out)
        out += data


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x1f\x8b\x08\x00", Compression.GZIP),
        (b"\x28\xb5\x2f\xfd", Compression.ZSTD),
        (b"etc/", Compression.NONE),
        (b"", Compression.NONE),
        (b"\x1f", Compression.NONE),
    ],
)
def test_detect_by_magic(head: bytes, kind: Compression) -> None:
    assert detect(head) is kind


def test_plain_passes_through() -> None:
    assert read_all(PAYLOAD) == (Compression.NONE, PAYLOAD)


def test_gzip_cli_output_decompresses() -> None:
    assert read_all(compress("gzip", PAYLOAD, "-6")) == (Compression.GZIP, PAYLOAD)


def test_concatenated_gzip_members_and_nul_padding() -> None:
    blob = compress("gzip", PAYLOAD[:1000]) + compress("gzip", PAYLOAD[1000:]) + b"\0" * 512
    assert read_all(blob, chunk=4096) == (Compression.GZIP, PAYLOAD)


def test_truncated_gzip_is_an_error() -> None:
    blob = compress("gzip", PAYLOAD)
    with pytest.raises(CorruptStream, match="truncated"):
        read_all(blob[: len(blob) - 100])


def test_gzip_crc_mismatch_is_an_error() -> None:
    blob = bytearray(compress("gzip", PAYLOAD))
    blob[-6] ^= 0xFF  # inside the CRC32 trailer
    with pytest.raises(CorruptStream, match="corrupt"):
        read_all(bytes(blob))


def test_gzip_followed_by_garbage_is_an_error() -> None:
    with pytest.raises(CorruptStream):
        read_all(compress("gzip", PAYLOAD) + b"garbage!")


def test_zstd_cli_output_decompresses() -> None:
    assert read_all(compress("zstd", PAYLOAD, "-q", "-3")) == (Compression.ZSTD, PAYLOAD)


def test_concatenated_zstd_frames() -> None:
    blob = compress("zstd", PAYLOAD[:5000], "-q") + compress("zstd", PAYLOAD[5000:], "-q")
    assert read_all(blob) == (Compression.ZSTD, PAYLOAD)


def test_truncated_zstd_is_an_error() -> None:
    blob = compress("zstd", PAYLOAD, "-q")
    with pytest.raises(CorruptStream, match="truncated"):
        read_all(blob[: len(blob) - 50])


def test_counting_reader_counts_and_hashes_compressed_bytes() -> None:
    import hashlib

    blob = compress("gzip", PAYLOAD)
    digest = hashlib.sha256()
    counted = CountingReader(io.BytesIO(blob), digest)
    _, reader = open_decompressed(counted)
    while reader.read(1 << 20):
        pass
    assert counted.count == len(blob)
    assert digest.hexdigest() == hashlib.sha256(blob).hexdigest()
