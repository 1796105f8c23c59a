"""The rpm header blob every rpm database stores, one per installed package, whatever the
database's format (sqlite, Berkeley DB, ndb): its parser, shared by all three readers.

A header as the database stores it (rpm's lib/header.c; the on-disk format is in rpm's
docs/manual/format.md, "Header format") is, big-endian: the index length ``il`` and data
length ``dl`` (uint32 each), ``il`` index entries of 16 bytes (tag, type, offset, count),
then ``dl`` bytes of data the entries point into. Types used here: INT32 (4), STRING (6),
STRING_ARRAY (8), I18NSTRING (9).
"""

from __future__ import annotations

import struct

MAX_HEADER_TAGS = 0xFFFF  # rpm's HEADER_TAGS_MAX
MAX_HEADER_DATA = 256 * 1024 * 1024  # rpm's HEADER_DATA_MAX
# The largest blob a well-formed header can be: preamble, index and data at their limits.
MAX_HEADER_BLOB = 8 + MAX_HEADER_TAGS * 16 + MAX_HEADER_DATA

TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH = 1000, 1001, 1002, 1003
TAG_LICENSE, TAG_ARCH, TAG_SOURCERPM = 1014, 1022, 1044
TAG_DIRINDEXES, TAG_BASENAMES, TAG_DIRNAMES = 1116, 1117, 1118
TYPE_INT32, TYPE_STRING, TYPE_STRING_ARRAY, TYPE_I18NSTRING = 4, 6, 8, 9

Tags = dict[int, str | list[str] | list[int]]


def parse_header(blob: bytes) -> Tags:
    """The tags of one database header blob; raises ValueError when it is damaged."""
    if len(blob) < 8:
        raise ValueError("rpm header shorter than its 8-byte preamble")
    il, dl = struct.unpack_from(">II", blob, 0)
    if il > MAX_HEADER_TAGS or dl > MAX_HEADER_DATA:
        raise ValueError(f"rpm header claims {il} tags and {dl} data bytes")
    data_start = 8 + il * 16
    if data_start + dl > len(blob):
        raise ValueError("rpm header is truncated")
    data = blob[data_start : data_start + dl]
    tags: Tags = {}
    for i in range(il):
        tag, type_, offset, count = struct.unpack_from(">iIiI", blob, 8 + i * 16)
        if offset < 0 or offset > dl:
            raise ValueError(f"rpm header tag {tag} points outside the data")
        if type_ in (TYPE_STRING, TYPE_I18NSTRING):
            tags[tag] = _strings(data, offset, 1)[0]
        elif type_ == TYPE_STRING_ARRAY:
            tags[tag] = _strings(data, offset, count)
        elif type_ == TYPE_INT32:
            if offset + 4 * count > dl:
                raise ValueError(f"rpm header tag {tag} runs past the data")
            tags[tag] = list(struct.unpack_from(f">{count}i", data, offset))
    return tags


def _strings(data: bytes, offset: int, count: int) -> list[str]:
    out: list[str] = []
    for _ in range(count):
        end = data.find(b"\0", offset)
        if end < 0:
            raise ValueError("rpm header string is not NUL-terminated")
        out.append(data[offset:end].decode("utf-8", errors="replace"))
        offset = end + 1
    return out
