"""The rpm database reader seam: every format (sqlite, Berkeley DB hash, ndb) is one module
whose ``read(file)`` yields the header blobs it holds, each a ``HeaderBlob``, and a
``Damage`` for each record it had to skip, so that one broken page or slot costs one
package, not the database. A file that is not a database of its format at all raises
``ValueError``; one in a variant hardbox does not read (an encrypted Berkeley DB) raises
``UnsupportedDatabase``. Readers bound every offset, length and loop by the file's size:
the database comes from an image and is hostile input.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from hardbox.scan.walk import ImageFile

# The largest rpm database read: rpmdb.sqlite of a full Fedora workstation is ~100 MB.
MAX_DB = 1024 * 1024 * 1024


class UnsupportedDatabase(ValueError):
    """A database in a variant of its format that hardbox does not read."""


@dataclass(frozen=True)
class HeaderBlob:
    key: int  # the package's instance number in the database (rpm's hdrNum)
    blob: bytes


@dataclass(frozen=True)
class Damage:
    reason: str  # where in the file and what is wrong, for the cataloger's status


Entry = HeaderBlob | Damage
Reader = Callable[[ImageFile], Iterator[Entry]]


def pread_exact(fh: BinaryIO, offset: int, length: int) -> bytes:
    """``length`` bytes at ``offset``, or ValueError when the file ends first."""
    data = os.pread(fh.fileno(), length, offset)
    if len(data) != length:
        raise ValueError(f"file ends at {offset + len(data)}, inside a record at {offset}")
    return data


def file_size(fh: BinaryIO) -> int:
    size = os.fstat(fh.fileno()).st_size
    if size > MAX_DB:
        raise ValueError(f"{size} bytes, more than the {MAX_DB} limit")
    return size
