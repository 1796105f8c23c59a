"""rpm's sqlite database, ``rpmdb.sqlite`` (rpm >= 4.16: Fedora 33+, RHEL 9): the
``Packages`` table's ``blob`` column holds one header per row, ``hnum`` its instance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from hardbox.scan.catalog.rpmdb.interface import MAX_DB, Damage, Entry, HeaderBlob
from hardbox.scan.walk import ImageFile


def read(file: ImageFile) -> Iterator[Entry]:
    if file.size > MAX_DB:
        raise ValueError(f"{file.size} bytes, more than the {MAX_DB} limit")
    import sqlite3  # here: only images with an rpm sqlite database need it

    # immutable=1: read-only, no locking, no journal written next to an image file.
    uri = Path(file.host_path).as_uri() + "?mode=ro&immutable=1"
    conn = sqlite3.connect(uri, uri=True)
    try:
        rows = conn.execute("SELECT hnum, blob FROM Packages").fetchall()
    except sqlite3.DatabaseError as err:
        raise ValueError(f"not a readable rpm sqlite database: {err}") from None
    finally:
        conn.close()
    for hnum, blob in rows:
        # sqlite columns are typed per value: a hostile row may hold text or an integer
        # where rpm writes a blob (and ``bytes(10**9)`` would allocate a gigabyte).
        if not isinstance(hnum, int) or not isinstance(blob, bytes):
            yield Damage(f"row {hnum!r}: not an integer hnum and a blob")
            continue
        yield HeaderBlob(hnum, blob)
